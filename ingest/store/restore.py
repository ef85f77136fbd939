"""`ingest restore SRC`: put a backup made by `ingest backup` back as the data directory.

Embedded: the backup is copied beside the data directory (`<home>.restoring`), checked as
`ingest check` checks (and against the counts the backup recorded), and only then renamed into
place; a data directory already there is first moved to `<home>.before-restore-<time>` (only with
--replace), under its store's lock, so that nothing is lost and no load is writing into it.

With QDRANT_URL: the backup's snapshots are uploaded to the server, its aliases set again, and the
models and media copies it holds are added to the data directory.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store import space
from ingest.store.backup import MARKER, Copied, copy_tree, read_marker
from ingest.store.lock import DirectoryLock


@dataclass
class Restored:
    collections: dict[str, int] = field(default_factory=dict)  # name -> points
    moved_aside: Path | None = None  # the data directory that was there before


def restore(settings: Settings, src: Path, replace: bool = False) -> Restored:
    src = src.expanduser().resolve()
    if not src.is_dir():
        raise UserError(f"{src} is not a folder: give the folder `ingest backup` wrote")
    marker = read_marker(src)
    if marker.get("store") != "embedded":
        return restore_to_server(settings, src, marker)
    home = settings.home
    if home == src or home in src.parents or src in home.parents:
        raise UserError(f"{src} and the data directory {home} overlap: restore into another CBIR_HOME")
    occupied = home.exists() and any(home.iterdir())
    if occupied and not replace:
        raise UserError(
            f"{home} already holds a data directory: add --replace to move it to {home.name}.before-restore-<time> "
            "first (nothing is deleted), or set CBIR_HOME to a new folder"
        )
    needed = space.allocated_bytes(src)
    if space.free_bytes(home.parent) < needed + space.RESERVE_BYTES:
        raise UserError(
            f"the disk holding {space.existing_parent(home.parent)} has {space.free_bytes(home.parent) / 2**20:,.0f} "
            f"MB free and the restore needs about {needed / 2**20:,.0f} MB: free some space"
        )
    staging = home.with_name(home.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)  # left by a restore that was cut short
    copy_tree(src, staging, Copied())
    (staging / MARKER).unlink(missing_ok=True)  # a data directory now, not a backup
    restored = Restored(verify(Settings(staging, wait_s=settings.wait_s), src, marker))
    if occupied:
        restored.moved_aside = move_aside(settings)
    elif home.exists():
        home.rmdir()
    staging.rename(home)
    return restored


def verify(staging: Settings, src: Path, marker: dict) -> dict[str, int]:
    """`ingest check` on the copy, and its collections' counts against what the backup recorded."""
    from ingest.store.check import check

    report = check(staging)
    recorded = {name: count for name, count in (marker.get("collections") or {}).items() if count is not None}
    wrong = [name for name, count in recorded.items() if report.collections.get(name) != count]
    if report.problems or wrong:
        first = report.problems[0].line() if report.problems else f"collection {wrong[0]} is not as it was backed up"
        raise UserError(
            f"the backup at {src} is not whole ({len(report.problems) + len(wrong)} problems; first: {first}): "
            f"nothing was changed; its copy is left at {staging.home} for a look"
        )
    return report.collections


def move_aside(settings: Settings) -> Path:
    """The current data directory, renamed while its store's lock is held (a load waits)."""
    home = settings.home
    aside = home.with_name(f"{home.name}.before-restore-{dt.datetime.now():%Y%m%d-%H%M%S}")
    lock = DirectoryLock(settings.store_dir / "lock") if settings.store_dir.is_dir() else None
    if lock is not None:
        lock.acquire(settings.wait_s)
    try:
        home.rename(aside)
    finally:
        if lock is not None:
            lock.release()
    return aside


def restore_to_server(settings: Settings, src: Path, marker: dict) -> Restored:
    from ingest.store.server_backup import restore_collections

    if settings.embedded:
        raise UserError(
            f"{src} holds the collections of the Qdrant server {marker.get('store')}: set QDRANT_URL to the server "
            "to restore them into"
        )
    restored = Restored(restore_collections(settings, src, marker.get("aliases") or {}))
    for folder in ("models", "media"):  # added to what the data directory has; nothing replaced
        for path in sorted((src / folder).rglob("*")) if (src / folder).is_dir() else []:
            target = settings.home / path.relative_to(src)
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return restored
