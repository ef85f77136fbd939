"""A model trained by the previous version (tests/data/checkpoint-before-photo-encoder.pt,
written by commit 100ca9d's code: the plain 32-px-era encoder, Pillow's resize) still loads,
embeds exactly as it did, and fills and searches a collection."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from encoder import checkpoint as ckpt
from encoder.checkpoint import RESIZE_PILLOW
from encoder.embed import Embedder

from conftest import run_cli
from images_for_tests import photo, write_zip

OLD = Path(__file__).parent / "data" / "checkpoint-before-photo-encoder.pt"


def test_the_previous_versions_checkpoint_loads_with_its_own_transform():
    checkpoint = ckpt.load(OLD)  # the id check passes: weights and config are what they were
    assert checkpoint.transform.resize == RESIZE_PILLOW and checkpoint.transform.image_size == 16
    embedder = Embedder(checkpoint)
    vectors, errors = embedder.embed_images([photo(i, (40, 30)) for i in range(4)])
    assert vectors.shape == (4, checkpoint.model_config.latent_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5) and (errors > 0).all()
    again, _ = embedder.embed_images([photo(i, (40, 30)) for i in range(4)])
    assert np.array_equal(vectors, again)


def test_a_collection_filled_with_the_previous_model_searches(tmp_path):
    model_id = ckpt.load(OLD).model_id
    home = tmp_path / "cbir-data"
    (home / "models" / model_id).mkdir(parents=True)
    shutil.copy(OLD, home / "models" / model_id / "model.pt")
    files = {}
    for i in range(12):
        buffer = io.BytesIO()
        photo(100 + i, (48, 36)).save(buffer, "PNG")
        files[f"shapes/{i:02d}.png"] = buffer.getvalue()
    archive = tmp_path / "photos.zip"
    write_zip(archive, files)
    loaded = run_cli(home, "load", str(archive), "--model", model_id, "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["indexed"] == 12 and json.loads(loaded.stdout)["model_id"] == model_id
    query = tmp_path / "query.png"
    query.write_bytes(files["shapes/05.png"])
    hits = json.loads(run_cli(home, "search", str(query), "-k", "3", "--json").stdout)
    assert hits[0]["path"] == "shapes/05.png" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
