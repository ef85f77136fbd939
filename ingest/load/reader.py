"""Reading files out of a zip or a folder, one at a time, without extracting anything.

Yields `RawFile` for each candidate image and `Skipped` (with a reason) for each entry that
cannot be one: unsafe paths, links, encrypted or damaged entries, videos, oversized files, what
a zip may not cost (`zip_limits`), and in a folder anything that is not a plain file (a named
pipe would block the load forever).
Whether the bytes are an image is decided later, by `ingest.images`; a video is told by its
first bytes here, so that a phone library's videos are not read whole (nor hashed) for nothing.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ingest.errors import UserError
from ingest.images import MAX_BYTES, is_video
from ingest.load import zip_limits

VIDEO = "a video, not a photo"
HEAD_BYTES = 16  # enough for `is_video`
MAX_MB = MAX_BYTES // 2**20


@dataclass(frozen=True)
class RawFile:
    path: str  # inside the archive or folder, '/'-separated
    label: str | None  # the parent folder's name; None at the top level
    data: bytes


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    @property
    def kind(self) -> str:
        """The reason without the codec's own words: what skipped files are counted by."""
        return self.reason.split(" (")[0]


def path_parts(path: str) -> list[str]:
    """The names along a '/'-separated path, as PurePosixPath(path).parts has them without the
    root. Plain string work: these run for every entry of a 50,000-photo zip, on a thread that
    shares the GIL with the load's others, and pathlib's objects cost several times as much."""
    return [part for part in path.split("/") if part and part != "."]


def label_of(path: str) -> str | None:
    parts = path_parts(path)
    return parts[-2] if len(parts) > 1 else None


def is_os_clutter(path: str) -> bool:
    """Files an OS adds to archives without the user choosing them (macOS's Finder)."""
    parts = path_parts(path)
    name = parts[-1] if parts else ""
    return "__MACOSX" in parts or name.startswith("._") or name == ".DS_Store"


class Source:
    """A zip or a folder of images, checked when opened so that a wrong path fails at once.

    `name` is its full path, symbolic links resolved: what the points' `source` says, so that
    two folders both called DCIM are two sources, and `ingest load .` names the folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise UserError(f"{path} does not exist: give the path of a .zip of images or of a folder")
        self.name = str(path.resolve())
        if path.is_dir():
            self.kind = "folder"
        elif zipfile.is_zipfile(path):
            self.kind = "zip"
            zip_limits.check_archive(path)  # before zipfile reads the whole directory
            try:
                with zipfile.ZipFile(path) as zf:
                    members = [i for i in zf.infolist() if not i.is_dir()]
            except (zipfile.BadZipFile, OSError) as exc:
                raise UserError(f"{path} is a damaged zip ({exc}): re-create the archive") from None
            if not members:
                raise UserError(f"{path} is an empty zip: add image files to it")
            zip_limits.check_total(path, members)
        else:
            raise UserError(f"{path} is not a zip archive: give a .zip of images or a folder")

    def count(self) -> int:
        """How many entries iteration will yield, for progress bars."""
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                return sum(1 for i in zf.infolist() if not i.is_dir() and not is_os_clutter(i.filename))
        return sum(
            1
            for root, _, files in os.walk(self.path, followlinks=False)
            for f in files
            if not is_os_clutter((Path(root) / f).relative_to(self.path).as_posix())
        )

    def file_sizes(self) -> list[int]:
        """The size of every entry, from the zip's directory or the folder's metadata (nothing is read)."""
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                return [i.file_size for i in zf.infolist() if not i.is_dir() and not is_os_clutter(i.filename)]
        sizes = []
        for root, _, files in os.walk(self.path, followlinks=False):
            for name in files:
                full = Path(root) / name
                if not is_os_clutter(full.relative_to(self.path).as_posix()) and not full.is_symlink():
                    try:
                        sizes.append(full.stat().st_size)
                    except OSError:
                        continue  # reported as skipped when the load reaches it
        return sizes

    def __iter__(self) -> Iterator[RawFile | Skipped]:
        return self.entries()

    def entries(self, every: int = 1) -> Iterator[RawFile | Skipped]:
        """Every entry, or every `every`-th one (a sample spread over the whole source, read
        without reading the rest)."""
        return self._zip_entries(every) if self.kind == "zip" else self._folder_entries(every)

    def _zip_entries(self, every: int) -> Iterator[RawFile | Skipped]:
        with zipfile.ZipFile(self.path) as zf:
            members = [i for i in zf.infolist() if not i.is_dir() and not is_os_clutter(i.filename)]
            for info in members[::every]:
                name = info.filename
                problem = _zip_entry_problem(info)
                if problem:
                    yield Skipped(name, problem)
                    continue
                try:
                    with zf.open(info) as f:
                        entry = _read_entry(name, f, info.file_size)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
                    entry = Skipped(name, f"damaged zip entry ({exc})")
                yield entry

    def _folder_entries(self, every: int) -> Iterator[RawFile | Skipped]:
        seen = 0
        for root, dirs, files in os.walk(self.path, followlinks=False):
            dirs.sort()
            for filename in sorted(files):
                full = Path(root) / filename
                rel = full.relative_to(self.path).as_posix()
                if is_os_clutter(rel):
                    continue
                seen += 1
                if (seen - 1) % every:
                    continue
                try:
                    yield _read_plain_file(full, rel)
                except FileNotFoundError:
                    yield Skipped(rel, "gone before it was read")


def _read_plain_file(full: Path, rel: str) -> RawFile | Skipped:
    """A folder's file; FileNotFoundError when it is gone, as `read_file` needs to know."""
    try:
        opened = _open_plain_file(full)
        if isinstance(opened, str):
            return Skipped(rel, opened)
        with opened as f:
            return _read_entry(rel, f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise
    except OSError as exc:
        return Skipped(rel, f"unreadable ({exc.strerror or exc})")


# Opened without waiting (a named pipe's open blocks until someone writes to it) and without
# following a link; what was opened is then checked, so a file swapped in meanwhile is seen too.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_NOT_PLAIN = {
    stat.S_IFIFO: "a named pipe (FIFO), not a file",
    stat.S_IFSOCK: "a socket, not a file",
    stat.S_IFCHR: "a device, not a file",
    stat.S_IFBLK: "a device, not a file",
}


def _open_plain_file(full: Path) -> BinaryIO | str:
    """The file open for reading, or why it is not read: a link, a pipe, a socket, a device."""
    mode = os.lstat(full).st_mode
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if not stat.S_ISREG(mode):  # a socket cannot even be opened
        return _NOT_PLAIN.get(stat.S_IFMT(mode), "not a plain file")
    fd = os.open(full, _OPEN_FLAGS)
    mode = os.fstat(fd).st_mode  # what was opened: the name may have been given to another since
    if not stat.S_ISREG(mode):
        os.close(fd)
        return _NOT_PLAIN.get(stat.S_IFMT(mode), "not a plain file")
    return os.fdopen(fd, "rb")


def _read_entry(path: str, f: IO[bytes], declared_size: int) -> RawFile | Skipped:
    """An open file or zip entry: a video is told by its first bytes and an oversized file by its
    declared size, and neither is read further."""
    head = f.read(HEAD_BYTES)
    if is_video(head):
        return Skipped(path, VIDEO)
    if declared_size > MAX_BYTES:
        return Skipped(path, f"file too large ({declared_size / 2**20:.0f} MB > {MAX_MB} MB)")
    data = head + f.read(MAX_BYTES + 1 - len(head))  # never trust the declared size
    if len(data) > MAX_BYTES:
        return Skipped(path, f"file too large (> {MAX_MB} MB)")
    return RawFile(path, label_of(path), data)


def _zip_entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = path_parts(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return "unsafe path (absolute or with '..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    return zip_limits.entry_problem(info)


def read_file(folder: Path, path: str) -> RawFile | Skipped | None:
    """One file of a folder by its '/'-separated path (`ingest watch`), with the checks a folder's
    iteration makes; None when it is gone (deleted or moved since it was seen)."""
    try:
        return _read_plain_file(folder / path, path)
    except FileNotFoundError:
        return None
