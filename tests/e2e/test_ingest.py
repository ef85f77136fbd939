"""The pipeline end to end through the real CLI: load, search, info, reload, a second zip,
retrain, a folder, and an interrupted load completed by running it again."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.load.records import point_id

from conftest import run_cli, start_cli, store_at

MINI_POINTS = 300


def info(home: Path, *args: str) -> dict:
    result = run_cli(home, "info", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def reencoded_zip(path: Path, images: dict[str, bytes], count: int, prefix: str = "more") -> None:
    """`count` sample images re-saved as PNG: same pictures, new bytes, so new points."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in list(images.items())[:count]:
            buffer = io.BytesIO()
            Image.open(io.BytesIO(data)).save(buffer, format="PNG")
            zf.writestr(f"{prefix}/{Path(name).parent.name}/{Path(name).stem}.png", buffer.getvalue())


def test_load_indexes_every_image_with_its_payload(loaded_home):
    facts = info(loaded_home)
    assert facts["points"] == MINI_POINTS
    assert facts["labels"] == {label: 50 for label in ("bird", "cat", "deer", "dog", "frog", "horse")}
    assert facts["physical_collection"] == f"animals-{facts['model_id']}"
    model = facts["model"]
    assert model["epochs_run"] == 2 and len(model["history"]) == 2
    for picture in facts["pictures"].values():
        assert Path(picture).stat().st_size > 1000, picture

    with store_at(loaded_home) as store:
        (point,), _ = store.scroll(facts["physical_collection"], limit=1, vectors=True)
        # Cosine: the store keeps unit vectors; the model makes 256-d ones.
        assert point.vector.shape == (256,) and np.linalg.norm(point.vector) == pytest.approx(1.0, abs=1e-5)
    payload = point.payload
    assert str(point.id) == point_id(payload["sha256"])
    assert Path(payload["source"]).is_absolute()  # the zip's full path: two zips of one name are two sources
    assert Path(payload["source"]).name in ("cifar10-animals-mini.zip", "animals-mini.zip")
    assert payload["label"] == Path(payload["path"]).parent.name
    assert (payload["width"], payload["height"]) == (32, 32)
    assert payload["model_id"] == facts["model_id"] and payload["recon_error"] > 0
    # The media store holds the original bytes under their hash.
    media = loaded_home / "media" / payload["sha256"][:2] / payload["sha256"]
    import hashlib

    assert hashlib.sha256(media.read_bytes()).hexdigest() == payload["sha256"]


def test_search_finds_the_query_itself_first(loaded_home, mini_images, tmp_path):
    name, data = next(iter(sorted(mini_images.items())))
    query = tmp_path / "query.jpg"
    query.write_bytes(data)
    out = tmp_path / "grid.png"
    result = run_cli(loaded_home, "search", str(query), "-k", "7", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 7
    assert set(hits[0]) == {"path", "label", "score", "id"}
    assert hits[0]["path"] == name and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    montage = Image.open(out)
    assert montage.width > 7 * 90 and montage.height > 2 * 90  # query + 7 hits, two rows

    plain = run_cli(loaded_home, "search", str(query), "-k", "3")
    assert plain.returncode == 0 and len(plain.stdout.strip().splitlines()) == 3
    assert name in plain.stdout.splitlines()[0]


def test_a_big_photo_is_stored_small_and_searched_as_it_was_stored(home_copy, mini_images, tmp_path):
    # Sample pictures enlarged to a phone photo's size, with grain, so that the scale a JPEG is
    # decoded at shows in its pixels.
    folder = tmp_path / "phone"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, data in enumerate(list(mini_images.values())[:3]):
        big = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((4032, 3024)), dtype=np.int16)
        grain = rng.integers(-40, 40, big.shape, dtype=np.int16)
        Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)
    result = run_cli(home_copy, "load", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    query = folder / "1.jpg"
    sha = __import__("hashlib").sha256(query.read_bytes()).hexdigest()
    # Decoded at 1/8 (504 x 378) and copied at that size: neither the 4 MB original nor a resize of it.
    copy = Image.open(home_copy / "media" / sha[:2] / sha)
    assert copy.format == "JPEG" and copy.size == (504, 378)
    collection = info(home_copy)["physical_collection"]
    with store_at(home_copy) as store:
        payload = store.retrieve(collection, [point_id(sha)])[0].payload
    assert (payload["width"], payload["height"]) == (4032, 3024)  # the photo's own size
    hits = json.loads(run_cli(home_copy, "search", str(query), "-k", "1", "--json").stdout)
    assert hits[0]["path"] == "1.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-6)


def test_loading_again_adds_nothing_and_a_second_zip_adds_only_new_images(home_copy, mini_zip, mini_images, tmp_path):
    again = run_cli(home_copy, "load", str(mini_zip), "--json")
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["indexed"], json.loads(again.stdout)["already_present"]) == (0, 300)

    second = tmp_path / "second.zip"
    reencoded_zip(second, mini_images, 12)
    with zipfile.ZipFile(second, "a") as zf:  # plus two files already in the collection
        for name, data in list(mini_images.items())[:2]:
            zf.writestr(f"old/{Path(name).name}", data)
    result = run_cli(home_copy, "load", str(second), "--json")
    assert result.returncode == 0, result.stderr
    assert (json.loads(result.stdout)["indexed"], json.loads(result.stdout)["already_present"]) == (12, 2)
    facts = info(home_copy)
    assert facts["points"] == MINI_POINTS + 12
    # The byte-identical files found at new paths are recorded on the stored point.
    with store_at(home_copy) as store:
        original = list(mini_images)[0]
        sha = __import__("hashlib").sha256(mini_images[original]).hexdigest()
        payload = store.retrieve(facts["physical_collection"], [point_id(sha)])[0].payload
    assert {"source": str(second.resolve()), "path": f"old/{Path(original).name}"} in payload["copies"]


def test_model_rebuilt_from_the_checkpoint_alone_gives_the_stored_embeddings(loaded_home, mini_images):
    from encoder.embed import Embedder
    from ingest.images import decode

    facts = info(loaded_home)
    embedder = Embedder.from_file(Path(facts["model"]["checkpoint"]))  # the file, nothing else
    assert embedder.model_id == facts["model_id"]
    names = sorted(mini_images)[:16]
    vectors, errors = embedder.embed_images([decode(mini_images[n]).image for n in names])
    ids = [point_id(__import__("hashlib").sha256(mini_images[n]).hexdigest()) for n in names]
    with store_at(loaded_home) as store:
        stored = {p.id: p for p in store.retrieve(facts["physical_collection"], ids, vectors=True)}
    for pid, vector, error in zip(ids, vectors, errors):
        assert np.allclose(stored[pid].vector, vector, atol=1e-5)
        assert stored[pid].payload["recon_error"] == pytest.approx(float(error), rel=1e-4)


def test_a_folder_loads_like_a_zip(tmp_path, mini_images, loaded_home):
    folder = tmp_path / "photos"
    for name, data in list(mini_images.items())[:20]:
        target = folder / Path(name).parent.name / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    home = tmp_path / "fresh"
    result = run_cli(home, "load", str(folder), "--epochs", "1", "--collection", "pets")
    assert result.returncode == 0, result.stderr
    facts = info(home, "--collection", "pets")
    assert facts["points"] == 20 and sum(facts["labels"].values()) == 20


def test_retrain_rebuilds_the_collection_with_a_new_model_and_keeps_every_image(
    home_copy, mini_zip, mini_images, tmp_path
):
    extra = tmp_path / "extra.zip"
    reencoded_zip(extra, mini_images, 5, prefix="extra")
    assert run_cli(home_copy, "load", str(extra)).returncode == 0
    before = info(home_copy)
    result = run_cli(home_copy, "load", str(mini_zip), "--retrain", "--epochs", "1", "--json")
    assert result.returncode == 0, result.stderr
    after = info(home_copy)
    assert after["model_id"] != before["model_id"]
    assert after["points"] == MINI_POINTS + 5  # the other zip's images were re-embedded, not lost
    report = json.loads(result.stdout)
    assert report["re_embedded"] == MINI_POINTS + 5
    assert report["index_seconds"] == 0  # the search index is built from 50,000 points on
    with store_at(home_copy) as store:
        names = set(store.collections())
        models_used = {p.payload["model_id"] for p in store.points(after["physical_collection"])}
    assert names == {after["physical_collection"]}  # the old model's collection is gone
    assert models_used == {after["model_id"]}  # never two models in one collection


def test_an_interrupted_load_is_completed_by_running_it_again(home_copy, mini_images, tmp_path):
    second = tmp_path / "second.zip"
    reencoded_zip(second, mini_images, MINI_POINTS)
    media = home_copy / "media"
    media_before = sum(1 for _ in media.rglob("*") if _.is_file())
    process = start_cli(home_copy, "load", str(second), text=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if sum(1 for _ in media.rglob("*") if _.is_file()) > media_before + 40:
            break  # it is writing: pull the plug
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    result = run_cli(home_copy, "load", str(second))
    assert result.returncode == 0, result.stderr
    facts = info(home_copy)
    assert facts["points"] == 2 * MINI_POINTS  # everything, once
    with store_at(home_copy) as store:
        points = list(store.points(facts["physical_collection"]))
    assert len({p.payload["sha256"] for p in points}) == 2 * MINI_POINTS
    assert all((media / p.payload["sha256"][:2] / p.payload["sha256"]).exists() for p in points)
