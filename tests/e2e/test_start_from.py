"""`ingest load PATH --start-from X` end to end: the real CLI in its own process, two tiny photo
collections on real Qdrant Edge storage. The second collection's model is trained from the
first's weights and says so (checkpoint, `ingest info`, the load's own line); each mistake is one
line that changes nothing; a load about to train the few-photos recipe proposes --start-from
when the data directory holds a model trained on many photos."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from encoder import checkpoint as ckpt
from encoder.recipe import FEW_PHOTOS
from ingest.load.pipeline import LoadOptions
from ingest.load.start_from import recipe_from, starting_model
from ingest.settings import Settings

from conftest import run_cli, store_at
from images_for_tests import photo, write_zip

FIRST, SECOND = 20, 18  # photos of each collection: few, and enough to train on (MIN_TRAIN_IMAGES)


def photos_zip(path: Path, count: int, first_seed: int) -> Path:
    """`count` JPEG photos of 160x120 (photos, not thumbnails: the photo recipe's side), their own seeds."""

    def jpeg(seed: int) -> bytes:
        buffer = io.BytesIO()
        photo(seed, (160, 120)).save(buffer, "JPEG", quality=85)
        return buffer.getvalue()

    write_zip(path, {f"{path.stem}/{i:02d}.jpg": jpeg(first_seed + i) for i in range(count)})
    return path


def model_of(home: Path, collection: str) -> str:
    facts = json.loads(run_cli(home, "info", "--collection", collection, "--json").stdout)
    return facts["model_id"]


def data_directory(home: Path) -> dict:
    """What a mistake must leave as it was: collections, aliases, points, and every file outside
    the embedded store's own folder (models, media copies)."""
    with store_at(home) as store:
        counts = {name: store.count(name) for name in store.collections()}
        aliases = store.aliases()
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if "qdrant-edge" not in p.parts)
    return {"counts": counts, "aliases": aliases, "files": files}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict:
    """A data directory with collection 'first' (its own model) and 'second' (started from it)."""
    tmp = tmp_path_factory.mktemp("start-from")
    home = tmp / "cbir-data"
    first = run_cli(home, "load", str(photos_zip(tmp / "first.zip", FIRST, 0)), "-c", "first", "--epochs", "2")
    assert first.returncode == 0, first.stderr
    second_zip = photos_zip(tmp / "second.zip", SECOND, 500)
    second = run_cli(home, "load", str(second_zip), "-c", "second", "--start-from", "first", "--epochs", "2")
    assert second.returncode == 0, second.stderr
    return {"home": home, "tmp": tmp, "first": first, "second": second, "second_zip": second_zip}


def test_a_load_started_from_another_collection_trains_a_new_model_from_its_weights(loaded):
    home = loaded["home"]
    parent_id, child_id = model_of(home, "first"), model_of(home, "second")
    assert child_id != parent_id
    parent = ckpt.load(home / "models" / parent_id / "model.pt")
    child = ckpt.load(home / "models" / child_id / "model.pt")
    # The load said where it started, in one line, before training.
    lines = loaded["second"].stderr.splitlines()
    assert f"starting from model {parent_id} ('first', trained on {FIRST} photos, 2 epochs)" in lines
    # The checkpoint names its parent and counts the epochs of the whole lineage.
    assert child.summary["parent_model_id"] == parent_id
    assert child.summary["epochs_run"] == 2 and child.summary["epochs_total"] == 4
    assert child.data["started_from"] == {
        "model_id": parent_id,
        "collection": "first",
        "trained_on": FIRST,
        "epochs": 2,
    }
    assert child.data["collection"] == "second" and child.data["trained_on"] == SECOND
    # The parent's architecture, input side and training configuration; its own augmentation draws.
    assert child.model_config == parent.model_config and child.transform == parent.transform
    assert child.train_config["augment"] == parent.train_config["augment"]
    assert child.train_config["seed"] == parent.train_config["seed"] + 2
    # Trained on: the weights moved away from the parent's.
    assert child.state_dict.keys() == parent.state_dict.keys()
    assert any(not torch.equal(child.state_dict[k], parent.state_dict[k]) for k in parent.state_dict)
    # The second collection holds its photos, embedded by the new model; the first is untouched.
    with store_at(home) as store:
        assert store.aliases() == {"first": f"first-{parent_id}", "second": f"second-{child_id}"}
        assert store.count(f"second-{child_id}") == SECOND and store.count(f"first-{parent_id}") == FIRST


def test_info_shows_where_the_model_started(loaded):
    home = loaded["home"]
    parent_id = model_of(home, "first")
    model = json.loads(run_cli(home, "info", "-c", "second", "--json").stdout)["model"]
    assert model["parent_model_id"] == parent_id and model["epochs_total"] == 4
    assert model["trained_on"]["started_from"]["model_id"] == parent_id
    assert model["trained_on"]["started_from"]["collection"] == "first"
    said = run_cli(home, "info", "-c", "second").stdout
    assert f"2 epochs (4 in all, started from model {parent_id} of collection 'first')" in said


def test_a_model_id_names_the_model_and_finds_its_collection(loaded):
    home = loaded["home"]
    parent_id = model_of(home, "first")
    start = starting_model(Settings(home), LoadOptions(collection="third", start_from=parent_id))
    assert start is not None and start.checkpoint.model_id == parent_id and start.collection == "first"
    assert start.said() == f"model {parent_id} ('first', trained on {FIRST} photos, 2 epochs)"


def test_the_new_models_embedding_is_whitened_as_its_own_collection_size_says(loaded):
    # Few photos are centred, not whitened, whatever the starting model was: too few to estimate
    # the spread (antsbees.zip: centred 0.671, whitened 0.637).
    home = loaded["home"]
    start = starting_model(Settings(home), LoadOptions(collection="third", start_from="first"))
    assert start is not None
    few, many = recipe_from(start, SECOND), recipe_from(start, FEW_PHOTOS)
    assert (few.name, few.whiten, many.name, many.whiten) == ("few photos", False, "photos", True)
    assert few.model == start.checkpoint.model_config and few.embed_side == start.checkpoint.transform.image_size
    assert ckpt.load(home / "models" / model_of(home, "second") / "model.pt").embedding_whitening is None


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ("-c", "third", "--start-from", "nosuch"),
            ("--start-from 'nosuch' names no collection and no model", "first"),
        ),
        (("-c", "third", "--start-from", "0123456789abcdef"), ("names no collection and no model",)),
        (("-c", "third", "--start-from", "first", "--model", "MODEL"), ("--model and --start-from", "give one")),
        (("-c", "second", "--start-from", "first"), ("collection 'second' has a model already", "--retrain")),
        (("-c", "third", "--start-from", "first", "--image-size", "48"), ("--image-size and --start-from",)),
    ],
    ids=["unknown-name", "unknown-model-id", "with-model", "collection-has-a-model", "with-image-size"],
)
def test_a_mistake_is_one_line_and_changes_nothing(loaded, args, words):
    home = loaded["home"]
    args = tuple(model_of(home, "first") if a == "MODEL" else a for a in args)
    before = data_directory(home)
    result = run_cli(home, "load", str(loaded["second_zip"]), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert data_directory(home) == before
