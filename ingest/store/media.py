"""A content-addressed copy of every indexed image, so results show after the zip is gone.

Files live at `<media>/<sha[:2]>/<sha>`, named by the SHA-256 of the original bytes (the
same hash the point id comes from). Images up to THUMBNAIL_SIDE keep their original bytes when
every browser shows their format; bigger ones, and HEIC and AVIF files, are stored as a faithful
JPEG of at most that side. Writes are atomic.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image

from ingest.images import DecodedImage, decode
from ingest.store.space import ensure_room

THUMBNAIL_SIDE = 512
# How a load decodes every photo, and a query its picture (`decode_picture`), so that a stored
# photo searched for embeds as it was stored: a big JPEG at 1/2, 1/4 or 1/8 of its size while its
# longer side stays at least 7/8 of THUMBNAIL_SIDE and its shorter side at least DECODE_SHORTER
# (above what any model embeds at by default: 112 px). A 12-megapixel phone photo (4032 x 3024)
# is then decoded at 1/8 and copied at that size (504 x 378): 13 ms of CPU instead of 29 for
# decoding at 1/4 and resizing to 512 (docs/decisions.md, "Big photos").
DECODE_LONGER = THUMBNAIL_SIDE * 7 // 8
DECODE_SHORTER = 256
# Kept as they are when small: the page hands the file to the browser. Chrome and Firefox show no HEIC.
BROWSER_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP"}
# A copy's name is a SHA-256 as 64 lowercase hex digits, and nothing else ever becomes a path:
# a payload is data written by whoever reaches the store (a shared server, a damaged file), and a
# `sha256` of `../../x` must not name a file outside the media folder.
_SHA256 = re.compile(r"[0-9a-f]{64}")


class NotASha256(ValueError):
    """A payload's `sha256` that is not 64 hex digits: refused before it becomes a path."""


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def checked(sha256: object) -> str:
    if not isinstance(sha256, str) or not is_sha256(sha256):
        raise NotASha256(f"{str(sha256)[:80]!r} is not a SHA-256 (64 hex digits), so it names no media copy")
    return sha256


def kept_as_is(width: int, height: int, fmt: str) -> bool:
    """Whether the media copy of a photo of this size and format is the file's own bytes (so its
    SHA-256 is its name), rather than a JPEG made from it (`media_copy`)."""
    return max(width, height) <= THUMBNAIL_SIDE and fmt in BROWSER_FORMATS


def decode_picture(data: bytes) -> DecodedImage:
    """A photo's bytes decoded as a load decodes them (ImageRejected when they are not a picture)."""
    return decode(data, DECODE_SHORTER, DECODE_LONGER)


def media_copy(data: bytes, image: Image.Image, size: tuple[int, int], fmt: str) -> bytes:
    """What the media store keeps of a photo: its own bytes up to THUMBNAIL_SIDE in a format
    every browser shows, else a JPEG of its decoded picture (`decode_picture`), shrunk to
    THUMBNAIL_SIDE when it is still larger."""
    if kept_as_is(*size, fmt):
        return data
    if max(image.size) > THUMBNAIL_SIDE:
        image = image.copy()
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made_dirs: set[str] = set()

    def path_for(self, sha256: object) -> Path:
        """Where the copy named by this hash lives; NotASha256 for anything but a SHA-256."""
        sha256 = checked(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def put(self, sha256: str, data: bytes, image: Image.Image, size: tuple[int, int], fmt: str) -> None:
        """data: the original file; image: it decoded to RGB, maybe at a reduced scale (used for
        the thumbnail); size: the original's width and height as shown; fmt: its format.

        Called for every photo a load reads, on a reading thread: plain `os` calls on string
        paths, as few as an atomic write needs (pathlib's objects cost another 40-80 us of
        Python a photo, about what the system calls themselves cost, with the GIL held)."""
        folder = os.path.join(self.root, checked(sha256)[:2])
        target = os.path.join(folder, sha256)
        if os.path.exists(target):
            return
        data = media_copy(data, image, size, fmt)
        ensure_room(self.root, len(data))
        if folder not in self._made_dirs:
            os.makedirs(folder, exist_ok=True)
            self._made_dirs.add(folder)
        # Written under a name of this process, then renamed: a reader never sees half a file.
        # 0o644 so that the page can read it when it runs as another user (a container).
        tmp = os.path.join(folder, f".{sha256}.{os.getpid()}.tmp")
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def delete(self, sha256: str) -> int:
        """Remove a copy no point uses any more; 1 when there was one to remove (never for a
        payload's `sha256` that is not one: that names no copy)."""
        try:
            self.path_for(sha256).unlink()
        except (FileNotFoundError, NotASha256):
            return 0
        return 1

    def open(self, sha256: object) -> Image.Image:
        """The stored picture as RGB; FileNotFoundError when it is not there."""
        return decode(self.path_for(sha256).read_bytes()).image
