"""Reading a zip or a folder (`ingest.load.reader`), fast and on tiny files: what is yielded,
what is skipped and why, and that nothing is ever extracted."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import zipfile
from pathlib import PurePosixPath

import numpy as np
import pytest
from PIL import Image

from ingest.errors import UserError
from ingest.load.reader import RawFile, Skipped, Source, is_os_clutter, label_of, path_parts

from images_for_tests import UNSAFE_REASONS, good_images, write_zip


def entries(source: Source) -> tuple[dict[str, RawFile], dict[str, str]]:
    found, skipped = {}, {}
    for entry in source:
        if isinstance(entry, Skipped):
            skipped[entry.path] = entry.reason
        else:
            found[entry.path] = entry
    return found, skipped


def test_a_zip_yields_its_files_with_labels_and_skips_unsafe_entries(tmp_path):
    files = {**good_images(), "__MACOSX/._cat.jpg": b"finder", "cats/.DS_Store": b"finder"}
    archive = tmp_path / "photos.zip"
    write_zip(archive, files, unsafe=True)
    source = Source(archive)
    found, skipped = entries(source)
    assert set(found) == set(good_images())  # OS clutter is not even mentioned
    assert found["modes/rgb.jpg"].label == "modes" and found["top-level.png"].label is None
    assert found["modes/rgb.jpg"].data == good_images()["modes/rgb.jpg"]
    assert {path: reason.split(" (")[0] for path, reason in skipped.items()} == UNSAFE_REASONS
    assert source.count() == len(found) + len(skipped)
    assert not (tmp_path / "modes").exists()  # nothing extracted


def test_a_folder_reads_like_a_zip_and_skips_links(tmp_path):
    folder = tmp_path / "photos"
    for name, data in good_images().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    os.symlink("/etc/passwd", folder / "modes" / "evil.png")
    found, skipped = entries(Source(folder))
    assert set(found) == set(good_images())
    assert skipped == {"modes/evil.png": "symbolic link"}


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_a_video_is_told_by_its_first_bytes_before_its_size(tmp_path, monkeypatch, kind):
    from ingest.load import reader

    monkeypatch.setattr(reader, "MAX_BYTES", 10_000)  # what a 64 MB limit is to a 1 GB video
    monkeypatch.setattr(reader, "MAX_MB", 0)
    quicktime = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "
    files = {
        "phone/IMG_0001.MOV": quicktime + bytes(20_000),  # over the limit: still called a video
        "phone/IMG_0002.MP4": b"\x00\x00\x00\x18ftypmp42" + bytes(500),
        "phone/big.jpg": b"\xff\xd8\xff" + bytes(20_000),
        "phone/photo.heic": good_images()["modes/phone.heic"],  # the same box, a picture's brand
    }
    if kind == "zip":
        write_zip(tmp_path / "phone.zip", files)
        source = Source(tmp_path / "phone.zip")
    else:
        for name, data in files.items():
            (tmp_path / "phone" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "phone" / name).write_bytes(data)
        source = Source(tmp_path / "phone")
    found, skipped = entries(source)
    assert set(found) == {"phone/photo.heic"}
    assert skipped["phone/IMG_0001.MOV"] == skipped["phone/IMG_0002.MP4"] == "a video, not a photo"
    assert skipped["phone/big.jpg"].startswith("file too large")


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("hello"), "is not a zip archive"),
        (lambda p: zipfile.ZipFile(p, "w").close(), "empty zip"),
    ],
)
def test_a_wrong_path_is_one_user_error_before_anything_is_read(tmp_path, make, words):
    path = tmp_path / "x.zip"
    make(path)
    with pytest.raises(UserError, match=words):
        Source(path)


def test_the_label_is_the_folder_a_file_is_in():
    assert label_of("CBIR/cat/001.jpg") == "cat"
    assert label_of("001.jpg") is None


def test_paths_are_split_as_pathlib_splits_them():
    """The reader splits names with string work (pathlib costs several times as much for every
    entry of a big zip); pathlib is the reference, on every path of up to four of these parts."""
    pieces = ["cat", "/", "//", ".", "..", "._x.jpg", ".DS_Store", "__MACOSX", "a.jpg"]
    for n in range(5):
        for combination in itertools.product(pieces, repeat=n):
            path = "".join(combination)
            reference = PurePosixPath(path)
            assert path_parts(path) == list(reference.parts[1:] if reference.anchor else reference.parts), path
            assert label_of(path) == (reference.parent.name or None), path
            clutter = "__MACOSX" in reference.parts or reference.name.startswith("._") or reference.name == ".DS_Store"
            assert is_os_clutter(path) == clutter, path


@pytest.mark.parametrize("threads", [2, 8])  # this machine's count, and a bigger machine's
def test_records_come_in_the_sources_order_while_big_files_decode_side_by_side(tmp_path, monkeypatch, threads):
    from ingest.images import decode
    from ingest.load import records
    from ingest.load.records import PARALLEL_DECODE_BYTES, read_records

    monkeypatch.setattr(records, "DECODE_THREADS", threads)

    rng = np.random.default_rng(0)

    def big_jpeg(seed: int) -> bytes:  # noise does not compress: a file over PARALLEL_DECODE_BYTES
        pixels = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
        return buffer.getvalue()

    small = good_images()
    files = {}
    for n in range(12):  # big and small files interleaved, bad ones of both sizes among them
        files[f"big/{n:02d}.jpg"] = big_jpeg(n)
        name, data = list(small.items())[n % len(small)]
        files[f"small/{n:02d}-{PurePosixPath(name).name}"] = data
    files["big/broken.jpg"] = files["big/03.jpg"][: PARALLEL_DECODE_BYTES + 1000]  # truncated
    files["small/notes.txt"] = b"not a picture"
    assert min(len(d) for p, d in files.items() if p.startswith("big/")) >= PARALLEL_DECODE_BYTES
    write_zip(tmp_path / "mixed.zip", files)
    source = Source(tmp_path / "mixed.zip")
    order = [entry.path for entry in source]
    seen: list[str] = []
    for record in read_records(source, lambda skipped: seen.append(skipped.path), False, decode):
        seen.append(record.path)
        assert record.sha256 == hashlib.sha256(files[record.path]).hexdigest()
        assert np.array_equal(np.asarray(record.image), np.asarray(decode(files[record.path]).image))
    assert seen == order  # every entry once, records and skips alike, as the source has them
