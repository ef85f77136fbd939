"""bench/rebuild_datasets.py on tiny made-up sources shaped like the public ones: which files each
data set keeps, in which order and under which names, and what the zip looks like."""

from __future__ import annotations

import io
import os
import pickle
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import rebuild_datasets
from bench.rebuild_datasets import BIGCATS, DOG_BREEDS, main


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (16, 12), fmt: str = "JPEG", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def coded(index: int) -> tuple[int, int, int]:
    """A colour that tells which source file a picture came from, through JPEG's rounding."""
    return (index % 16) * 16 + 8, (index // 16 % 16) * 16 + 8, 128


def decoded_index(data: bytes) -> int:
    red, green, _ = Image.open(io.BytesIO(data)).convert("RGB").getpixel((4, 4))
    return round((red - 8) / 16) + 16 * round((green - 8) / 16)


def rebuild(name: str, source: Path, out: Path) -> zipfile.ZipFile:
    assert main([name, str(source), "--out", str(out)]) == 0
    return zipfile.ZipFile(out / f"{name}.zip")


def test_bigcats_keeps_small_readable_new_files_in_sorted_order(tmp_path):
    animals = tmp_path / "CNN_Tensorflow_Project-main" / "animals"
    for label in BIGCATS:
        (animals / label).mkdir(parents=True)
        (animals / label / ".DS_Store").write_bytes(b"\0" * 100)
    cheetah, leopard = animals / "cheetah", animals / "leopard"
    (cheetah / "b.jpg").write_bytes(jpeg(coded(1)))
    (cheetah / "a.jpg").write_bytes(jpeg(coded(0)))
    (cheetah / "c.jpg").write_bytes(jpeg(coded(2), fmt="WEBP"))  # a WebP named .jpg, as on the web
    (cheetah / "big.jpg").write_bytes(jpeg(coded(3)) + b"\0" * 1_000_000)  # 1 MB or more: left out
    (cheetah / "notes.txt").write_bytes(b"not a picture")
    (leopard / "0.jpg").write_bytes((cheetah / "b.jpg").read_bytes())  # a cheetah's file: left out
    (leopard / "1.jpg").write_bytes(jpeg(coded(4), size=(1024, 600)))  # shrunk to 512 x 300
    (animals / "lion" / "x.png").write_bytes(jpeg(coded(5), fmt="PNG"))
    (animals.parent / "images").mkdir()
    (animals.parent / "images" / "my_image.jpg").write_bytes(jpeg(coded(6)))  # not a class folder

    archive = rebuild("bigcats", animals.parent, tmp_path / "out")

    names = [info.filename for info in archive.infolist()]
    assert names == [
        "bigcats/cheetah/0000.jpg",
        "bigcats/cheetah/0001.jpg",
        "bigcats/cheetah/0002.jpg",
        "bigcats/leopard/0000.jpg",
        "bigcats/lion/0000.jpg",
    ]
    assert [decoded_index(archive.read(name)) for name in names] == [0, 1, 2, 4, 5]
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    for name in names:
        picture = Image.open(io.BytesIO(archive.read(name)))
        assert picture.format == "JPEG" and picture.mode == "RGB"
    assert Image.open(io.BytesIO(archive.read("bigcats/leopard/0000.jpg"))).size == (512, 300)
    # Re-encoded as the benchmarks' copies: JPEG quality 88 of the picture as decoded, not resized.
    again = io.BytesIO()
    Image.open(cheetah / "a.jpg").convert("RGB").save(again, "JPEG", quality=88)
    assert archive.read("bigcats/cheetah/0000.jpg") == again.getvalue()


def test_bigcats_applies_the_exif_orientation(tmp_path):
    animals = tmp_path / "animals"
    (animals / "tiger").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show the picture rotated by 90 degrees
    (animals / "tiger" / "turned.jpg").write_bytes(jpeg(coded(0), size=(40, 20), exif=exif.tobytes()))

    archive = rebuild("bigcats", animals, tmp_path / "out")  # the animals/ folder itself, given

    assert Image.open(io.BytesIO(archive.read("bigcats/tiger/0000.jpg"))).size == (20, 40)


def test_dogbreeds_draws_300_of_each_breed_from_train_and_val_with_seed_0(tmp_path, monkeypatch):
    monkeypatch.setattr(rebuild_datasets, "DOG_PER_BREED", 6)  # 300 of 305, scaled down: 6 of 9
    per_synset = 9
    source = tmp_path / "Tp_final_vision-main.zip"
    with zipfile.ZipFile(source, "w") as downloaded:  # as GitHub's "Download ZIP" makes it
        for synset in DOG_BREEDS:
            for index in range(per_synset):
                split = "val" if index % 3 == 0 else "train"
                name = f"Tp_final_vision-main/imagewoof2-160/{split}/{synset}/{synset}_{index:04d}.JPEG"
                size = (400, 160) if index % 2 == 0 else (24, 16)
                downloaded.writestr(name, jpeg(coded(index), size=size))
        downloaded.writestr("Tp_final_vision-main/imagewoof2-160/noisy_imagewoof.csv", "path,label\n")

    archive = rebuild("dogbreeds", source, tmp_path / "out")

    names = [info.filename for info in archive.infolist()]
    assert len(names) == 6 * len(DOG_BREEDS)
    assert names[0].startswith("dogbreeds/shih-tzu/") and names[-1].startswith("dogbreeds/dingo/")
    draw = random.Random(0)  # the documented rule, worked out here on the files' numbers
    for breed in DOG_BREEDS.values():
        chosen = sorted(draw.sample(range(per_synset), 6))  # names sort as their numbers here
        inside = [name for name in names if name.startswith(f"dogbreeds/{breed}/")]
        assert inside == [f"dogbreeds/{breed}/{number:04d}.jpg" for number in range(6)]
        assert [decoded_index(archive.read(name)) for name in inside] == chosen
        for name, index in zip(inside, chosen):  # a 400 x 160 photo is kept at a longer side of 320
            size = Image.open(io.BytesIO(archive.read(name))).size
            assert size == ((320, 128) if index % 2 == 0 else (24, 16))


def test_antsbees_keeps_the_training_split_as_published(tmp_path):
    source = tmp_path / "hymenoptera_data.zip"
    files = {
        "hymenoptera_data/train/ants/b_ant.jpg": jpeg(coded(1)),
        "hymenoptera_data/train/ants/0013035.jpg": jpeg(coded(0)),
        "hymenoptera_data/train/bees/bee.jpg": jpeg(coded(2), size=(900, 700)),
        "hymenoptera_data/val/ants/val_ant.jpg": jpeg(coded(3)),
    }
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as downloaded:
        for name, data in files.items():
            downloaded.writestr(name, data)

    archive = rebuild("antsbees", source, tmp_path / "out")

    assert [info.filename for info in archive.infolist()] == [
        "antsbees/ants/0013035.jpg",
        "antsbees/ants/b_ant.jpg",
        "antsbees/bees/bee.jpg",
    ]
    assert archive.read("antsbees/bees/bee.jpg") == files["hymenoptera_data/train/bees/bee.jpg"]  # bytes as they are
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def cifar_tarball(path: Path, labels: list[int]) -> np.ndarray:
    """A cifar-10-python.tar.gz whose test batch holds one plain-coloured thumbnail per label."""
    pixels = np.zeros((len(labels), 3, 32, 32), dtype=np.uint8)
    for row in range(len(labels)):
        pixels[row, 0], pixels[row, 1], pixels[row, 2] = coded(row)
    batch = pickle.dumps(
        {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": pixels.reshape(-1, 3072)}
    )
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(batch)
        tar.addfile(info, io.BytesIO(batch))
    return pixels


@pytest.mark.parametrize(("name", "per_class"), [("cifar10-animals", 1000), ("cifar10-animals-mini", 50)])
def test_cifar_keeps_the_six_animals_numbered_in_the_test_sets_order(tmp_path, name, per_class):
    labels = [3, 0, 2, 3, 9, 7, 3, 4, 5, 6, 2] + [3] * 50  # 0 airplane and 9 truck are not animals
    cifar_tarball(tmp_path / "cifar-10-python.tar.gz", labels)

    archive = rebuild(name, tmp_path / "cifar-10-python.tar.gz", tmp_path / "out")

    files = [info for info in archive.infolist() if not info.is_dir()]
    expected = {  # label name -> the rows of the test batch it keeps, in order
        "bird": [2, 10],
        "cat": [0, 3, 6, *range(11, 61)],
        "deer": [7],
        "dog": [8],
        "frog": [9],
        "horse": [5],
    }
    kept = {(animal, number): row for animal, rows in expected.items() for number, row in enumerate(rows[:per_class])}
    assert {info.filename for info in files} == {f"{name}/{animal}/{number:04d}.jpg" for animal, number in kept}
    for (animal, number), row in kept.items():
        assert decoded_index(archive.read(f"{name}/{animal}/{number:04d}.jpg")) == row
    assert {info.compress_type for info in files} == {zipfile.ZIP_DEFLATED}
    folders = {info.filename for info in archive.infolist() if info.is_dir()}
    assert folders == {f"{name}/"} | {f"{name}/{animal}/" for animal in expected}
    assert Image.open(io.BytesIO(archive.read(files[0].filename))).size == (32, 32)


class _Planted:
    def __reduce__(self):
        return (os.system, ("touch planted",))


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"labels": [3], b"data": _Planted()}))

    with pytest.raises(pickle.UnpicklingError):
        rebuild_datasets.cifar_test_batch(folder)
    assert not (tmp_path / "planted").exists()


def test_mistakes_change_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "antsbees.zip").write_bytes(b"the copy you have")
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(SystemExit, match="does not exist"):
        main(["antsbees", str(tmp_path / "missing.zip"), "--out", str(out)])
    with pytest.raises(SystemExit, match="--replace"):
        main(["antsbees", str(empty), "--out", str(out)])
    with pytest.raises(SystemExit, match="no photo of bigcats"):
        main(["bigcats", str(empty), "--out", str(out)])

    assert (out / "antsbees.zip").read_bytes() == b"the copy you have"
    assert sorted(path.name for path in out.iterdir()) == ["antsbees.zip"]  # no partial zip left


def test_the_zips_go_to_cbir_datasets_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CBIR_DATASETS", str(tmp_path / "datasets"))
    source = tmp_path / "hymenoptera_data" / "train" / "bees"
    source.mkdir(parents=True)
    (source / "bee.jpg").write_bytes(jpeg(coded(0)))

    assert main(["antsbees", str(tmp_path / "hymenoptera_data")]) == 0

    assert zipfile.ZipFile(tmp_path / "datasets" / "antsbees.zip").namelist() == ["antsbees/bees/bee.jpg"]
