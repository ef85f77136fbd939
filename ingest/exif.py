"""When, with what and where a photo was taken, from its EXIF: the payload fields `taken_at`,
`taken_offset`, `taken_from`, `camera`, `camera_make`, `camera_model`, `lens` and `location`.

The EXIF block is read here, not through Pillow's `getexif().get_ifd()`: that parses every tag
of the block (a phone writes about 60, and a maker note) into Python objects, about 360 us a
photo, three times what decoding a thumbnail costs; this reads the dozen tags the product uses
straight from the bytes (docs/benchmarks.md, "Reading EXIF"). The photo's orientation is read
from the same directories, so Pillow never parses the block at all (`ingest.images`). The bytes
are untrusted: every offset is checked against the block's length, and a block that makes no
sense gives no facts, never an error.

`taken_at` is the time the camera's clock showed (EXIF's own convention: DateTimeOriginal has no
zone), written without an offset so that every photo is compared on the same clock, whether or
not its file records an offset; `taken_offset` keeps the offset when there is one (+02:00).
`taken_from` names the EXIF tag the time came from, or is "none": the file says nothing of when
it was taken, and its modification time is never used in its place.
"""

from __future__ import annotations

import datetime as dt
import re
import struct

NO_DATE = "none"
# Every payload field this module may write; `taken_from` is always written (a point without it
# was loaded before these fields existed, and a reload fills them).
FACT_FIELDS = ("taken_at", "taken_offset", "taken_from", "camera", "camera_make", "camera_model", "lens", "location")
# (tag holding the time, its directory, its sub-second digits, its offset from UTC), most trusted
# first. DateTime (0x0132, in IFD0) is when the file was last changed by software; it comes last,
# and says so. The sub-seconds and offsets are in the Exif directory.
IFD0, EXIF_IFD, GPS_IFD = 0, 0x8769, 0x8825  # IFD0's number is ours; the others are its pointer tags
TIME_TAGS = (
    ("DateTimeOriginal", 0x9003, EXIF_IFD, 0x9291, 0x9011),
    ("DateTimeDigitized", 0x9004, EXIF_IFD, 0x9292, 0x9012),
    ("DateTime", 0x0132, IFD0, 0x9290, 0x9010),
)
ORIENTATION, MAKE, MODEL, LENS_MODEL = 0x0112, 0x010F, 0x0110, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_STATUS = 1, 2, 3, 4, 9
MAX_ENTRIES = 1000  # per directory: a real one has at most a few hundred
MAX_TEXT = 256
TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}  # type -> bytes per value
# An entry after its tag number: its type, its count, and its value or where the value is.
_ENTRY = {order: struct.Struct(order + "HII") for order in "<>"}
_TIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"[+-](0\d|1[0-4]):[0-5]\d")


def read_exif(block: object) -> ExifTags:
    """The block's directories, ready to be asked for tags; NONE when there is no block (Pillow's
    `info["exif"]` of a file without one) or it makes no sense."""
    if not isinstance(block, bytes) or not block:
        return ExifTags.NONE
    try:
        return ExifTags.read(block)
    except struct.error:  # a block shorter than its own header says
        return ExifTags.NONE


def photo_facts(exif: bytes | ExifTags | None) -> dict:
    """The payload fields read from an EXIF block, or from one already read (`ingest.images.decode`
    reads it for the photo's orientation); None: the file has none."""
    tags = exif if isinstance(exif, ExifTags) else read_exif(exif)
    facts = _taken(tags)
    _add_camera(tags, facts)
    _add_location(tags, facts)
    return facts


class ExifTags:
    """The tag numbers of IFD0 and of its Exif and GPS directories; a tag's entry is found and
    decoded only when asked for (of the nine time tags, a photo's first usable one is enough).
    The load reads every photo's block on the thread that decodes it, where each microsecond of
    Python holds the others up: a tag is found by one scan of a tuple of numbers (in C) and read
    from the block's own bytes, with no copies but the text."""

    NONE: ExifTags

    def __init__(self, block: bytes, base: int, order: str) -> None:
        self.block, self.base, self.order, self.entry = block, base, order, _ENTRY[order]
        # IFD0, EXIF_IFD or GPS_IFD -> where its entries start, their tag numbers
        self.directories: dict[int, tuple[int, tuple[int, ...]]] = {}

    @classmethod
    def read(cls, block: bytes) -> ExifTags:
        """NONE when the block is not a TIFF structure; offsets in a TIFF count from its header."""
        base = 6 if block.startswith(b"Exif\x00\x00") else 0
        order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(block[base : base + 4])
        if order is None:
            return cls.NONE
        tags = cls(block, base, order)
        tags._directory(IFD0, struct.unpack_from(order + "I", block, base + 4)[0])
        for pointer in (EXIF_IFD, GPS_IFD):
            if isinstance(at := tags.get(pointer, IFD0), int):
                tags._directory(pointer, at)
        return tags

    @property
    def orientation(self) -> int | None:
        """How the picture is to be turned (1-8, as TIFF numbers them); None when not said."""
        value = self.get(ORIENTATION, IFD0)
        return value if isinstance(value, int) else None

    def _directory(self, name: int, offset: int) -> None:
        """The tag numbers of the directory at `offset`; entries past the block's end are not read."""
        at = self.base + offset
        if at + 2 > len(self.block):
            return
        (count,) = struct.unpack_from(self.order + "H", self.block, at)
        entries = min(count, MAX_ENTRIES, (len(self.block) - at - 2) // 12)
        self.directories[name] = at + 2, struct.unpack_from(f"{self.order}{'H10x' * entries}", self.block, at + 2)

    def get(self, tag: int, directory: int = EXIF_IFD) -> object:
        """The tag's value: text, a tuple of rationals, a number; None when absent or malformed."""
        entries, numbers = self.directories.get(directory, (0, ()))
        if tag not in numbers:
            return None
        at = entries + 12 * numbers.index(tag)
        kind, n, pointer = self.entry.unpack_from(self.block, at + 2)
        if kind not in TIFF_TYPES or n == 0:
            return None
        size = TIFF_TYPES[kind] * n
        at = at + 8 if size <= 4 else self.base + pointer  # a value of 4 bytes or less is in its entry
        if at + min(size, MAX_TEXT) > len(self.block):
            return None
        if kind in (2, 7):  # ASCII, or UNDEFINED as some cameras write text
            text = self.block[at : at + min(size, MAX_TEXT)].partition(b"\x00")[0]
            return text.decode("utf-8", "replace").strip()
        if kind in (5, 10) and n <= 4:  # rationals: the GPS degrees, minutes, seconds
            pairs = struct.unpack_from(self.order + ("II" if kind == 5 else "ii") * n, self.block, at)
            return tuple(a / b if b else float("nan") for a, b in zip(pairs[::2], pairs[1::2]))
        if kind in (3, 4) and n == 1:  # a pointer to another directory
            return struct.unpack_from(self.order + ("H" if kind == 3 else "I"), self.block, at)[0]
        return None


ExifTags.NONE = ExifTags(b"", 0, "<")


def _taken(tags: ExifTags) -> dict:
    for name, tag, directory, subsec_tag, offset_tag in TIME_TAGS:
        text = tags.get(tag, directory)
        found = _TIME.fullmatch(text) if isinstance(text, str) else None  # stripped by get()
        if not found:
            continue
        try:
            year, month, day, hour, minute, second = map(int, found.groups())
            moment = dt.datetime(year, month, day, hour, minute, second)
        except ValueError:  # 0000:00:00 00:00:00, as cameras with no clock set write
            continue
        if moment.year < 1800:
            continue
        subsec = tags.get(subsec_tag)
        digits = subsec[:6] if isinstance(subsec, str) else ""
        if digits.isdigit():
            moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
        facts = {"taken_at": moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")}
        offset = tags.get(offset_tag)
        if isinstance(offset, str) and _OFFSET.fullmatch(offset):
            facts["taken_offset"] = offset
        facts["taken_from"] = name
        return facts
    return {"taken_from": NO_DATE}


def camera_name(make: str, model: str) -> str:
    """One name for a camera: "Apple iPhone 13", "Canon EOS R5" (not "Canon Canon EOS R5"),
    "NIKON D750" (its make is "NIKON CORPORATION")."""
    if not make or not model:
        return model or make
    if model.lower().split()[0] == make.lower().split()[0]:
        return model
    return f"{make} {model}"


def _add_camera(tags: ExifTags, facts: dict) -> None:
    make, model = tags.get(MAKE, IFD0), tags.get(MODEL, IFD0)
    make, model = make if isinstance(make, str) else "", model if isinstance(model, str) else ""
    if name := camera_name(make, model):
        facts["camera"] = name
        if make:
            facts["camera_make"] = make
        if model:
            facts["camera_model"] = model
    lens = tags.get(LENS_MODEL)
    if isinstance(lens, str) and lens:
        facts["lens"] = lens


def _add_location(tags: ExifTags, facts: dict) -> None:
    """Adds `location`, {"lat", "lon"} in decimal degrees, as Qdrant's geo index reads them."""
    if tags.get(GPS_STATUS, GPS_IFD) == "V":  # the receiver had no fix ("void")
        return
    lat = _degrees(tags.get(GPS_LAT, GPS_IFD), tags.get(GPS_LAT_REF, GPS_IFD), "S")
    lon = _degrees(tags.get(GPS_LON, GPS_IFD), tags.get(GPS_LON_REF, GPS_IFD), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return  # 0, 0 is what a camera without a fix writes, not a photo taken at sea off Africa
    facts["location"] = {"lat": round(lat, 7), "lon": round(lon, 7)}


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple) or not value or any(v != v for v in value):  # NaN: a zero denominator
        return None
    degrees = sum(part / 60**i for i, part in enumerate(value[:3]))
    return -degrees if isinstance(ref, str) and ref.upper().startswith(negative) else degrees
