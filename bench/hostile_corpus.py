"""A hostile corpus, built from nothing: a zip an attacker (or an unlucky user) would hand the
product, with good photos among files made to cost memory or time, and what each bad entry
must be skipped for. Used by `bench/hostile_load.py` and by tests/test_hostile_input.py.

Entries are written by `write_raw_zip`, a minimal zip writer that takes each entry's
compressed bytes as they are: a few hundred entries that inflate to megabytes of zeros are
then one compression, not a few hundred, and entries can claim what they like.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFLATED, STORED, BZIP2, LZMA = 8, 0, 12, 14
HIGH_RATIO_ENTRIES = 300
BZIP2_ENTRIES = 100


@dataclass(frozen=True)
class RawEntry:
    name: str
    compressed: bytes
    method: int
    size: int  # what the entry says it inflates to
    crc: int


def entry(name: str, data: bytes, method: int = DEFLATED) -> RawEntry:
    if method == DEFLATED:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        compressed = packer.compress(data) + packer.flush()
    elif method == BZIP2:
        compressed = bz2.compress(data)
    elif method == LZMA:  # zip's LZMA: a 4-byte header, then the properties, then raw LZMA
        packer = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})
        compressed = struct.pack("<BBH", 9, 4, len(props)) + props + packer.compress(data) + packer.flush()
    else:
        compressed = data
    return RawEntry(name, compressed, method, len(data), zlib.crc32(data))


def write_raw_zip(path: Path, entries: list[RawEntry], claimed_entries: int | None = None) -> None:
    """A zip of these entries as given (no zip64: every size under 4 GiB). `claimed_entries`
    writes another count into the end record, as a forged zip would."""
    with open(path, "wb") as out:
        directory = bytearray()
        for e in entries:
            name = e.name.encode()
            offset = out.tell()
            flags = 0x800  # names in UTF-8
            sizes = (e.crc, len(e.compressed), e.size, len(name), 0)
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, e.method, 0, 0x21, *sizes) + name)
            out.write(e.compressed)
            directory += struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                0x0314,  # made by Unix, zip 2.0
                20,
                flags,
                e.method,
                0,
                0x21,
                e.crc,
                len(e.compressed),
                e.size,
                len(name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            directory += name
        start = out.tell()
        out.write(directory)
        count = len(entries) if claimed_entries is None else claimed_entries
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count & 0xFFFF, count & 0xFFFF, len(directory), start, 0))


def photo_bytes(seed: int, size: tuple[int, int] = (300, 200), fmt: str = "JPEG", **options) -> bytes:
    """A smooth random picture (gradients and a blob), different for each seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    a = rng.uniform(0, 255, 3) + yy[..., None] * rng.uniform(-200, 200, 3) + xx[..., None] * rng.uniform(-200, 200, 3)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    a += np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02))[..., None] * rng.uniform(-150, 150, 3)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB").save(buffer, format=fmt, **options)
    return buffer.getvalue()


def thin_png(width: int = 2_000_000, height: int = 25) -> bytes:
    """Under the pixel limit (50 megapixels) and a few hundred kB, but 80,000 times as wide as
    tall: embedding it scaled its shorter side up to 112 px and its longer one to 9 million."""
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def claiming_jpeg(width: int, height: int, progressive: bool = True) -> bytes:
    """A small JPEG whose frame header claims width x height: a progressive one makes libjpeg
    hold every coefficient of the claimed picture, whatever scale it decodes at."""
    data = bytearray(photo_bytes(0, (64, 48), progressive=progressive))
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    at = data.index(marker)
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def many_scans_jpeg(scans: int = 300) -> bytes:
    """A progressive JPEG whose last scan is repeated: every scan is a pass over the picture."""
    data = photo_bytes(0, (64, 48), progressive=True)
    last = data.rindex(b"\xff\xda")
    scan, end = data[last:-2], data[-2:]
    return data[:-2] + scan * scans + end


@dataclass
class Corpus:
    good: dict[str, bytes]  # path -> bytes of every photo that must be indexed
    bad: dict[str, str]  # path -> words its skip reason must contain


def hostile_zip(path: Path, good_photos: int = 22) -> Corpus:
    """Good photos among every kind of hostile entry (see the module's docstring)."""
    good = {f"good/{n:02d}.jpg": photo_bytes(n) for n in range(good_photos)}
    good["good/wide-panorama.jpg"] = photo_bytes(99, (1600, 200))  # 8:1, a phone's panorama
    entries = [entry(name, data, STORED) for name, data in good.items()]
    bad: dict[str, str] = {}

    def add(e: RawEntry, reason: str) -> None:
        entries.append(e)
        bad[e.name] = reason

    add(entry("hostile/thin.png", thin_png()), "extreme shape")
    add(entry("hostile/tiny.png", photo_bytes(1, (3, 2), "PNG")), "too small")
    add(entry("hostile/progressive.jpg", claiming_jpeg(20_000, 20_000)), "progressive JPEG")
    add(entry("hostile/scans.jpg", many_scans_jpeg()), "scans")
    zeros = entry("", bytes(8 << 20))  # 8 MiB of zeros in 8 kB: a ratio of about 1,000
    for n in range(HIGH_RATIO_ENTRIES):
        add(RawEntry(f"ratio/{n:03d}.jpg", zeros.compressed, DEFLATED, zeros.size, zeros.crc), "inflates")
    # As the zips that cost hours were made: 79 bytes of bzip2 for 64 MiB.
    bzipped = entry("", bytes(64 << 20), BZIP2)
    for n in range(BZIP2_ENTRIES):
        add(RawEntry(f"bzip2/{n:03d}.jpg", bzipped.compressed, BZIP2, bzipped.size, bzipped.crc), "compressed with")
    add(entry("other/lzma.jpg", photo_bytes(5), LZMA), "compressed with")
    # A terminal runs what follows ESC: this would set its title, and the newline split the line.
    add(entry("other/\x1b]0;owned\x07two\nlines.txt", b"text, not a picture"), "not an image")
    # Claims 100 kB but inflates further: reading stops at the claim, and the checksum fails.
    liar = entry("", bytes(300_000) + photo_bytes(6))
    add(RawEntry("other/liar.jpg", liar.compressed, DEFLATED, 100_000, liar.crc), "damaged zip entry")
    add(entry("other/too-large.bin", bytes(80 << 20)), "inflates")
    write_raw_zip(path, entries)
    return Corpus(good, bad)


def inflation_zip(path: Path, entries: int = 1500) -> None:
    """Entries of 1 MiB of zeros each, 1 kB compressed: each small enough to pass on its own,
    together a gigabyte and a half from a zip of a megabyte and a half."""
    zeros = entry("", bytes(1 << 20))
    write_raw_zip(
        path, [RawEntry(f"z/{n:04d}.bmp", zeros.compressed, DEFLATED, zeros.size, zeros.crc) for n in range(entries)]
    )
