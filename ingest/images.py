"""Decoding untrusted bytes into an RGB picture, or a one-line reason why not.

Formats are recognised by content (Pillow sniffs the header), never by extension. Pillow's
decompression-bomb check is an error here, not a warning: a 30 kB PNG that claims to be
100,000 x 100,000 pixels is refused before it is decoded. HEIC, what iPhones take photos in, is
read through pillow-heif (libheif), registered with Pillow on import.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from ingest import jpeg_scans
from ingest.exif import ORIENTATION, ExifTags, read_exif

pillow_heif.register_heif_opener()


def _no_dpi(self: JpegImagePlugin.JpegImageFile) -> None:
    """Pillow parses a JPEG's EXIF block as it opens the file, for its DPI when no JFIF header
    gives one (a phone's photos): every tag of its first directory into Python objects, 60 us a
    photo on the threads that share the GIL, more than decoding a thumbnail. Nothing here reads a
    DPI, and the tags the product reads come from the block's bytes (`ingest.exif`)."""


if hasattr(JpegImagePlugin.JpegImageFile, "_read_dpi_from_exif"):  # tests/unit/test_images.py checks it
    JpegImagePlugin.JpegImageFile._read_dpi_from_exif = _no_dpi  # type: ignore[method-assign]

# What photos come as, cameras, phones and scanners (TIFF) included. Pillow reads more, but each
# format read is code run on untrusted bytes: EPS, for one, would start Ghostscript.
SUPPORTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "HEIF", "AVIF", "TIFF"}
# JPEGs, decoded at a reduced scale by libjpeg. MPO is a JPEG with more pictures after the first
# (a depth map, a second view), as many phones and cameras save them; the first is the photo.
JPEG_FORMATS = {"JPEG", "MPO"}
# Formats decoded whole and then reduced by a box filter, as far as a JPEG would be decoded at a
# reduced scale: they have no cheaper way to a smaller picture. PNG, WebP and the rest are not, so
# that a photo stored by an earlier version is embedded as it was when it is searched for.
REDUCED_AFTER_DECODING = {"HEIF", "AVIF"}
# The most pixels decoded: a 48-megapixel iPhone HEIC (8064 x 6048) whole, 150 MB of RGB.
MAX_PIXELS = 50_000_000
# The most a file may claim. A JPEG is decoded at up to 1/8 of its size (`_reduction`), so a
# 200-megapixel phone photo or a 61-megapixel camera's decodes to a few megapixels; any other
# format over MAX_PIXELS is refused before decoding (a 30 kB PNG can claim 100,000 x 100,000).
MAX_CLAIMED_PIXELS = 16 * MAX_PIXELS
MAX_BYTES = 64 * 1024 * 1024
# The fixed transform scales a picture's shorter side to the model's side and keeps the centre
# square. A picture longer than this many times its width is refused rather than cropped: that
# square would be a twentieth of it, a strip or a banner rather than a photo of an animal; and
# scaled whole it cost gigabytes (2,000,000 x 25 px: 3 GB). A phone's panorama is 4:1 to 10:1.
MAX_ASPECT = 20
# Fewer pixels than this on a side show no animal: a tracking pixel, an icon, a spacer.
MIN_SIDE = 8
# A JPEG in several scans (progressive) is held whole while it decodes, whatever the scale, and
# each scan is a pass over it (`jpeg_scans`): such a JPEG may claim no more than any other format,
# and no more scans than this (an encoder writes about 10).
MAX_SCANS = 100
# What each EXIF orientation asks for to show the picture upright (1, and any other value: nothing).
TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

Image.MAX_IMAGE_PIXELS = MAX_CLAIMED_PIXELS


class ImageRejected(ValueError):
    """Not a usable image; str() is the reason, fit for 'skipped <path>: <reason>'."""


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied
    format: str
    width: int
    height: int
    exif: ExifTags = ExifTags.NONE  # the file's EXIF block (`ingest.exif.photo_facts` reads it)


def decode(data: bytes, target_side: int | None = None, longer_side: int = 0) -> DecodedImage:
    """bytes -> RGB image. With target_side, a JPEG is decoded at the smallest of 1/2, 1/4 and 1/8
    of its size (libjpeg's DCT scaling: much faster for big photos) whose shorter side is still at
    least target_side and longer side at least longer_side, and a HEIC or AVIF photo is reduced to
    it; width and height stay those of the full image."""
    if not data:
        raise ImageRejected("empty file")
    if len(data) > MAX_BYTES:
        raise ImageRejected(f"file too large ({len(data) / 2**20:.0f} MB > {MAX_BYTES // 2**20} MB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))  # reduce() may replace the ImageFile
            fmt = image.format or "unknown"
            if fmt not in SUPPORTED_FORMATS:
                raise ImageRejected(f"unsupported image format {fmt}")
            if problem := _shape_problem(image.size) or _scans_problem(data, image):
                raise ImageRejected(problem)
            scale = _reduction(image.size, target_side, longer_side) if target_side else 1
            drafted = scale if fmt in JPEG_FORMATS else 1
            if (image.size[0] // drafted) * (image.size[1] // drafted) > MAX_PIXELS:
                raise ImageRejected(
                    f"too many pixels ({image.size[0]:,} x {image.size[1]:,}; at most {MAX_PIXELS:,} are decoded)"
                )
            width, height = image.size
            exif = read_exif(image.info.get("exif"))  # a JPEG's or a WebP's, read with its header
            orientation = _orientation(image, exif)
            if orientation in (5, 6, 7, 8):  # rotated by 90 degrees
                width, height = height, width
            if scale > 1 and fmt in JPEG_FORMATS:
                image.draft(image.mode, (image.size[0] // scale, image.size[1] // scale))
            image.load()
            if exif is ExifTags.NONE:  # after load(): a PNG may keep it after its pixels
                exif = read_exif(image.info.get("exif"))
            if scale > 1 and fmt in REDUCED_AFTER_DECODING:
                image = image.reduce(scale)
            turn = TURNS.get(orientation)  # not ImageOps.exif_transpose: it parses the EXIF again
            rgb = to_rgb(image.transpose(turn) if turn is not None else image)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"too many pixels (more than {MAX_CLAIMED_PIXELS:,}; a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ImageRejected("a video, not a photo" if is_video(data) else "not an image") from None  # an upload
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # What Pillow raises for truncated or corrupt data depends on the codec.
        raise ImageRejected(f"corrupt or truncated image ({exc})") from None
    return DecodedImage(image=rgb, format=fmt, width=width, height=height, exif=exif)


# The major brands of ISO media files that hold pictures, not a movie: HEIC, HEIF, AVIF.
PICTURE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"mif2", b"msf1", b"avif", b"avis"}


def is_video(data: bytes) -> bool:
    """MP4, QuickTime (.MOV, what phones film in), 3GP, AVI or Matroska/WebM, by their first 16
    bytes: a phone's library holds them beside its photos, and 'not an image' would not say which."""
    box = data[4:8]
    return (
        (box == b"ftyp" and data[8:12] not in PICTURE_BRANDS)
        or box in (b"moov", b"mdat", b"wide", b"free")  # QuickTime files older than the ftyp box
        or (data[:4] == b"RIFF" and data[8:12] == b"AVI ")
        or data[:4] == b"\x1a\x45\xdf\xa3"
    )


def _shape_problem(size: tuple[int, int]) -> str | None:
    shorter, longer = min(size), max(size)
    if shorter < MIN_SIDE:
        return f"too small ({size[0]:,} x {size[1]:,} px; a photo has at least {MIN_SIDE} px a side)"
    if longer > MAX_ASPECT * shorter:
        return (
            f"extreme shape ({size[0]:,} x {size[1]:,} px, {longer / shorter:,.0f} times as long as wide; "
            f"at most {MAX_ASPECT})"
        )
    return None


def _scans_problem(data: bytes, image: Image.Image) -> str | None:
    """A progressive JPEG that claims more pixels than are decoded, or too many scans. The
    markers are read only for a progressive JPEG or a big one (one in a single scan, the
    camera's kind, is decoded a band at a time)."""
    size = image.size
    claimed = size[0] * size[1]
    if image.format not in JPEG_FORMATS or (claimed <= MAX_PIXELS and not image.info.get("progressive")):
        return None
    count = jpeg_scans.scans(data, MAX_SCANS)
    if count > MAX_SCANS:
        return f"a JPEG in more than {MAX_SCANS} scans (each scan is a pass over the whole picture)"
    if count > 1 and claimed > MAX_PIXELS:
        return (
            f"a progressive JPEG of {size[0]:,} x {size[1]:,} px, decoded whole whatever the scale "
            f"(at most {MAX_PIXELS:,} pixels)"
        )
    return None


def _reduction(size: tuple[int, int], shorter_side: int, longer_side: int) -> int:
    """The largest JPEG DCT reduction (8, 4, 2; 1 for none) that keeps both sides' minimums."""
    for scale in (8, 4, 2):
        if min(size) // scale >= shorter_side and max(size) // scale >= longer_side:
            return scale
    return 1


def _orientation(image: Image.Image, exif: ExifTags) -> int:
    """The EXIF orientation, from the block when it says (Pillow's own getexif() would parse every
    tag of IFD0 again); otherwise as Pillow finds it (a TIFF's own tags, a PNG's text chunk, XMP)."""
    return exif.orientation or image.getexif().get(ORIENTATION, 1)


def picture_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as shown, EXIF rotation applied, read from the header alone (nothing is
    decoded); None when the bytes are not a supported image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in SUPPORTED_FORMATS:
                return None
            width, height = image.size
            if _orientation(image, read_exif(image.info.get("exif"))) in (5, 6, 7, 8):
                width, height = height, width
            return width, height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB. Transparency goes onto white, as a viewer would show it;
    16-bit samples map 0..65535 onto 0..255 (Pillow's own convert would clip them)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _sixteen_to_8bit(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _sixteen_to_8bit(image: Image.Image) -> Image.Image:
    a = np.asarray(image, dtype=np.float32) / 257.0
    return Image.fromarray(a.clip(0, 255).round().astype(np.uint8))
