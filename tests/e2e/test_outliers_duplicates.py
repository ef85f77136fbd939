"""`ingest outliers` and `ingest duplicates` through the real CLI, on the mini sample with
pictures planted in it: pure noise (nothing an animal autoencoder can draw), a byte-identical
copy of a photo at another path, and two re-encoded copies (PNG, and JPEG at quality 60)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import copy_home, run_cli

NOISE = "planted/noise.png"
EXACT_ORIGINAL, EXACT_COPY = "cifar10-animals-mini/cat/0001.jpg", "planted/copy-of-cat-0001.jpg"
PNG_ORIGINAL, PNG_COPY = "cifar10-animals-mini/dog/0002.jpg", "planted/dog-0002.png"
JPEG_ORIGINAL, JPEG_COPY = "cifar10-animals-mini/horse/0003.jpg", "planted/horse-0003-q85.jpg"
GRID_ROW_PX = 96 + 14 + 4  # encoder.plots.image_grid: cell, caption, padding


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def planted_home(loaded_home, tmp_path_factory, mini_images) -> Path:
    """A copy of the loaded mini sample plus a second zip of planted pictures, embedded by
    its model. Module-wide: the tests here only read it."""
    folder = tmp_path_factory.mktemp("planted")
    home = folder / "cbir-data"
    copy_home(loaded_home, home)
    rng = np.random.default_rng(0)
    # Each channel of each 2x2 block black or white at random: an autoencoder cannot predict
    # independent bits, and its best guess (mid-grey everywhere) still has an MSE of 0.25.
    # Blocks, not single pixels: thumbnails are embedded at 40 px and compared with the decoder's
    # 32 px, and that resampling would smooth single-pixel noise towards grey.
    bits = rng.integers(0, 2, (16, 16, 3)).repeat(2, axis=0).repeat(2, axis=1)
    noise = Image.fromarray((bits * 255).astype(np.uint8))
    planted = {
        NOISE: encoded(noise, "PNG"),
        EXACT_COPY: mini_images[EXACT_ORIGINAL],
        PNG_COPY: encoded(Image.open(io.BytesIO(mini_images[PNG_ORIGINAL])), "PNG"),
        JPEG_COPY: encoded(Image.open(io.BytesIO(mini_images[JPEG_ORIGINAL])), "JPEG", quality=85),
    }
    assert planted[JPEG_COPY] != mini_images[JPEG_ORIGINAL]
    archive = folder / "planted.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in planted.items():
            zf.writestr(name, data)
    loaded = run_cli(home, "load", str(archive), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["indexed"] == 3  # the exact copy is a copy, not a point
    return home


def test_outliers_put_planted_noise_in_the_top_three_and_draw_them(planted_home, tmp_path):
    montage = tmp_path / "outliers.png"
    result = run_cli(planted_home, "outliers", "-n", "3", "--json", "--out", str(montage))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert NOISE in [row["path"] for row in found["outliers"]]
    errors = [row["recon_error"] for row in found["outliers"]]
    assert len(errors) == 3 and errors == sorted(errors, reverse=True)
    assert errors[-1] > found["median_recon_error"]
    assert found["points"] == 303
    with Image.open(montage) as picture:
        assert picture.format == "PNG" and picture.height == GRID_ROW_PX + 4

    table = run_cli(planted_home, "outliers", "-n", "5")
    assert table.returncode == 0, table.stderr
    assert len([line for line in table.stdout.splitlines() if ".zip:" in line]) == 5
    assert f"planted.zip:{NOISE}" in table.stdout


def test_duplicates_groups_exact_and_re_encoded_copies_with_their_originals(planted_home, tmp_path):
    montage = tmp_path / "duplicates.png"
    result = run_cli(planted_home, "duplicates", "--json", "--out", str(montage))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    groups = [{m["path"]: m for m in group["members"]} for group in found["groups"]]

    def group_of(path: str) -> dict:
        (group,) = [g for g in groups if path in g]
        return group

    exact = group_of(EXACT_COPY)
    assert set(exact) == {EXACT_ORIGINAL, EXACT_COPY}
    assert exact[EXACT_COPY]["same_bytes_as"] == EXACT_ORIGINAL
    assert exact[EXACT_COPY]["id"] == exact[EXACT_ORIGINAL]["id"]  # one point, two places
    for original, copy in ((PNG_ORIGINAL, PNG_COPY), (JPEG_ORIGINAL, JPEG_COPY)):
        group = group_of(copy)
        assert set(group) == {original, copy}
        assert group[copy]["same_bytes_as"] is None and group[copy]["id"] != group[original]["id"]
        assert max(group[copy]["score"], group[original]["score"]) == pytest.approx(1.0)
        assert min(group[copy]["score"], group[original]["score"]) > 0.98
    assert not any(NOISE in g for g in groups)
    with Image.open(montage) as picture:  # one row per group
        assert picture.height == len(found["groups"]) * GRID_ROW_PX + 4

    table = run_cli(planted_home, "duplicates")
    assert f"same bytes as {EXACT_ORIGINAL}" in table.stdout and f"planted.zip:{JPEG_COPY}" in table.stdout
