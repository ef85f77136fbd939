"""Real image files of every mode and format the product must read, and every kind of bad
zip entry it must skip, built in memory for the tests."""

from __future__ import annotations

import io
import stat
import zipfile

import numpy as np
import pillow_heif  # noqa: F401  (ingest.images registers its HEIC opener; saving one needs it too)
from PIL import Image


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def photo(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A smooth random RGB picture (gradients plus a blob), different for each seed."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-200, 200, (2, 3))
    cy, cx = rng.uniform(0.2, 0.8, 2)
    blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02))[..., None] * rng.uniform(-150, 150, 3)
    a = base + yy[..., None] * slope[0] + xx[..., None] * slope[1] + blob
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def exif_rotated_jpeg(seed: int) -> bytes:
    """A 40x20 JPEG whose EXIF says 'rotate 90°': it must be indexed as 20x40."""
    image = photo(seed, (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(image, "JPEG", exif=exif.tobytes())


def phone_heic(seed: int, size: tuple[int, int] = (40, 20)) -> bytes:
    """A HEIC, as an iPhone saves photos, whose EXIF says 'rotate 90°' (pillow-heif turns that into
    HEIF's own rotation, which libheif applies): it must be indexed as 20x40."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(photo(seed, size), "HEIF", exif=exif.tobytes())


def good_images() -> dict[str, bytes]:
    """Archive path -> bytes: every mode and format that must be read (recognised by content)."""
    sixteen = Image.fromarray(np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16))
    rgba = photo(3).convert("RGBA")
    rgba.putalpha(128)
    return {
        "modes/rgb.jpg": _save(photo(1), "JPEG", quality=90),
        "modes/gray.png": _save(photo(2).convert("L"), "PNG"),
        "modes/rgba.png": _save(rgba, "PNG"),
        "modes/palette.gif": _save(photo(4).convert("P"), "GIF"),
        "modes/cmyk.jpg": _save(photo(5).convert("CMYK"), "JPEG"),
        "modes/sixteen.png": _save(sixteen, "PNG"),
        "modes/bilevel.bmp": _save(photo(6).convert("1"), "BMP"),
        "modes/photo.webp": _save(photo(7), "WEBP"),
        "modes/rotated.jpg": exif_rotated_jpeg(8),
        "modes/phone.heic": phone_heic(11),
        "modes/photo.avif": _save(photo(12), "AVIF"),
        # A JPEG with a second picture after the first (a depth map), as phones save portraits.
        "modes/scan.tif": _save(photo(15), "TIFF", compression="tiff_lzw"),  # as scanners save
        "modes/portrait.jpg": _save(photo(13), "MPO", save_all=True, append_images=[photo(14).convert("RGB")]),
        "modes/png-named.jpg": _save(photo(9), "PNG"),  # wrong extension: content decides
        "top-level.png": _save(photo(10), "PNG"),  # no folder: no label
    }


def bomb_png() -> bytes:
    """A few kB of PNG that decodes to 100 million pixels."""
    return _save(Image.new("1", (10_000, 10_000)), "PNG")


def bad_entries() -> dict[str, tuple[bytes, str]]:
    """Archive path -> (bytes, words the skip reason must contain)."""
    truncated = _save(photo(20, (64, 64)), "JPEG")
    return {
        "bad/notes.txt": (b"just some text, not a picture\n" * 10, "not an image"),
        # The first bytes of a phone's video: a QuickTime file type box, then the movie.
        "bad/IMG_0001.MOV": (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(2000), "a video, not a photo"),
        "bad/truncated.jpg": (truncated[: len(truncated) // 3], "corrupt or truncated"),
        "bad/empty.jpg": (b"", "empty file"),
        "bad/bomb.png": (bomb_png(), "too many pixels"),
        "bad/drawing.eps": (_save(photo(21), "EPS"), "unsupported image format EPS"),
    }


def write_zip(path, files: dict[str, bytes], unsafe: bool = False) -> None:
    """A zip of `files`; with unsafe, also an absolute path, a '..' path and a symbolic link."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if unsafe:
            zf.writestr("/tmp/cbir-escape-absolute.png", _save(photo(30), "PNG"))
            zf.writestr("../cbir-escape-dotdot.png", _save(photo(31), "PNG"))
            link = zipfile.ZipInfo("links/evil.png")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, "/etc/passwd")


def photos_zip(path, count: int, size: tuple[int, int] = (300, 200)) -> None:
    """A zip of `count` JPEG photos of `size`, large enough to be treated as photos, not thumbnails."""
    write_zip(path, {f"animals/{i:02d}.jpg": _save(photo(i, size), "JPEG", quality=85) for i in range(count)})


UNSAFE_REASONS = {
    "/tmp/cbir-escape-absolute.png": "unsafe path",
    "../cbir-escape-dotdot.png": "unsafe path",
    "links/evil.png": "symbolic link",
}
