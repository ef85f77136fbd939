"""When, with what and where a photo was taken, from its EXIF: the payload fields `taken_at`,
`taken_offset`, `taken_from`, `camera`, `camera_make`, `camera_model`, `lens` and `location`.

The EXIF block is read here, not through Pillow's `getexif().get_ifd()`: that parses every tag
of the block (a phone writes about 60, and a maker note) into Python objects, about 360 us a
photo, three times what decoding a thumbnail costs; this reads the dozen tags the product uses
straight from the bytes (docs/benchmarks.md, "Reading EXIF"). The bytes are untrusted: every
offset is checked against the block's length, and a block that makes no sense gives no facts,
never an error.

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
# (tag holding the time, its sub-second digits, its offset from UTC), most trusted first.
# DateTime (0x0132) is when the file was last changed by software; it comes last, and says so.
TIME_TAGS = (
    ("DateTimeOriginal", 0x9003, 0x9291, 0x9011),
    ("DateTimeDigitized", 0x9004, 0x9292, 0x9012),
    ("DateTime", 0x0132, 0x9290, 0x9010),
)
MAKE, MODEL, EXIF_IFD, GPS_IFD = 0x010F, 0x0110, 0x8769, 0x8825
LENS_MODEL = 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_STATUS = 1, 2, 3, 4, 9
IFD0_TAGS = frozenset({MAKE, MODEL, 0x0132, EXIF_IFD, GPS_IFD})
EXIF_TAGS = frozenset({tag for _, *tags in TIME_TAGS for tag in tags} | {LENS_MODEL})
GPS_TAGS = frozenset({GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_STATUS})
MAX_ENTRIES = 1000  # per directory: a real one has at most a few hundred
MAX_TEXT = 256
TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}  # type -> bytes per value
_TIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"[+-](0\d|1[0-4]):[0-5]\d")


def photo_facts(exif: bytes | None) -> dict:
    """The payload fields read from an EXIF block (None: the file has none)."""
    try:
        tags = _Tags.read(exif) if exif else _Tags.NONE
    except struct.error:  # a block shorter than its own header says
        tags = _Tags.NONE
    return {**_taken(tags), **_camera(tags), **_location(tags)}


class _Tags:
    """The tags the product uses, from IFD0 and its Exif and GPS directories. Each is found by
    its entry and decoded only when asked for: of the nine time tags, a photo's first usable
    one is enough. GPS tags are keyed 0x10000 + tag (their numbers overlap IFD0's)."""

    NONE: _Tags

    def __init__(self, tiff: memoryview, order: str) -> None:
        self.tiff, self.order = tiff, order
        self.entries: dict[int, int] = {}  # tag -> the offset of its 12-byte entry

    @classmethod
    def read(cls, block: bytes) -> _Tags:
        """NONE when the block is not a TIFF structure."""
        tiff = memoryview(block)[6:] if block.startswith(b"Exif\x00\x00") else memoryview(block)
        order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(bytes(tiff[:4]))
        if order is None:
            return cls.NONE
        tags = cls(tiff, order)
        tags._directory(struct.unpack_from(order + "I", tiff, 4)[0], IFD0_TAGS)
        exif_at, gps_at = tags.get(EXIF_IFD), tags.get(GPS_IFD)
        if isinstance(exif_at, int):
            tags._directory(exif_at, EXIF_TAGS)
        if isinstance(gps_at, int):
            tags._directory(gps_at, GPS_TAGS, key=0x10000)
        return tags

    def _directory(self, offset: int, wanted: frozenset[int], key: int = 0) -> None:
        """Notes where the wanted tags of the directory at `offset` are; entries past the
        block's end are not read."""
        if offset + 2 > len(self.tiff):
            return
        (count,) = struct.unpack_from(self.order + "H", self.tiff, offset)
        entries = min(count, MAX_ENTRIES, (len(self.tiff) - offset - 2) // 12)
        # One call unpacks every entry's tag number (a phone's Exif directory has about 40).
        numbers = struct.unpack_from(f"{self.order}{'H10x' * entries}", self.tiff, offset + 2)
        for i, tag in enumerate(numbers):
            if tag in wanted:
                self.entries[key + tag] = offset + 2 + 12 * i

    def get(self, tag: int) -> object:
        """The tag's value: text, a tuple of rationals, a number; None when absent or malformed."""
        at = self.entries.get(tag)
        if at is None:
            return None
        kind, n, value = struct.unpack_from(self.order + "HI4s", self.tiff, at + 2)
        if kind not in TIFF_TYPES or n == 0:
            return None
        size = TIFF_TYPES[kind] * n
        data = value if size <= 4 else self.tiff[struct.unpack(self.order + "I", value)[0] :]
        if len(data) < min(size, MAX_TEXT):
            return None
        if kind in (2, 7):  # ASCII, or UNDEFINED as some cameras write text
            text = bytes(data[: min(size, MAX_TEXT)]).split(b"\x00")[0]
            return text.decode("utf-8", "replace").strip()
        if kind in (5, 10) and n <= 4:  # rationals: the GPS degrees, minutes, seconds
            pairs = struct.unpack_from(self.order + ("II" if kind == 5 else "ii") * n, data)
            return tuple(a / b if b else float("nan") for a, b in zip(pairs[::2], pairs[1::2]))
        if kind in (3, 4) and n == 1:  # a pointer to another directory
            return struct.unpack_from(self.order + ("H" if kind == 3 else "I"), data)[0]
        return None


_Tags.NONE = _Tags(memoryview(b""), "<")


def _taken(tags: _Tags) -> dict:
    for name, tag, subsec_tag, offset_tag in TIME_TAGS:
        text = tags.get(tag)
        found = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
        if not found:
            continue
        try:
            year, month, day, hour, minute, second = (int(part) for part in found.groups())
            moment = dt.datetime(year, month, day, hour, minute, second)
        except ValueError:  # 0000:00:00 00:00:00, as cameras with no clock set write
            continue
        if moment.year < 1800:
            continue
        subsec = tags.get(subsec_tag)
        digits = subsec.strip()[:6] if isinstance(subsec, str) else ""
        if digits.isdigit():
            moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
        facts = {"taken_at": moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")}
        offset = tags.get(offset_tag)
        if isinstance(offset, str) and _OFFSET.fullmatch(offset.strip()):
            facts["taken_offset"] = offset.strip()
        return {**facts, "taken_from": name}
    return {"taken_from": NO_DATE}


def camera_name(make: str, model: str) -> str:
    """One name for a camera: "Apple iPhone 13", "Canon EOS R5" (not "Canon Canon EOS R5"),
    "NIKON D750" (its make is "NIKON CORPORATION")."""
    if not make or not model:
        return model or make
    if model.lower().split()[0] == make.lower().split()[0]:
        return model
    return f"{make} {model}"


def _camera(tags: _Tags) -> dict:
    make, model = (value if isinstance(value := tags.get(t), str) else "" for t in (MAKE, MODEL))
    facts = {}
    if name := camera_name(make, model):
        facts = {
            "camera": name,
            **({"camera_make": make} if make else {}),
            **({"camera_model": model} if model else {}),
        }
    lens = tags.get(LENS_MODEL)
    if isinstance(lens, str) and lens:
        facts["lens"] = lens
    return facts


def _location(tags: _Tags) -> dict:
    """{"location": {"lat", "lon"}} in decimal degrees, as Qdrant's geo index reads them."""
    if tags.get(0x10000 + GPS_STATUS) == "V":  # the receiver had no fix ("void")
        return {}
    lat = _degrees(tags.get(0x10000 + GPS_LAT), tags.get(0x10000 + GPS_LAT_REF), "S")
    lon = _degrees(tags.get(0x10000 + GPS_LON), tags.get(0x10000 + GPS_LON_REF), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return {}  # 0, 0 is what a camera without a fix writes, not a photo taken at sea off Africa
    return {"location": {"lat": round(lat, 7), "lon": round(lon, 7)}}


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple) or not value or any(v != v for v in value):  # NaN: a zero denominator
        return None
    degrees = sum(part / 60**i for i, part in enumerate(value[:3]))
    return -degrees if isinstance(ref, str) and ref.upper().startswith(negative) else degrees
