"""The model's input side, chosen from the photos' sizes: thumbnails stay small, photos get
the side that keeps an animal recognisable, and the reason is said in one line. And the photos
training sees at that side: a uniform sample, bounded in memory, whose memory goes back to
the system once training ends."""

from __future__ import annotations

import io
import json
import platform
import random
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from encoder.checkpoint import TransformSpec
from encoder.embed import Embedder
from encoder.recipe import (
    FEW_PHOTOS,
    PHOTO_SIDE,
    SIDES,
    choose_side,
    few_photos,
    for_collection,
    photos,
)
from encoder.transforms import fixed_transform
from ingest.load import training
from ingest.load.reader import Source

from conftest import run_cli
from images_for_tests import photo, photos_zip, write_zip


def test_thumbnails_keep_their_size():
    choice = choose_side([32] * 6000)
    assert choice.side == 32
    assert choice.reason == "32 px crops: the median photo's shorter side is 32 px; the photos' own size"


def test_photos_get_the_photo_side():
    choice = choose_side([224] * 1000 + [320] * 500 + [384] * 281, out_of=50_000)
    assert choice.side == PHOTO_SIDE
    assert "median photo's shorter side is 224 px (from 1,781 of 50,000 files)" in choice.reason
    assert "recognisable" in choice.reason and "\n" not in choice.reason


def test_a_mixed_collection_follows_its_median_photo():
    assert choose_side([32] * 60 + [400] * 40).side == 32  # mostly thumbnails
    assert choose_side([32] * 40 + [400] * 60).side == PHOTO_SIDE  # mostly photos
    between = choose_side([40] * 100)  # too small for the next side up: not enlarged
    assert between.side == 32 and f"a larger side ({SIDES[1]} px) would enlarge most of them" in between.reason


def test_a_few_huge_panoramas_change_nothing():
    assert choose_side([240] * 97 + [9000] * 3).side == PHOTO_SIDE
    assert choose_side([20] * 97 + [9000] * 3).side == 32  # tiny icons: the smallest side, never below


def test_a_collection_gets_the_recipe_of_its_size():
    assert for_collection(32, 6000).name == "thumbnails"
    assert for_collection(32, 100).name == "thumbnails"  # a few thumbnails: nothing to cut finer views from
    few, many = for_collection(PHOTO_SIDE, FEW_PHOTOS - 1), for_collection(PHOTO_SIDE, FEW_PHOTOS)
    assert (few.name, many.name) == ("few photos", "photos")
    assert many == replace(photos(PHOTO_SIDE), why=f"{FEW_PHOTOS:,} photos: {photos(PHOTO_SIDE).why}")
    # The same model, trained and embedded alike; only the embedding's statistics differ.
    assert (few.model, few.training, few.embed_side) == (many.model, many.training, many.embed_side)
    assert not few.whiten and many.whiten


def test_the_load_says_what_it_chose_and_info_records_it(tmp_path):
    archive = tmp_path / "photos.zip"
    photos_zip(archive, 20)
    home = tmp_path / "home"
    result = run_cli(home, "load", str(archive), "--epochs", "1")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("input side")]
    embed_side = photos(PHOTO_SIDE).embed_side
    assert said == [
        f"input side {embed_side} px, trained on {PHOTO_SIDE} px crops: the median photo's shorter side is 200 px; "
        f"{PHOTO_SIDE} px keeps an animal recognisable and is the largest side the time budget trains well"
    ]
    # 20 photos are a few: the load says which recipe it chose and why, and the checkpoint records it.
    why = few_photos(PHOTO_SIDE).why
    assert f"recipe: few photos (20 photos, fewer than {FEW_PHOTOS:,}: {why})" in result.stderr.splitlines()
    facts = json.loads(run_cli(home, "info", "--json").stdout)
    assert facts["model"]["image_size"] == PHOTO_SIDE and facts["model"]["embed_side"] == embed_side
    assert facts["model"]["trained_on"]["input_side"] == said[0].removeprefix("input side ")
    assert facts["model"]["trained_on"]["recipe"] == {
        "name": "few photos",
        "why": f"20 photos, fewer than 1,000: {why}",
    }
    assert f"recipe       few photos: 20 photos, fewer than 1,000: {why}" in run_cli(home, "info").stdout
    assert Image.open(facts["pictures"]["reconstructions"]).size[1] > 0
    # A photo model redraws from the encoder's map one stage before the last, at the side it embeds at.
    embedder = Embedder.from_file(Path(facts["pictures"]["reconstructions"]).parent / "model.pt")
    assert embedder.checkpoint.model_config.decoder_map_side == PHOTO_SIDE // 8
    # Photos train with six small multi-crop views (thumbnails with four), and the checkpoint says so.
    assert embedder.checkpoint.train_config["augment"]["small_views"] == 6
    assert embedder.checkpoint.embedding_whitening is None  # a few photos are centred, not whitened
    assert (
        facts["model"]["redrawn_from"]
        == f"the encoder's {PHOTO_SIDE // 8}x{PHOTO_SIDE // 8} map of a {PHOTO_SIDE} px picture"
    )
    photo = fixed_transform(Image.open(io.BytesIO(zip_bytes(archive)[0])), embedder.checkpoint.transform)
    assert embedder.reconstruct(photo[None]).shape == (1, 3, embed_side, embed_side)


def test_the_training_sample_is_a_bounded_uniform_sample_of_the_photos(tmp_path, monkeypatch):
    archive = tmp_path / "photos.zip"
    photos_zip(archive, 20, size=(60, 40))
    spec = TransformSpec(image_size=32)
    monkeypatch.setattr(training, "MAX_TRAIN_BYTES", 5 * 3 * 32**2)  # room for 5 photos
    sample, info = training.training_images(Source(archive), spec, print, False)
    assert sample.shape == (5, 3, 32, 32) and info["trained_on"] == 5 and info["images"] == 20
    every = [fixed_transform(Image.open(io.BytesIO(data)), spec) for data in zip_bytes(archive)]
    picked = [next(i for i, photo in enumerate(every) if torch.equal(photo, row)) for row in sample]
    assert len(set(picked)) == 5 and set(picked) != set(range(5))  # a random sample, not the first five


def test_only_the_photos_the_training_sample_takes_are_decoded(tmp_path, monkeypatch):
    names = [f"p/{i:02d}.png" for i in range(30)]
    files = {name: _png(photo(i, (60, 40))) for i, name in enumerate(names)}
    # Five of the 30 files, chosen as training chooses them (worked out here independently).
    taken = [names[i] for i in sorted(random.Random(0).sample(range(30), 5))]
    broken = taken[1]  # chosen, reported, and the sample is one photo smaller
    files[broken] = files[broken][:60]
    write_zip(tmp_path / "photos.zip", files)
    spec = TransformSpec(image_size=32)
    monkeypatch.setattr(training, "MAX_TRAIN_BYTES", 5 * 3 * 32**2)  # room for 5 photos
    decoded: list[bytes] = []
    real_decode = training.decode
    monkeypatch.setattr(training, "decode", lambda data, **kw: decoded.append(data) or real_decode(data, **kw))
    reported: list = []
    sample, info = training.training_images(Source(tmp_path / "photos.zip"), spec, reported.append, False)
    assert sorted(decoded) == sorted(files[name] for name in taken)  # the other 25 are hashed, never decoded
    assert [skipped.path for skipped in reported] == [broken]
    expected = [fixed_transform(Image.open(io.BytesIO(files[name])), spec) for name in taken if name != broken]
    assert info["trained_on"] == 4 and info["images"] == 30
    assert all(torch.equal(row, photo) for row, photo in zip(sample, expected, strict=True))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# A load's training, in a process whose heap holds about 290 MB of freed blocks of 1 KB (one in
# 50 kept alive, so glibc cannot shrink the heap from its top): what training freed, and what was
# freed before it, is resident until malloc_trim hands it back.
TRAINING_AFTER_A_FRAGMENTED_HEAP = """
import sys
from pathlib import Path
from ingest.load.reader import Source
from ingest.load.training import TrainingRequest, train_model
def anon_mb():
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("RssAnon"))
blocks = [bytes(1000) + bytes([i % 256]) for i in range(300_000)]
kept = blocks[::50]
del blocks
before = anon_mb()
request = TrainingRequest("animals", image_size=32, epochs=1, retrain=False)
train_model(Source(Path(sys.argv[1])), Path(sys.argv[2]), request, print, str, print, False)
print(before, anon_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA's own resident gigabyte hides it")
def test_the_memory_freed_by_the_time_training_ends_goes_back_to_the_system(tmp_path):
    archive = tmp_path / "photos.zip"
    photos_zip(archive, 24)
    done = subprocess.run(
        [sys.executable, "-c", TRAINING_AFTER_A_FRAGMENTED_HEAP, str(archive), str(tmp_path / "models")],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = map(int, done.stdout.splitlines()[-1].split())
    assert before - after > 150  # of the about 290 MB freed, net of what training itself keeps


def zip_bytes(archive) -> list[bytes]:
    with zipfile.ZipFile(archive) as zf:
        return [zf.read(name) for name in sorted(zf.namelist())]
