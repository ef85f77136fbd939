"""Photos carrying EXIF as cameras write it, shared by the tests of reading it (tests/unit/test_exif.py),
of loading and searching by it (tests/e2e/test_photo_facts.py) and of bursts (tests/ui/test_duplicate_decisions.py):
a block built with Pillow, a picture saved with it, and a small library of such photos with the
payload each must get."""

from __future__ import annotations

import io

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from ingest.images import decode  # noqa: F401  registers pillow-heif's HEIC opener, which saving one needs

from images_for_tests import photo

TIME_OFFSET_SUBSEC = {0x9011: "+02:00", 0x9291: "250"}


def exif_block(
    taken: str | None = None,
    make: str | None = None,
    model: str | None = None,
    lens: str | None = None,
    gps: tuple[float, float] | None = None,
    more: dict | None = None,
) -> bytes:
    """An EXIF block as a camera writes it: DateTimeOriginal in its own format (2024:06:01
    14:30:05), the make and model in IFD0, the lens in the Exif directory, the position as
    degrees, minutes and seconds with N/S and E/W."""
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    details = exif.get_ifd(0x8769)
    if taken:
        details[0x9003] = taken
    if lens:
        details[0xA434] = lens
    for tag, value in (more or {}).items():
        details[tag] = value
    if gps:
        place = exif.get_ifd(0x8825)
        for ref_tag, tag, value, signs in ((1, 2, gps[0], "NS"), (3, 4, gps[1], "EW")):
            whole, rest = divmod(abs(value) * 3600, 3600)
            minutes, seconds = divmod(rest, 60)
            place[ref_tag] = signs[value < 0]
            place[tag] = (IFDRational(int(whole)), IFDRational(int(minutes)), IFDRational(round(seconds * 100), 100))
    return exif.tobytes()


def saved(image: Image.Image, fmt: str, exif: bytes | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"exif": exif} if exif else {}), **options)
    return buffer.getvalue()


# Photos of one library, the payload each must get (beside the fields every photo has).
LIBRARY = {
    "summer/paris.jpg": (
        saved(
            photo(1, (64, 48)),
            "JPEG",
            exif_block(
                "2024:06:01 14:30:05",
                "Apple",
                "iPhone 13",
                "iPhone 13 back camera",
                (48.8584, 2.2945),
                TIME_OFFSET_SUBSEC,
            ),
        ),
        {
            "taken_at": "2024-06-01T14:30:05.250",
            "taken_offset": "+02:00",
            "taken_from": "DateTimeOriginal",
            "camera": "Apple iPhone 13",
            "camera_make": "Apple",
            "camera_model": "iPhone 13",
            "lens": "iPhone 13 back camera",
            "location": {"lat": 48.8584, "lon": 2.2945},
        },
    ),
    "summer/rio.heic": (  # an iPhone's HEIC, south and west
        saved(
            photo(2, (64, 48)),
            "HEIF",
            exif_block("2024:08:31 23:59:59", "Apple", "iPhone 15 Pro", gps=(-22.9519, -43.2105)),
        ),
        {
            "taken_at": "2024-08-31T23:59:59",
            "taken_from": "DateTimeOriginal",
            "camera": "Apple iPhone 15 Pro",
            "camera_make": "Apple",
            "camera_model": "iPhone 15 Pro",
            "location": {"lat": -22.9519, "lon": -43.2105},
        },
    ),
    "autumn/canon.jpg": (  # no offset recorded; the model already says the make
        saved(
            photo(3, (64, 48)),
            "JPEG",
            exif_block("2024:09:01 00:00:00", "Canon", "Canon EOS R5", "RF24-105mm F4 L IS USM"),
        ),
        {
            "taken_at": "2024-09-01T00:00:00",
            "taken_from": "DateTimeOriginal",
            "camera": "Canon EOS R5",
            "camera_make": "Canon",
            "camera_model": "Canon EOS R5",
            "lens": "RF24-105mm F4 L IS USM",
        },
    ),
    "winter/scan.png": (saved(photo(4, (64, 48)), "PNG"), {"taken_from": "none"}),  # no EXIF: no date
    "winter/unset-clock.jpg": (  # a camera whose clock was never set, and a GPS without a fix
        saved(
            photo(5, (64, 48)),
            "JPEG",
            exif_block("0000:00:00 00:00:00", "NIKON CORPORATION", "NIKON D750", gps=(0.0, 0.0)),
        ),
        {
            "taken_from": "none",
            "camera": "NIKON D750",
            "camera_make": "NIKON CORPORATION",
            "camera_model": "NIKON D750",
        },
    ),
}
