"""`ingest repair`: rebuild what can be rebuilt from what is on disk, and say what could not.

1. The manifest, when it is missing, unreadable, or does not list every collection on disk: made
   again from the collections' folders and their catalog descriptions (dimension, metadata, the
   alias that moved to each last); a collection made before catalogs existed is described from
   its name (`<alias>-<model id>`) and its shard's own configuration.
2. A collection that does not read through (`probe.py`), or whose folder is gone: its folder is
   set aside under `<home>/damaged/`, a new one is made under its name, and every point of its
   catalog is embedded again from its media copy with the collection's model. A collection that
   reads but lacks points its catalog has (a load that stopped between the two) gets those.
3. The catalog of a collection that reads, when it is missing or damaged: written from it.
4. A damaged media copy: set aside, so that loading its source again copies it back.

Nothing is deleted: what is damaged is moved under `<home>/damaged/<time>/`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from encoder.folder import CHECKPOINT_NAME
from ingest.errors import UserError
from ingest.progress import progress
from ingest.settings import Settings
from ingest.store import Point, open_store
from ingest.store.catalog import Catalog
from ingest.store.check import Report, check_models
from ingest.store.damage import Damaged, embedder_from
from ingest.store.edge import EdgeStore
from ingest.store.lock import DirectoryLock
from ingest.store.manifest import FORMAT, read, write_json_atomically
from ingest.store.media import MediaStore, NotASha256
from ingest.store.media_check import media_files, verify_copies
from ingest.store.probe import FIELDS, Probed, probe

if TYPE_CHECKING:
    from PIL import Image

    from encoder.embed import Embedder

_PHYSICAL = re.compile(r"(?P<alias>.+)-(?P<model>[0-9a-f]{16})")


@dataclass
class Repaired:
    manifest: str | None = None  # what was done to it
    rebuilt: dict[str, int] = field(default_factory=dict)  # collection -> points embedded again
    catalogs: dict[str, int] = field(default_factory=dict)  # collection -> points of its new catalog
    media_set_aside: int = 0
    lost: list[str] = field(default_factory=list)  # what could not be recovered, a line each
    aside: Path | None = None  # where what was damaged went

    def to_json(self) -> dict:
        return {
            "manifest": self.manifest,
            "rebuilt": self.rebuilt,
            "catalogs_written": self.catalogs,
            "media_set_aside": self.media_set_aside,
            "not_recovered": self.lost,
            "set_aside_in": str(self.aside) if self.aside and self.aside.exists() else None,
        }


def repair(settings: Settings, show_progress: bool = True) -> Repaired:
    if not settings.embedded:
        raise UserError(
            f"`ingest repair` repairs the embedded store; the server at {settings.qdrant_url} keeps its own "
            "copies: restore a backup with `ingest restore DIR` (Qdrant snapshots)"
        )
    root = settings.store_dir
    if not root.is_dir():
        raise UserError(
            f"there is no embedded store at {root}: nothing to repair (set CBIR_HOME to the data directory)"
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    result = Repaired(aside=settings.home / "damaged" / stamp)
    lock = DirectoryLock(root / "lock")
    lock.acquire(settings.wait_s)
    try:  # before the store opens: opening it reads the manifest
        fix_manifest(root, result)
    finally:
        lock.release()
    with open_store(settings) as store:
        assert isinstance(store, EdgeStore)
        for name in store.collections():
            fix_collection(store, settings, name, result, show_progress)
        fix_media(store, settings, result)
    models = Report()
    check_models(settings.models_dir, models)  # a model is not rebuilt: it comes back from a backup
    result.lost += [problem.line() for problem in models.problems]
    return result


def fix_manifest(root: Path, result: Repaired) -> None:
    path, catalog = root / "manifest.json", Catalog(root / "catalog")
    folders = (
        sorted(p.name for p in (root / "collections").iterdir() if p.is_dir())
        if (root / "collections").is_dir()
        else []
    )
    try:
        data = read(path)
    except FileNotFoundError:
        data = None
    except Damaged:
        assert result.aside is not None  # set before any fix
        result.aside.mkdir(parents=True, exist_ok=True)
        path.rename(result.aside / "manifest.json")
        data = None
    if data is None and not folders and not catalog.names():
        return
    known = set(data["collections"]) if data else set()
    wanted = [n for n in sorted(set(folders) | set(catalog.names())) if n not in known]
    if data is not None and not wanted:
        return
    data = data or {"format": FORMAT, "collections": {}, "aliases": {}}
    moved: dict[str, tuple[str, str]] = {}  # alias -> (when it moved, collection)
    for name in wanted:
        entry, alias, when = describe(root / "collections" / name, catalog.description(name))
        if entry is None:
            result.lost.append(f"{root / 'collections' / name}: neither it nor its catalog says its vectors' size")
            continue
        data["collections"][name] = entry
        if alias and alias not in data["aliases"] and when >= moved.get(alias, ("", ""))[0]:
            moved[alias] = (when, name)
    data["aliases"].update({alias: name for alias, (_, name) in moved.items()})
    write_json_atomically(path, data)
    aliases = ", ".join(f"{a} -> {n}" for a, n in sorted(data["aliases"].items())) or "none"
    result.manifest = f"rebuilt from the collections on disk ({len(data['collections'])} in all; aliases: {aliases})"


def describe(folder: Path, description: dict | None) -> tuple[dict | None, str | None, str]:
    """A manifest entry for a collection, the alias that names it, and since when."""
    if description is not None:
        entry = {k: description.get(k) for k in ("dim", "metadata", "segments")}
        return (
            entry,
            description.get("alias") or description["metadata"].get("alias"),
            description.get("aliased_at", ""),
        )
    try:
        config = json.loads((folder / "edge_config.json").read_text())
        dim, segments = config["vectors"][""]["size"], config.get("optimizers", {}).get("default_segment_number")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None, ""
    named = _PHYSICAL.fullmatch(folder.name)
    metadata = {"model_id": named["model"], "alias": named["alias"], "created_by": "cbir"} if named else {}
    return {"dim": dim, "metadata": metadata, "segments": segments}, metadata.get("alias"), ""


def fix_collection(store: EdgeStore, settings: Settings, name: str, result: Repaired, show_progress: bool) -> None:
    folder, catalog = store.root / "collections" / name, store.catalog
    found = probe(folder) if folder.is_dir() else Probed(error="its folder is gone")
    replayed = catalog.replay(name) if catalog.has_log(name) else None
    if found.error and replayed is None:
        result.lost.append(
            f"{folder}: {found.error}, and it has no catalog to rebuild it from: load its photos again "
            f"(`ingest load PATH --collection {store.metadata(name).get('alias', name)}`)"
        )
        return
    if not found.error and (replayed is None or replayed.damaged_bytes):
        payloads = {**(replayed.payloads if replayed else {}), **{r.id: r.payload for r in store.points(name)}}
        catalog.rewrite(name, payloads)
        result.catalogs[name] = len(payloads)
    missing = {pid: p for pid, p in replayed.payloads.items() if pid not in found.points} if replayed else {}
    if not missing:
        return
    model_id = store.metadata(name).get("model_id") or "?"
    try:  # before anything is moved: without its model a collection is left as it is
        embedder = embedder_from(settings.models_dir / model_id / CHECKPOINT_NAME)
    except (Damaged, FileNotFoundError) as exc:
        result.lost.append(f"{folder}: {found.error or 'points missing'}; not rebuilt, its model cannot be read: {exc}")
        return
    if found.error:
        assert result.aside is not None  # set before any fix
        store.recreate(name, result.aside / "collections" / name if folder.is_dir() else None)
    result.rebuilt[name] = embed_again(store, embedder, settings.media_dir, name, missing, result, show_progress)
    catalog.rewrite(name, {r.id: r.payload for r in store.points(name)})  # what it holds now, compacted


def embed_again(
    store: EdgeStore,
    embedder: Embedder,
    media_dir: Path,
    name: str,
    payloads: dict[str, dict],
    result: Repaired,
    show_progress: bool,
) -> int:
    """Embed each point's media copy with the collection's model and write it with its payload."""
    media, done, no_copy = MediaStore(media_dir), 0, []
    batch: list[tuple[str, Image.Image]] = []

    def write() -> int:
        vectors, _ = embedder.embed_images([image for _, image in batch])
        store.upsert(name, [Point(pid, vector, payloads[pid]) for (pid, _), vector in zip(batch, vectors)])
        batch.clear()
        return len(vectors)

    with progress(f"embedding {name} again from the media copies", len(payloads), show_progress) as bar:
        for pid, payload in payloads.items():
            bar.advance()
            try:
                batch.append((pid, media.open(payload.get("sha256"))))
            except (FileNotFoundError, NotASha256, ValueError):
                no_copy.append(payload)
                continue
            if len(batch) == embedder.batch_size:
                done += write()
        done += write() if batch else 0
    if no_copy:
        first = f"{no_copy[0].get('source')}:{no_copy[0].get('path')}"
        sources = ", ".join(sorted({str(p.get("source")) for p in no_copy}))
        result.lost.append(
            f"{name}: {len(no_copy):,} photos have no usable media copy (first: {first}) and were left out: "
            f"load {sources} again to add them"
        )
    return done


def fix_media(store: EdgeStore, settings: Settings, result: Repaired) -> None:
    """Set aside every damaged copy a point uses (all are read: a repair is thorough)."""
    used: dict[str, dict] = {}
    for name in store.collections():
        try:  # a point without a sha256 uses no file
            points = store.points(name, payload=FIELDS)
            used.update({sha: r.payload for r in points if isinstance(sha := r.payload.get("sha256"), str)})
        except Damaged:  # left as it was, and said so
            continue
    files = media_files(settings.media_dir)
    damaged = [f for f in verify_copies(files, used, None) if f.kind == "media-damaged"]
    for finding in damaged:
        assert result.aside is not None  # set before any fix
        target = result.aside / "media" / finding.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        finding.path.rename(target)
    if damaged:
        result.media_set_aside = len(damaged)
        sources = ", ".join(sorted({str(used.get(f.path.name, {}).get("source")) for f in damaged}))
        result.lost.append(
            f"{len(damaged):,} media copies were damaged and are set aside: load {sources} again to copy them back"
        )
