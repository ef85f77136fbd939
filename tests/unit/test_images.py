"""Decoding untrusted bytes (`ingest.images`), fast and in memory: every mode and format the
product reads becomes a faithful RGB picture, and every kind of bad file a one-line reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from ingest.images import ImageRejected, decode, picture_size
from ingest.store.media import decode_picture

from images_for_tests import bad_entries, good_images, photo


def test_every_image_mode_decodes_to_a_faithful_rgb_picture():
    for name, data in good_images().items():
        decoded = decode(data)
        assert decoded.image.mode == "RGB", name
        pixels = np.asarray(decoded.image, dtype=np.float32)
        assert pixels.std() > 5, f"{name} decoded to a flat picture"
    # 16-bit samples keep their range: a 0..65535 ramp becomes a 0..255 ramp, not all white.
    ramp = np.asarray(decode(good_images()["modes/sixteen.png"]).image)[..., 0]
    assert ramp.min() == 0 and ramp.max() == 255
    # Transparency is composited onto white.
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, "PNG")
    assert decode(buffer.getvalue()).image.getpixel((0, 0)) == (255, 255, 255)


def test_the_format_comes_from_the_content_and_rotation_from_exif():
    images = good_images()
    assert decode(images["modes/png-named.jpg"]).format == "PNG"
    rotated = decode(images["modes/rotated.jpg"])
    assert (rotated.width, rotated.height) == (20, 40) and rotated.image.size == (20, 40)
    assert decode(images["modes/portrait.jpg"]).format == "MPO"
    heic, avif = decode(images["modes/phone.heic"]), decode(images["modes/photo.avif"])
    assert heic.format == "HEIF" and (heic.width, heic.height) == (20, 40) and heic.image.size == (20, 40)
    assert avif.format == "AVIF" and avif.image.size == (40, 30)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("order", ["<", ">"])  # phones write little-endian blocks, Canon and Nikon big
def test_each_exif_orientation_turns_the_picture_as_pillow_does(orientation, order):
    """decode reads the orientation from the EXIF block itself (not Pillow's getexif, which parses
    IFD0 again): the pixels and the size shown must be exactly what Pillow's exif_transpose gives."""
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "Canon"
    exif.endian = order
    pixels = np.random.default_rng(orientation).integers(0, 256, (20, 36, 3), dtype=np.uint8)
    files = {}
    for fmt in ("JPEG", "PNG", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt, exif=exif.tobytes(), lossless=True)
        files[fmt] = buffer.getvalue()
    for fmt, data in files.items():
        expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        decoded = decode(data)
        assert decoded.exif.orientation == orientation, fmt
        assert (decoded.width, decoded.height) == expected.size == picture_size(data), fmt
        assert np.array_equal(np.asarray(decoded.image), np.asarray(expected)), fmt


def test_a_phones_jpeg_is_decoded_without_pillow_parsing_its_exif(monkeypatch):
    """Pillow would parse a JPEG's EXIF block as it opens it, for a DPI nothing here uses (60 us a
    photo); decode reads the block itself, once. Fails when a Pillow release renames the method
    ingest.images turns off."""
    exif = Image.Exif()
    exif[0x0112], exif[0x011A], exif[0x0128] = 6, 300.0, 2
    buffer = io.BytesIO()
    Image.new("RGB", (36, 20), (10, 120, 200)).save(buffer, "JPEG", exif=exif.tobytes())
    parsed = []
    real_load = Image.Exif.load
    monkeypatch.setattr(Image.Exif, "load", lambda self, data: parsed.append(data) or real_load(self, data))
    decoded = decode(buffer.getvalue())
    assert decoded.image.size == (20, 36) and decoded.exif.orientation == 6
    assert parsed == []


def test_an_orientation_said_only_in_xmp_is_followed_as_pillow_follows_it():
    buffer = io.BytesIO()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    Image.new("RGB", (36, 20), (200, 30, 30)).save(buffer, "JPEG", xmp=xmp)
    assert decode(buffer.getvalue()).image.size == (20, 36)


def test_a_phones_jpeg_with_a_depth_map_after_it_is_decoded_small_like_any_jpeg():
    portrait = io.BytesIO()
    photo(3, (1600, 1200)).save(portrait, "MPO", save_all=True, append_images=[photo(4, (1600, 1200))])
    picture = decode_picture(portrait.getvalue())
    assert picture.format == "MPO" and picture.image.size == (800, 600)  # as a 1600 x 1200 JPEG is
    plain = io.BytesIO()
    photo(3, (1600, 1200)).save(plain, "JPEG")
    assert np.array_equal(np.asarray(picture.image), np.asarray(decode_picture(plain.getvalue()).image))


def test_a_camera_jpeg_over_the_pixel_limit_is_decoded_small_where_a_png_of_that_size_is_refused():
    # 61 megapixels (a Sony A7R's 9504 x 6336): a JPEG is decoded at 1/8, 7.5 million bytes of
    # RGB; a PNG would be decoded whole. Both were refused as decompression bombs before.
    camera = io.BytesIO()
    Image.new("RGB", (9504, 6336), (90, 120, 60)).save(camera, "JPEG", quality=85)
    picture = decode_picture(camera.getvalue())
    assert (picture.width, picture.height) == (9504, 6336) and picture.image.size == (1188, 792)
    with pytest.raises(ImageRejected, match=r"too many pixels \(9,504 x 6,336; at most 50,000,000 are decoded\)"):
        decode(camera.getvalue())  # asked for whole, it is too big
    scan = io.BytesIO()
    Image.new("1", (9504, 6336)).save(scan, "PNG")
    with pytest.raises(ImageRejected, match="too many pixels"):
        decode_picture(scan.getvalue())


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_big_heic_or_avif_is_reduced_like_a_jpeg_and_copied_as_a_jpeg(fmt):
    from ingest.store.media import THUMBNAIL_SIDE, media_copy

    original = photo(5, (1024, 768))
    buffer = io.BytesIO()
    original.save(buffer, fmt, quality=90)
    picture = decode_picture(buffer.getvalue())
    assert picture.format == fmt and (picture.width, picture.height) == (1024, 768)
    assert picture.image.size == (512, 384)  # halved, as a 1024 x 768 JPEG is decoded
    reduced = np.asarray(original.reduce(2), dtype=np.float32)
    assert np.abs(np.asarray(picture.image, dtype=np.float32) - reduced).mean() < 4  # the photo, not noise
    # The page hands stored files to the browser, and no browser but Safari shows a HEIC: even a
    # small one is kept as a JPEG, where a small JPEG or PNG keeps its own bytes.
    small = io.BytesIO()
    photo(6, (64, 48)).save(small, fmt)
    copy = media_copy(small.getvalue(), decode_picture(small.getvalue()).image, (64, 48), fmt)
    assert Image.open(io.BytesIO(copy)).format == "JPEG" and THUMBNAIL_SIDE > 64
    png = good_images()["top-level.png"]
    assert media_copy(png, decode_picture(png).image, (40, 30), "PNG") == png


@pytest.mark.parametrize("name", sorted(bad_entries()))
def test_each_bad_file_is_refused_with_its_reason(name):
    data, words = bad_entries()[name]
    with pytest.raises(ImageRejected) as refused:
        decode(data)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_that_still_covers_the_side():
    buffer = io.BytesIO()
    photo(3, (1600, 1200)).save(buffer, "JPEG", quality=90)
    decoded = decode(buffer.getvalue(), target_side=256)
    assert (decoded.width, decoded.height) == (1600, 1200)  # the payload keeps the full size
    assert min(decoded.image.size) >= 256 and decoded.image.size[0] < 1600  # decoded smaller, never below


@pytest.mark.parametrize(
    "size, decoded",
    [
        ((4032, 3024), (504, 378)),  # a 12-megapixel phone photo: 1/8, the longer side just under 512
        ((3024, 4032), (378, 504)),  # the same, upright
        ((2000, 1500), (500, 375)),  # 1/8 would leave 250 x 188: 1/4
        ((4000, 1000), (2000, 500)),  # a panorama: 1/4 would leave the shorter side at 250
        ((600, 400), (600, 400)),  # small enough already
    ],
)
def test_a_load_decodes_a_big_jpeg_at_the_smallest_scale_that_keeps_its_copy_and_embedding_sharp(size, decoded):
    buffer = io.BytesIO()
    photo(4, size).save(buffer, "JPEG", quality=90)
    picture = decode_picture(buffer.getvalue())
    assert picture.image.size == decoded and (picture.width, picture.height) == size
