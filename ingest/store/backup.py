"""`ingest backup DEST` and `ingest restore SRC`: a consistent copy of a data directory, and
putting one back.

A backup is itself a data directory (`CBIR_HOME=DEST` opens it) with a `backup.json` that says
what it holds. The embedded store's folder (manifest, collections, catalog), the models and the
media copies are copied while the store's lock is held, so no load writes meanwhile (a load or
the page waits, as for a load, up to CBIR_WAIT): the copy is the store as one moment left it.
Edge's sparse files stay sparse. The copy is made under `DEST.partial` and renamed when whole,
so a copy that was cut short never looks like a backup.

With QDRANT_URL the collections come from the server through Qdrant's snapshot API
(`server_backup.py`); models and media copies are copied as here.

A restore copies the backup beside the data directory (`<home>.restoring`), checks it
(`ingest check`), and only then puts it in place; a data directory already there is moved to
`<home>.before-restore-<time>` (with --replace), never deleted.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store import space
from ingest.store.catalog import Catalog
from ingest.store.lock import DirectoryLock
from ingest.store.manifest import read, write_json_atomically
from ingest.store.media_users import SERVERS

FORMAT = "cbir-backup/1"
MARKER = "backup.json"


@dataclass
class Copied:
    files: int = 0
    bytes: int = 0  # allocated at the destination
    collections: dict[str, int | None] = field(default_factory=dict)  # name -> points (None: unknown)
    aliases: dict[str, str] = field(default_factory=dict)


def skipped(path: Path) -> bool:
    """Not part of a backup: the lock, files being written (`.<name>.<pid>.tmp`), a training's state."""
    return path.name == "lock" or path.name.endswith(".tmp") or path.name == "training"


def copy_sparse(src: Path, dst: Path) -> int:
    """Copy a file's data and keep its holes as holes (Edge's files are mostly holes); the bytes
    allocated at the destination."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        at = 0
        while at < size:
            try:
                start = os.lseek(fin.fileno(), at, os.SEEK_DATA)
                end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after `at`: the rest is a hole
                    break
                start, end = at, size  # no SEEK_DATA here: copy it all
            fin.seek(start)
            fout.seek(start)
            left = end - start
            while left > 0:
                chunk = fin.read(min(left, 2**20))
                if not chunk:
                    break
                fout.write(chunk)
                left -= len(chunk)
            at = end
        fout.truncate(size)
        os.fchmod(fout.fileno(), os.stat(src).st_mode & 0o777)
    return os.stat(dst).st_blocks * 512


def copy_tree(src: Path, dst: Path, copied: Copied) -> None:
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not skipped(here / d)]
        (dst / here.relative_to(src)).mkdir(parents=True, exist_ok=True)
        for name in files:
            if not skipped(here / name):
                copied.bytes += copy_sparse(here / name, dst / here.relative_to(src) / name)
                copied.files += 1


def backup(settings: Settings, dest: Path, on_wait: Callable[[], None] | None = None) -> Copied:
    dest = dest.expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} is not empty: give a new folder for the backup")
    if dest == settings.home or settings.home in dest.parents:
        raise UserError(f"{dest} is inside the data directory {settings.home}: give a folder outside it")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by a backup that was cut short
    copied = Copied()
    try:
        if settings.embedded:
            copy_embedded(settings, partial, copied, on_wait)
        else:
            from ingest.store.server_backup import snapshot_collections

            snapshot_collections(settings, partial, copied)
            copy_files(settings, partial, copied)
        write_json_atomically(partial / MARKER, marker(settings, copied))
        if dest.exists():
            dest.rmdir()  # empty: checked above
        partial.replace(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return copied


def copy_embedded(settings: Settings, dest: Path, copied: Copied, on_wait: Callable[[], None] | None) -> None:
    root = settings.store_dir
    if not (root / "manifest.json").exists():
        raise UserError(
            f"there is no embedded store at {root}: nothing to back up (CBIR_HOME names the data directory)"
        )
    needed = space.allocated_bytes(settings.home)
    if space.free_bytes(dest.parent) < needed + space.RESERVE_BYTES:
        raise UserError(
            f"the disk holding {dest.parent} has {space.free_bytes(dest.parent) / 2**20:,.0f} MB free and the "
            f"backup needs about {needed / 2**20:,.0f} MB: give a folder on a disk with room"
        )
    lock = DirectoryLock(root / "lock")
    lock.acquire(settings.wait_s, on_wait)
    try:
        manifest = read(root / "manifest.json")  # a damaged store is not backed up as if it were whole
        catalog = Catalog(root / "catalog")
        for name in manifest["collections"]:
            copied.collections[name] = len(catalog.replay(name).payloads) if catalog.has_log(name) else None
        copied.aliases = dict(manifest["aliases"])
        copy_tree(root, dest / root.relative_to(settings.home), copied)
        copy_files(settings, dest, copied)
    finally:
        lock.release()


def copy_files(settings: Settings, dest: Path, copied: Copied) -> None:
    """The models and the media copies (files written whole and renamed into place: each is
    there entirely or not at all)."""
    for folder in (settings.models_dir, settings.media_dir):
        if folder.is_dir():
            copy_tree(folder, dest / folder.relative_to(settings.home), copied)
    servers = settings.home / SERVERS  # the servers whose points use these media copies
    if servers.is_file():
        copied.bytes += copy_sparse(servers, dest / SERVERS)
        copied.files += 1


def marker(settings: Settings, copied: Copied) -> dict:
    return {
        "format": FORMAT,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "from": str(settings.home),
        "store": "embedded" if settings.embedded else settings.qdrant_url,
        "collections": copied.collections,
        "aliases": copied.aliases,
        "files": copied.files,
    }


def read_marker(src: Path) -> dict:
    try:
        data = json.loads((src / MARKER).read_text())
    except FileNotFoundError:
        raise UserError(f"{src} is not a backup made by `ingest backup` (it has no {MARKER})") from None
    except ValueError as exc:
        raise UserError(f"{src / MARKER} is damaged (not valid JSON: {exc}): use another backup") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{src / MARKER} is not a {FORMAT} description: use a backup made by `ingest backup`")
    return data
