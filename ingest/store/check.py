"""`ingest check`: is a data directory whole? Every finding is one `Problem`: the file, what is
wrong, and the command that recovers.

What is checked: room to open the store; the manifest and its aliases, and that it lists exactly
the collections on disk; that each collection reads through (in a child process: `probe.py`)
and holds the points its catalog says it holds; every checkpoint against its id; that every
point's `sha256` is one and its media copy is there; the media copies themselves against their
names (a sample, or all with --full; `media_check.py`); media copies no point uses.

The store's lock is held throughout (a load or the page waits), so nothing changes while it
looks. With QDRANT_URL the collections are the server's: they are read through the client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from encoder.folder import CHECKPOINT_NAME
from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store import damage, space
from ingest.store.catalog import Catalog
from ingest.store.media import MediaStore, is_sha256
from ingest.store.media_check import MediaFinding, media_files, verify_copies
from ingest.store.media_users import known_servers
from ingest.store.migrate import legacy_store
from ingest.store.probe import FIELDS, probe

LISTED_PER_KIND = 20  # in the text report; --json lists all


@dataclass
class Problem:
    kind: str  # disk, manifest, collection, catalog, checkpoint, payload, media-missing, media-damaged
    path: str
    what: str
    fix: str

    def line(self) -> str:
        return f"{self.path}: {self.what}: {self.fix}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unused_media: list[str] = field(default_factory=list)  # copies no point uses: room to free, not damage
    partial: bool = False  # a collection or another store was not read: which copies are unused is not known
    collections: dict[str, int] = field(default_factory=dict)  # name -> points read
    models: int = 0
    media_files: int = 0
    media_verified: int = 0

    @property
    def whole(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: Path | str, what: str, fix: str) -> None:
        self.problems.append(Problem(kind, str(path), what, fix))

    def to_json(self) -> dict:
        return {
            "whole": self.whole,
            "collections": self.collections,
            "models": self.models,
            "media_files": self.media_files,
            "media_verified": self.media_verified,
            "problems": [asdict(p) for p in self.problems],
            "unused_media": self.unused_media,
        }


def check(settings: Settings, full: bool = False, sample: int = 200) -> Report:
    report = Report()
    points: dict[str, dict] = {}  # every collection's points: id -> FIELDS (their media copies)
    if settings.embedded:
        if (settings.store_dir / "manifest.json").exists() or (settings.store_dir / "collections").is_dir():
            from ingest.store.lock import DirectoryLock

            lock = DirectoryLock(settings.store_dir / "lock")
            lock.acquire(settings.wait_s)
            try:
                points = check_embedded(settings.store_dir, report)
            finally:
                lock.release()
    else:
        points = check_server(settings, report)
    if known_servers(settings.home) or (settings.embedded and legacy_store(settings)):
        report.partial = True  # another store may use a copy this one does not (`media_users`)
    check_models(settings.models_dir, report)
    check_points_media(MediaStore(settings.media_dir), points, report)
    verify_media(MediaStore(settings.media_dir), points, full, sample, report)
    return report


def check_embedded(root: Path, report: Report) -> dict[str, dict]:
    """The manifest, each collection against its catalog; every point's media fields."""
    from ingest.store.manifest import read

    folders = (
        {p.name for p in (root / "collections").iterdir() if p.is_dir()} if (root / "collections").is_dir() else set()
    )
    manifest = None
    try:
        manifest = read(root / "manifest.json")
    except FileNotFoundError:
        if folders:  # an empty store has none until its first collection
            report.add("manifest", root / "manifest.json", "missing", damage.MANIFEST_FIX)
    except damage.Damaged as exc:
        report.add("manifest", exc.path, exc.what, exc.fix)
    listed = set(manifest["collections"]) if manifest else folders
    for name in sorted(folders - listed):
        report.add(
            "manifest", root / "manifest.json", f"does not list the collection in collections/{name}", damage.REPAIR
        )
    for name in sorted(listed - folders):
        report.add("collection", root / "collections" / name, "listed in the manifest but not on disk", damage.REPAIR)
    catalog, points = Catalog(root / "catalog"), {}
    for name in sorted(listed & folders):
        points.update(check_collection(root, name, catalog, report))
    return points


def check_collection(root: Path, name: str, catalog: Catalog, report: Report) -> dict[str, dict]:
    folder = root / "collections" / name
    grows = space.growth_on_open(folder)
    try:
        space.check_room_to_open(root, grows)
    except space.NoRoom as exc:
        report.add("disk", folder, "no room to open it", str(exc))
        report.partial = True
        return {}
    found = probe(folder)
    if found.error:
        fix = "run `ingest repair` to rebuild it from its media copies and model"
        report.add("collection", folder, found.error, fix)
        if not catalog.has_log(name):
            report.partial = True
            return {}
        return {pid: {k: p.get(k) for k in FIELDS} for pid, p in catalog.replay(name).payloads.items()}  # its copies
    report.collections[name] = found.count
    if not catalog.has_log(name):
        what = "has no catalog (made by an earlier version), so it could not be rebuilt if it were damaged"
        report.add("catalog", catalog.log(name), what, "run `ingest repair` to write one from the collection")
    else:
        replayed = catalog.replay(name)
        if replayed.damaged_bytes:
            what = f"{replayed.damaged_bytes:,} bytes of it are damaged"
            report.add("catalog", catalog.log(name), what, "run `ingest repair` to write it again from the collection")
        elif set(replayed.payloads) != set(found.points):
            more, fewer = (
                len(set(found.points) - set(replayed.payloads)),
                len(set(replayed.payloads) - set(found.points)),
            )
            what = (
                f"holds {found.count:,} points where its catalog says {len(replayed.payloads):,} "
                f"({more:,} not in the catalog, {fewer:,} missing)"
            )
            fix = "run the last `ingest load` again to finish it, or `ingest repair` to rebuild the missing points"
            report.add("collection", folder, what, fix)
    return found.points


def check_server(settings: Settings, report: Report) -> dict[str, dict]:
    from ingest.store import open_store

    points: dict[str, dict] = {}
    with open_store(settings) as store:
        for physical in sorted(set(store.aliases().values())):
            found = {r.id: {k: r.payload.get(k) for k in FIELDS} for r in store.points(physical, payload=FIELDS)}
            report.collections[physical] = len(found)
            points.update(found)
    return points


def check_models(models: Path, report: Report) -> None:
    from encoder import checkpoint as ckpt

    for folder in sorted(models.iterdir()) if models.is_dir() else []:
        path = folder / CHECKPOINT_NAME
        if folder.name == "training" or not path.exists():
            continue
        report.models += 1
        try:
            loaded = ckpt.load(path)
        except (ckpt.CheckpointError, KeyError, TypeError, AttributeError) as exc:
            what = damage.checkpoint_problem(path, exc)
            report.add(
                "checkpoint", path, what, f"{damage.RESTORE}, or train a new model with `ingest load PATH --retrain`"
            )
            continue
        if loaded.model_id != folder.name:
            report.add("checkpoint", path, f"holds model {loaded.model_id}, not {folder.name}", damage.RESTORE)


def check_points_media(media: MediaStore, points: dict[str, dict], report: Report) -> None:
    for pid, fields in points.items():
        sha, place = fields.get("sha256"), f"{fields.get('source')}:{fields.get('path')}"
        if not is_sha256(sha):
            what = f"point {pid} ({place}) has sha256 {str(sha)[:80]!r}, which is not a SHA-256: it names no media copy"
            report.add(
                "payload",
                media.root,
                what,
                "this product never writes such a point: take it out with `ingest remove --path PATH`",
            )
        elif not media.path_for(sha).exists():
            what = f"missing: the picture of {place}"
            report.add("media-missing", media.path_for(sha), what, f"load {fields.get('source')} again to copy it back")


def verify_media(media: MediaStore, points: dict[str, dict], full: bool, sample: int, report: Report) -> None:
    used = {f["sha256"]: f for f in points.values() if is_sha256(f.get("sha256"))}
    files = media_files(media.root)
    report.media_files = len(files)
    findings: list[MediaFinding] = verify_copies(files, used, None if full else sample)
    report.media_verified = min(len(files), len(files) if full else sample)
    for finding in findings:
        if finding.kind == "media-unused":
            if not report.partial:
                report.unused_media.append(str(finding.path))
        else:
            report.add(finding.kind, finding.path, finding.what, finding.fix)


def format_report(report: Report, full: bool) -> str:
    names = ", ".join(f"{name} ({count:,} points)" for name, count in report.collections.items()) or "none"
    how = "all" if full else f"a sample of {report.media_verified:,}"
    lines = [
        f"collections: {names}",
        f"models: {report.models}; media copies: {report.media_files:,}, verified {how}"
        + ("" if full else " (--full: all)"),
    ]
    if report.unused_media:
        lines.append(
            f"{len(report.unused_media):,} media copies no point uses (room to free, not damage; --json lists them)"
        )
    if report.whole:
        return "\n".join([*lines, "the data directory is whole"])
    by_kind: dict[str, list[Problem]] = {}
    for problem in report.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    lines.append(f"{len(report.problems):,} problem{'' if len(report.problems) == 1 else 's'}:")
    for kind, found in by_kind.items():
        lines += [f"  {p.line()}" for p in found[:LISTED_PER_KIND]]
        if len(found) > LISTED_PER_KIND:
            lines.append(
                f"  ... and {len(found) - LISTED_PER_KIND:,} more of this kind ({kind}; --json lists every one)"
            )
    return "\n".join(lines)


def refuse_without_store(settings: Settings) -> None:
    if settings.embedded and not settings.home.exists():
        raise UserError(f"there is no data directory at {settings.home}: set CBIR_HOME to the one to check")
