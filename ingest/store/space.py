"""Room on the disk: a load refuses early when the data directory clearly cannot hold what it
is about to write, every writer stops while a reserve is still free, and the store is not opened
without room to open it.

The reserve matters for Qdrant Edge: it writes through memory-mapped, sparsely allocated
files, and a write into such a file on a full disk is not an error the process can catch
(the kernel sends SIGBUS). So the store refuses to write while less than RESERVE_BYTES are
free, with an ordinary "no space left" error that the user gets as one line, and a command
refuses to open it while less than OPEN_RESERVE_BYTES are free (what opening and closing may
write), so that a disk filled by something else gives one line, not a "Bus error".

On a tmpfs (and ramfs) memory is the disk, and reading a hole of a sparse file through a memory
map allocates it. Edge reads its vectors and payload indexes whole when it opens a collection,
so there a collection takes the full (apparent) size of those files once opened, not what a
load wrote: 6,000 points took 28 MB after their load and 92 MB once opened again.
`growth_on_open` is that difference, and both the refusal to open and the load's estimate count
it (docs/benchmarks.md, "The store on disk").
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ingest.errors import UserError

RESERVE_BYTES = 16 * 2**20
OPEN_RESERVE_BYTES = RESERVE_BYTES // 2  # below a writer's reserve: a load stopped by it leaves the store searchable
# The store's real footprint, measured by bench/store_footprint.py (docs/benchmarks.md, "The
# store on disk"). A 256-d point with its payload and catalog entry took at most 4.5 kB on ext4
# and 5.2 kB on a tmpfs while 100,000 were written (write-ahead log, graphs built beside the
# writes), 2.3 to 3.6 kB once the store was closed: a load asks for 6 kB a point.
POINT_BYTES = 6 * 1024
# Building the search index at the end of a load took no more room than the writes had (447 MB
# before, 230 MB after, at 100,000 points); it asks for a second copy of the vectors.
INDEX_POINT_BYTES = 1024
NEW_COLLECTION_BYTES = 16 * 2**20  # an empty collection: 0.1 MB on ext4, 9.1 MB on a tmpfs
# On a tmpfs, a collection once opened: 93 MB at 1,000 points, 112 MB at 10,000, 321 MB at
# 100,000; that is 80, 69 and 48 MB more than its load wrote. A new collection asks for this much.
OPENED_GROWTH_BYTES = 96 * 2**20
MEDIA_MAX_BYTES = 160 * 1024  # the largest media copy of a photo over 512 px (a 512 px JPEG)
MODEL_BYTES = 64 * 2**20  # a model's folder and its training state, generously
# File systems whose memory maps allocate on a read of a hole: their files live in memory.
MAPS_ALLOCATE = {"tmpfs", "ramfs", "shmem"}
# What Edge does not read whole when it opens a collection: its payloads (kept on disk) and its
# write-ahead log. Everything else under a segment is mapped and read in.
NOT_READ_ON_OPEN = ("payload_storage",)


class NoRoom(UserError):
    """Too little free space to open the embedded store safely."""


def existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing_parent(path)).free


def block_bytes(path: Path) -> int:
    """The unit the file system allocates in: a file of 900 bytes takes 4 kB on most."""
    return os.statvfs(existing_parent(path)).f_frsize or 4096


def file_system_type(path: Path) -> str | None:
    """The type of the file system holding `path` (Linux: /proc/self/mountinfo), else None."""
    target, best, kind = str(existing_parent(path).resolve()), "", None
    try:
        with open("/proc/self/mountinfo") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                fs = fields[fields.index("-") + 1]
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fs
    except (OSError, ValueError, IndexError):
        return None
    return kind


def maps_allocate(path: Path) -> bool:
    return file_system_type(path) in MAPS_ALLOCATE


def allocated_bytes(folder: Path) -> int:
    """What the files under `folder` really take: Edge's sparse files are far larger apparently."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def growth_on_open(collection: Path) -> int:
    """What opening this collection's folder allocates: on a file system whose maps allocate, the
    holes of the files Edge reads whole; elsewhere nothing."""
    if not collection.is_dir() or not maps_allocate(collection):
        return 0
    grows = 0
    for path in (collection / "segments").rglob("*"):
        if path.is_file() and not any(part in NOT_READ_ON_OPEN for part in path.parts):
            info = path.stat()
            grows += max(0, info.st_size - info.st_blocks * 512)
    return grows


def check_room_to_open(root: Path, grows: int = 0) -> None:
    """Refuse to open the store (or one of its collections, which allocates `grows` bytes) unless
    OPEN_RESERVE_BYTES stay free afterwards: one line instead of a SIGBUS."""
    free = free_bytes(root)
    if free - grows >= OPEN_RESERVE_BYTES:
        return
    why = (
        f", of which {grows / 2**20:,.0f} MB because it is on a {file_system_type(root)}, where Qdrant Edge's "
        "files take their full size in memory once opened"
        if grows
        else ""
    )
    raise NoRoom(
        f"the disk holding {existing_parent(root)} has {free / 2**20:,.1f} MB free, and the embedded store needs "
        f"{(grows + OPEN_RESERVE_BYTES) / 2**20:,.0f} MB free to open safely{why}: free some space, or move the "
        "data directory (CBIR_HOME) to a disk with room; nothing stored was changed"
    )


def ensure_room(path: Path, needed: int) -> None:
    """Raise ENOSPC unless `needed` bytes fit beside the reserve on the disk holding `path`."""
    if free_bytes(path) - needed < RESERVE_BYTES:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def index_build_bytes(points: int) -> int:
    """Room building a collection's search index needs while it runs: optimizing writes the new
    segments before it drops the old ones."""
    return INDEX_POINT_BYTES * points


def check_writable(home: Path) -> None:
    """Raise the OSError a write into the data directory would meet, without writing anything:
    a failed load leaves no trace."""
    parent = existing_parent(home)
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(parent))
    if not parent.is_dir():
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(parent))


def check_room_for_load(home: Path, file_sizes: list[int], trains: bool, new_collection: bool) -> None:
    """Refuse, before anything is written, a load that clearly cannot fit: its media copies
    (small files as they are, big ones as a 512 px JPEG at most, each rounded up to the file
    system's block), its points, a model when it trains one, and the reserve; on a tmpfs also
    what the store will take once opened again (`growth_on_open`)."""
    block = block_bytes(home)
    media = sum(-(-min(size, MEDIA_MAX_BYTES) // block) * block for size in file_sizes)
    needed = media + POINT_BYTES * len(file_sizes) + (MODEL_BYTES if trains else 0) + RESERVE_BYTES
    opened = ""
    if maps_allocate(home):
        collections = home / "qdrant-edge" / "collections"
        grows = sum(growth_on_open(c) for c in collections.iterdir()) if collections.is_dir() else 0
        grows += OPENED_GROWTH_BYTES if new_collection else 0
        needed += grows
        opened = (
            f"; {grows / 2**20:,.0f} MB of it because the data directory is on a {file_system_type(home)}, where "
            "the store takes the full size of its files in memory once opened"
        )
    free = free_bytes(home)
    if free < needed:
        raise UserError(
            f"the disk holding {existing_parent(home)} has {free / 2**20:,.0f} MB free and this load needs about "
            f"{needed / 2**20:,.0f} MB ({len(file_sizes):,} files{opened}): free some space, or set CBIR_HOME to a "
            "data directory on a disk with room"
        )
