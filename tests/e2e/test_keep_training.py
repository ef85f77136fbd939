"""`ingest train` end to end, as a user runs it: the real CLI in its own process, on a private copy
of the loaded sample (real Qdrant Edge storage, the real model): the collection moves to a
continued model with its lineage, a killed training resumes, a stop keeps what was learnt,
mistakes change nothing, and searches go on while the collection switches."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from encoder import checkpoint as ckpt
from ingest.load import training_job
from ingest.load.training_job import continue_state_path
from ingest.query.search import Index
from ingest.settings import Settings

from conftest import run_cli, start_cli, store_at
from images_for_tests import photo, write_zip

SAMPLE = 300


def one_line_error(result, *words: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def collection_state(home: Path) -> dict:
    """What a mistake must leave as it was: the store's collections and aliases, the points, the
    models and the photo copies (the training lock's empty file aside)."""
    with store_at(home) as store:
        collections = sorted(store.collections())
        counts = {name: store.count(name) for name in collections}
        aliases = store.aliases()
    files = sorted(
        str(p.relative_to(home)) for p in home.rglob("*") if "qdrant-edge" not in p.parts and p.name != "training.lock"
    )
    return {"collections": collections, "counts": counts, "aliases": aliases, "files": files}


def vectors(home: Path) -> dict[str, np.ndarray]:
    with store_at(home) as store:
        physical = store.aliases()["animals"]
        return {p.id: p.vector for p in store.points(physical, payload=False, vectors=True)}


def start_train(home: Path, *args: str) -> subprocess.Popen:
    return start_cli(home, "train", *args)


def saved_epochs(state: Path) -> int:
    try:
        return len(torch.load(state, weights_only=True)["history"])
    except Exception:  # not there yet, or being replaced right now
        return 0


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        time.sleep(0.2)


def test_ingest_train_continues_the_model_and_moves_the_whole_collection_to_it(home_copy, tmp_path):
    # Photos loaded after the model was trained, from a zip that is gone by the time it trains on.
    later = tmp_path / "later.zip"
    write_zip(later, {f"later/{i:02d}.png": _png(i) for i in range(20)})
    assert run_cli(home_copy, "load", str(later)).returncode == 0
    later.unlink()
    before = json.loads(run_cli(home_copy, "info", "--json").stdout)
    old_vectors = vectors(home_copy)
    assert len(old_vectors) == SAMPLE + 20

    result = run_cli(home_copy, "train", "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    parent, child = before["model_id"], report["model_id"]
    assert report["parent_model_id"] == parent and child != parent
    assert report["before"]["epochs_total"] == 2 and report["after"]["epochs_total"] == 4
    assert report["photos"] == report["trained_on"] == report["re_embedded"] == SAMPLE + 20
    # Held-out losses before and after; P@10 of the labelled sample, after stored as `ingest evaluate` does.
    assert report["before"]["val_loss"] > 0 and report["after"]["val_loss"] > 0
    assert 0 < report["before"]["precision_at_10"] <= 1 and 0 < report["after"]["precision_at_10"] <= 1

    facts = json.loads(run_cli(home_copy, "info", "--json").stdout)
    model = facts["model"]
    assert facts["model_id"] == child and facts["points"] == SAMPLE + 20
    assert model["parent_model_id"] == parent and model["epochs_run"] == 2 and model["epochs_total"] == 4
    assert [h["epoch"] for h in model["history"]] == [1, 2, 3, 4]  # the parent's epochs, then these
    assert model["trained_on"]["images"] == model["trained_on"]["trained_on"] == SAMPLE + 20
    assert facts["evaluation"]["model_id"] == child
    saved = ckpt.load(home_copy / "models" / child / "model.pt")
    assert (
        saved.summary["parent_model_id"] == parent
        and saved.transform == ckpt.load(home_copy / "models" / parent / "model.pt").transform
    )

    with store_at(home_copy) as store:
        assert store.aliases()["animals"] == f"animals-{child}"
        assert store.collections() == [f"animals-{child}"]  # the old physical collection is gone
        payloads = [p.payload for p in store.points(f"animals-{child}")]
    assert {p["model_id"] for p in payloads} == {child}
    assert sum(Path(p["source"]).name == "later.zip" for p in payloads) == 20
    new_vectors = vectors(home_copy)
    assert new_vectors.keys() == old_vectors.keys()
    assert all(not np.allclose(new_vectors[i], old_vectors[i], atol=1e-4) for i in new_vectors)
    assert not (home_copy / "models" / "training").exists()  # nothing left behind

    info = run_cli(home_copy, "info").stdout
    assert f"2 epochs (4 in all, continuing model {parent})" in info


def _png(seed: int) -> bytes:
    import io

    buffer = io.BytesIO()
    photo(1000 + seed, (32, 32)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_killed_ingest_train_resumes_where_it_stopped(home_copy):
    state = continue_state_path(home_copy / "models", "animals")
    first = start_train(home_copy, "--epochs", "2", "--json")
    wait_for(lambda: saved_epochs(state) >= 1 or first.poll() is not None, 600, "a saved epoch")
    epochs = saved_epochs(state)
    first.kill()  # SIGKILL: nothing is cleaned up
    first.communicate()
    assert epochs >= 1, "the training never saved an epoch"

    again = run_cli(home_copy, "train", "--epochs", "2", "--json")
    assert again.returncode == 0, again.stderr
    resumed = [line for line in again.stderr.splitlines() if line.startswith("resuming the training")]
    assert len(resumed) == 1 and f"{epochs} of 2 epochs done" in resumed[0]
    facts = json.loads(run_cli(home_copy, "info", "--json").stdout)
    assert facts["model"]["epochs_total"] == 2 + 2 and facts["model"]["resumed_after_epoch"] == epochs
    assert facts["points"] == SAMPLE
    assert not state.parent.exists()


def test_killed_while_re_embedding_the_same_command_moves_to_the_model_it_trained(home_copy):
    marker = home_copy / "models" / "training" / "animals.switch.pt"
    first = start_train(home_copy, "--epochs", "1")
    wait_for(lambda: marker.exists() or first.poll() is not None, 600, "the trained model")
    first.kill()  # trained and saved, the collection not moved yet
    first.communicate()
    trained = [p.name for p in (home_copy / "models").iterdir() if (p / "model.pt").exists()]
    assert len(trained) == 2

    again = run_cli(home_copy, "train", "--epochs", "1", "--json")
    assert again.returncode == 0, again.stderr
    assert "resuming: model " in again.stderr and "epoch 1/1" not in again.stderr  # no training again
    report = json.loads(again.stdout)
    assert report["model_id"] in trained and report["after"]["epochs_total"] == 3
    assert not marker.parent.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--collection", "nope"), ["no collection 'nope'", "ingest load"]),
        (("--minutes", "0"), ["--minutes must be more than 0"]),
        (("--minutes", "5", "--epochs", "2"), ["give one of them"]),
        (("--epochs", "0"), ["--epochs must be at least 1"]),
        ((), ["none of the 300 photos", "has a copy left"]),  # with the media copies gone
    ],
    ids=["unknown-collection", "zero-minutes", "minutes-and-epochs", "zero-epochs", "no-media-copies"],
)
def test_a_mistake_is_one_line_and_changes_nothing(home_copy, args, words):
    if not args:
        shutil.rmtree(home_copy / "media")
    before = collection_state(home_copy)
    result = run_cli(home_copy, "train", *args)
    one_line_error(result, *words)
    assert collection_state(home_copy) == before


def test_one_training_at_a_time_and_sigterm_keeps_what_was_learnt(home_copy):
    before = collection_state(home_copy)
    first = start_train(home_copy, "--epochs", "50", "--json")
    wait_for(lambda: training_job.holder(home_copy / "models") or first.poll() is not None, 120, "the lock")
    assert first.poll() is None, first.communicate()

    second = run_cli(home_copy, "train", "--epochs", "1")
    one_line_error(second, "a training is already running on this data directory", f"pid {first.pid}")
    assert collection_state(home_copy)["aliases"] == before["aliases"]

    state = continue_state_path(home_copy / "models", "animals")
    wait_for(lambda: saved_epochs(state) >= 1, 600, "a saved epoch")
    first.send_signal(signal.SIGTERM)  # the page's Stop button
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "stopping: training ends now" in err
    report = json.loads(out)
    assert report["stopped"] and 1 <= report["epochs_run"] < 50
    assert report["re_embedded"] == SAMPLE and report["model_id"] != report["parent_model_id"]
    with store_at(home_copy) as store:
        assert store.aliases()["animals"] == f"animals-{report['model_id']}"
    assert training_job.holder(home_copy / "models") is None


def test_searches_in_a_loop_never_fail_while_the_collection_switches(home_copy, mini_images):
    settings = Settings(home_copy, wait_s=120)
    query = photo(7, (32, 32))
    answered: list[str] = []  # the model id of each answer
    failures: list[str] = []
    done = threading.Event()

    def search_in_a_loop() -> None:
        from ingest.store import open_store

        while not done.is_set():
            try:  # as `ingest search` does: the store for one query, the alias resolved each time
                with open_store(settings, wait_s=120) as store:
                    hits = Index.open(store, settings, "animals").by_image(query, k=10)
                if len(hits) != 10:
                    failures.append(f"{len(hits)} results")
                answered.append(hits[0].payload["model_id"] if hits else "")
            except Exception as exc:  # any failure counts
                failures.append(repr(exc))
            time.sleep(0.2)

    searcher = threading.Thread(target=search_in_a_loop)
    searcher.start()
    try:
        result = run_cli(home_copy, "train", "--epochs", "1", "--json")
        time.sleep(2)  # a few answers from the new model
    finally:
        done.set()
        searcher.join(timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not failures, failures[:5]
    assert len(answered) >= 10
    assert answered[0] == report["parent_model_id"] and answered[-1] == report["model_id"]
    # Old model's answers, then the new model's: one switch, never back.
    switches = sum(1 for a, b in zip(answered, answered[1:]) if a != b)
    assert switches == 1
