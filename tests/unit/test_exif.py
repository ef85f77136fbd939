"""Reading EXIF from the bytes (`ingest.exif`): the facts of real files written by Pillow and
pillow-heif, agreement with Pillow's own parser, and damaged blocks that give what they can."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PIL import Image

from bench.load_rate import phone_exif
from ingest.exif import FACT_FIELDS, camera_name, photo_facts
from ingest.images import decode

from exif_library import LIBRARY, exif_block


def test_exif_is_read_from_the_bytes_as_pillow_reads_it():
    for _, (data, expected) in LIBRARY.items():
        assert photo_facts(decode(data).exif) == expected
        assert photo_facts(decode(data, target_side=16).exif) == expected  # at a reduced scale too
    assert camera_name("OLYMPUS IMAGING CORP.", "E-M5") == "OLYMPUS IMAGING CORP. E-M5"
    assert camera_name("", "Pixel 8") == "Pixel 8"
    # The clock without sub-seconds falls back to the digitized time, and says so.
    digitized = exif_block(more={0x9004: "2021:02:03 04:05:06", 0x9012: "-05:00"})
    assert photo_facts(digitized) == {
        "taken_at": "2021-02-03T04:05:06",
        "taken_offset": "-05:00",
        "taken_from": "DateTimeDigitized",
    }


def test_a_phones_block_reads_as_pillows_own_exif_parser_reads_it():
    """The reader picks a dozen tags straight from the bytes; Pillow's parser, which reads every
    tag of the block, is the independent computation it must agree with."""
    for n in range(0, 400, 37):  # dates, sub-seconds and positions that vary with n
        block = phone_exif(n)
        exif = Image.Exif()
        exif.load(block)
        details, gps = exif.get_ifd(0x8769), exif.get_ifd(0x8825)
        when = dt.datetime.strptime(details[0x9003], "%Y:%m:%d %H:%M:%S")
        when = when.replace(microsecond=int(details[0x9291].ljust(6, "0")))
        lat, lon = (float(sum(part / 60**i for i, part in enumerate(gps[tag]))) for tag in (2, 4))
        expected = {
            "taken_at": when.isoformat(timespec="milliseconds" if when.microsecond else "seconds"),
            "taken_offset": details[0x9011],
            "taken_from": "DateTimeOriginal",
            "camera": f"{exif[0x010F]} {exif[0x0110]}",
            "camera_make": exif[0x010F],
            "camera_model": exif[0x0110],
            "lens": details[0xA434],
            "location": {"lat": round(lat, 7), "lon": round(lon, 7)},
        }
        assert photo_facts(block) == expected, n
        exif.endian = ">"  # as Canon and Nikon write theirs: big-endian ("MM")
        assert exif.tobytes()[6:8] == b"MM"
        assert photo_facts(exif.tobytes()) == expected, n


@pytest.mark.parametrize("cut", [0, 7, 12, 40, 90, -30])
def test_a_damaged_exif_block_gives_what_it_can_and_never_an_error(cut):
    whole = decode(LIBRARY["summer/paris.jpg"][0]).exif.block
    damaged = whole[:cut] if cut > 0 else whole[:cut] + b"\xff" * 8
    assert photo_facts(damaged)["taken_from"] in ("DateTimeOriginal", "none")
    rng = np.random.default_rng(abs(cut))
    for _ in range(200):
        noisy = np.frombuffer(whole, np.uint8).copy()
        noisy[rng.integers(0, len(noisy), 12)] = rng.integers(0, 256, 12)
        assert set(photo_facts(noisy.tobytes())) <= set(FACT_FIELDS)
