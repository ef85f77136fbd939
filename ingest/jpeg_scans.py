"""How many scans a JPEG's picture is coded in, read from its markers (nothing is decoded).

A JPEG in one scan is decoded a band at a time: libjpeg keeps a few rows, and decoding at 1/8
of the size costs an eighth. One in several scans (progressive, as web pages save photos, or
a sequential one with a scan per colour) is decoded whole: libjpeg keeps every coefficient of
the full picture, 3 to 6 bytes a pixel at any scale, and each scan is another pass over them.
`ingest.images` bounds both from this count.
"""

from __future__ import annotations

import re

_SOI, _EOI, _SOS, _TEM = 0xD8, 0xD9, 0xDA, 0x01
# The marker that ends a scan's coded data: 0xFF followed by anything but a stuffed zero or a
# restart marker (those two belong to the data).
_END_OF_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def scans(data: bytes, most: int) -> int:
    """The scans of the first picture (an MPO's others come after its end), counted up to
    `most + 1`; 0 when the bytes are not a JPEG's."""
    if not data.startswith(b"\xff\xd8"):
        return 0
    count, at = 0, 2
    while at + 4 <= len(data) and count <= most:
        if data[at] != 0xFF:  # not where a marker should be: damaged, libjpeg will say so
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == _EOI:
            break
        if marker in (_SOI, _TEM) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        after = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker != _SOS:
            at = after
            continue
        count += 1
        end = _END_OF_DATA.search(data, after)
        if end is None:
            break
        at = end.start()
    return count
