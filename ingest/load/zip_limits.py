"""What a zip may cost before anything in it is read: its number of entries, what each entry
and the whole archive inflate to, and how they are compressed (docs/security.md).

The sizes an entry's header gives bound what reading it costs: zipfile stops inflating at the
size an entry claims and reads no more compressed bytes than it claims either, so a check of
the claims is a check of the work. The number of entries is read from the end of the file,
before zipfile builds an object per entry of a central directory that may hold millions.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from ingest.errors import UserError

# Four times a 50,000-photo library, with room for its videos and edit files. zipfile keeps
# about 600 bytes per entry (120 MB for 200,000) and parses them again on every pass.
MAX_ENTRIES = 200_000
# The central directory zipfile reads whole: its names, comments and extra fields. 200,000
# entries of a phone's paths take 20 to 30 MB.
MAX_DIRECTORY_BYTES = 128 << 20
# Photos barely deflate (JPEG, PNG, WebP and HEIC are compressed already); an uncompressed BMP
# or TIFF of a photo deflates 2 to 5 times. A hundred leaves room for drawings and scans; a
# zip bomb inflates a thousand times and more.
MAX_RATIO = 100
# Entries that inflate to no more than this are read whatever their ratio: a small picture of
# flat colour deflates well, and inflating a megabyte costs a millisecond.
RATIO_FREE_BYTES = 1 << 20
# The whole zip may inflate to MAX_RATIO times its own size, or to this, whichever is more.
TOTAL_FREE_BYTES = 1 << 30
# Only these are read: every archiver writes them (Finder, Windows, Google Takeout, zip -r), and
# deflate cannot inflate more than 1,032 times. bzip2 and LZMA inflate to gigabytes from bytes,
# ten times slower, and leave more decoder code open to untrusted input.
READ_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "XZ", 98: "PPMd"}

_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_DIRECTORY_ENTRY = b"PK\x01\x02"


def check_archive(path: Path) -> None:
    """Refuses, before zipfile reads its directory, a zip of more than MAX_ENTRIES entries,
    counted in the directory itself (the count the end record gives may lie). A zip whose end
    cannot be read is left to zipfile, which says it is damaged."""
    with open(path, "rb") as f:
        where = _directory(f)
        if where is None:
            return
        claimed, offset, size = where
        if claimed > MAX_ENTRIES:
            raise _too_many(path, claimed)
        if size > MAX_DIRECTORY_BYTES:
            raise UserError(
                f"{path} has a directory of {_amount(size)}, more than the {_amount(MAX_DIRECTORY_BYTES)} a zip "
                "may have: load a folder instead, or split the photos into several zips"
            )
        f.seek(offset)
        directory = f.read(size)
    count, at = 0, 0
    while directory.startswith(_DIRECTORY_ENTRY, at) and at + 46 <= len(directory):
        count += 1
        if count > MAX_ENTRIES:
            raise _too_many(path, count, "more than ")
        name, extra, comment = struct.unpack_from("<HHH", directory, at + 28)
        at += 46 + name + extra + comment


def _too_many(path: Path, count: int, more: str = "") -> UserError:
    return UserError(
        f"{path} holds {more}{count:,} entries, more than the {MAX_ENTRIES:,} a zip may have: "
        "load a folder instead, or split the photos into several zips"
    )


def _directory(f) -> tuple[int, int, int] | None:
    """(entries claimed, offset, size) of the central directory, from the end record (zip64's
    when there is one)."""
    f.seek(0, 2)
    length = f.tell()
    tail_start = max(0, length - (0xFFFF + _END_SIZE + 20))
    f.seek(tail_start)
    tail = f.read()
    at = tail.rfind(_END)
    if at < 0 or at + _END_SIZE > len(tail):
        return None
    _, _, _, claimed, size, offset, _ = struct.unpack_from("<HHHHIIH", tail, at + 4)
    end = tail_start + at
    locator = at - 20
    if locator >= 0 and tail.startswith(_ZIP64_LOCATOR, locator):
        (record,) = struct.unpack_from("<Q", tail, locator + 8)
        f.seek(record)
        zip64 = f.read(56)
        if zip64.startswith(_ZIP64_END) and len(zip64) == 56:
            claimed, _, size, offset = struct.unpack_from("<QQQQ", zip64, 24)
            end = record
    # As zipfile does: the directory ends where the end record starts (data may precede the zip).
    return claimed, max(0, end - size), size


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is not read, from its header alone; None when it may be."""
    if info.compress_type not in READ_METHODS:
        method = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        return f"compressed with {method}, which is not read (only stored and deflated entries are)"
    if info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * max(1, info.compress_size):
        ratio = info.file_size / max(1, info.compress_size)
        return (
            f"inflates {ratio:,.0f} times ({_amount(info.file_size)} from {_amount(info.compress_size)}; "
            f"at most {MAX_RATIO} times): a zip bomb?"
        )
    return None


def check_total(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuses a zip whose readable entries together inflate past its budget."""
    total = sum(i.file_size for i in members if entry_problem(i) is None)
    size = path.stat().st_size
    allowed = max(TOTAL_FREE_BYTES, MAX_RATIO * size)
    if total > allowed:
        raise UserError(
            f"{path} inflates to {_amount(total)}, {total / max(1, size):,.0f} times its size (at most "
            f"{MAX_RATIO} times, or {_amount(TOTAL_FREE_BYTES)}): a zip bomb? Nothing was read; re-create "
            "the zip from the photos themselves"
        )


def _amount(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size} bytes"
