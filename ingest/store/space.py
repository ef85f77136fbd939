"""Room on the disk: a load refuses early when the data directory clearly cannot hold what it
is about to write, and every writer stops while a reserve is still free.

The reserve matters for Qdrant Edge: it writes through memory-mapped, sparsely allocated
files, and a write into such a file on a full disk is not an error the process can catch
(the kernel sends SIGBUS). So the store refuses to write while less than RESERVE_BYTES are
free, with an ordinary "no space left" error that the user gets as one line.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ingest.errors import UserError

RESERVE_BYTES = 16 * 2**20
POINT_BYTES = 6 * 1024  # a 256-d point with its payload: vector, payload, write-ahead log, index
MEDIA_MAX_BYTES = 160 * 1024  # the largest media copy of a photo over 512 px (a 512 px JPEG)
MODEL_BYTES = 64 * 2**20  # a model's folder and its training state, generously


def existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing_parent(path)).free


def ensure_room(path: Path, needed: int) -> None:
    """Raise ENOSPC unless `needed` bytes fit beside the reserve on the disk holding `path`."""
    if free_bytes(path) - needed < RESERVE_BYTES:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


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


def check_room_for_load(home: Path, file_sizes: list[int], trains: bool) -> None:
    """Refuse, before anything is written, a load that clearly cannot fit: its media copies
    (small files as they are, big ones as a 512 px JPEG at most), its points, a model when it
    trains one, and the reserve."""
    needed = sum(min(size, MEDIA_MAX_BYTES) for size in file_sizes) + POINT_BYTES * len(file_sizes)
    needed += (MODEL_BYTES if trains else 0) + RESERVE_BYTES
    free = free_bytes(home)
    if free < needed:
        raise UserError(
            f"the disk holding {existing_parent(home)} has {free / 2**20:,.0f} MB free and this load needs about "
            f"{needed / 2**20:,.0f} MB ({len(file_sizes):,} files): free some space, or set CBIR_HOME to a data "
            "directory on a disk with room"
        )
