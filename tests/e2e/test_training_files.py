"""The files other processes follow a training by: its progress file (`encoder.live`) and the
lock that keeps one `ingest train` per data directory (`ingest.load.training_job`); and the
time a load is given (`ingest load --minutes`)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from encoder import live
from ingest.load import budget, training_job
from ingest.load.budget import training_budget
from ingest.load.training_job import TrainingBusy, TrainingLock

from conftest import run_cli


def test_a_job_that_made_the_data_directory_leaves_none_behind(tmp_path):
    home = tmp_path / "cbir-data"
    progress_file = home / "models" / "training" / "animals.json"
    with live.job(progress_file, "load", "animals", phase="loading photos.zip"):
        facts = live.read(progress_file)
        assert facts["kind"] == "load" and facts["pid"] == os.getpid() and live.running(facts)
        assert [f["collection"] for f in live.under_way(progress_file.parent)] == ["animals"]
    assert not home.exists()  # a load that failed at once wrote nothing


def test_training_adds_to_a_progress_file_only_when_a_job_announced_one(tmp_path):
    progress_file = tmp_path / "training" / "animals.json"
    live.update(progress_file, epoch=3)
    assert not progress_file.exists()
    live.start(progress_file, "train", "animals")
    live.update(progress_file, epoch=3, planned=10)
    assert live.read(progress_file)["epoch"] == 3 and live.read(progress_file)["planned"] == 10
    progress_file.write_text("{half a file")
    assert live.read(progress_file) is None  # never an error for the page


def test_a_training_whose_process_is_gone_is_told_from_a_live_one(tmp_path):
    progress_file = tmp_path / "animals.json"
    live.start(progress_file, "train", "animals")
    facts = live.read(progress_file)
    assert live.running(facts)
    assert not live.running({**facts, "pid": 2**22 + 7})  # no such process on this machine
    # On another machine (a container beside the page's), the file's age tells.
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert live.running({**facts, "host": "elsewhere"})
    assert not live.running({**facts, "host": "elsewhere", "updated_at": long_ago})


def test_one_ingest_train_at_a_time_and_who_holds_the_lock_is_known(tmp_path, monkeypatch):
    monkeypatch.setattr(training_job, "ACQUIRE_WAIT_S", 0.2)
    assert training_job.holder(tmp_path) is None
    first = TrainingLock(tmp_path)
    first.acquire(collection="animals", started_at="2026-01-01T00:00:00+00:00")
    try:
        held = training_job.holder(tmp_path)
        assert held["pid"] == os.getpid() and held["collection"] == "animals"
        with pytest.raises(
            TrainingBusy, match=r"already running on this data directory \(pid \d+, collection 'animals'"
        ):
            TrainingLock(tmp_path).acquire(collection="cats")
    finally:
        first.release()
    assert training_job.holder(tmp_path) is None
    second = TrainingLock(tmp_path)
    second.acquire(collection="cats")  # free again
    second.release()
    assert json.loads((tmp_path / training_job.LOCK_NAME).read_text() or "{}") == {}


def test_a_load_given_minutes_trains_for_what_they_leave():
    given = training_budget(1770.0, spent_s=10.0, after_s=20.0, target_s=1800.0)
    assert given.seconds == 1770.0 and given.reason.startswith("the whole budget")
    short = training_budget(90.0, spent_s=10.0, after_s=20.0, target_s=120.0)
    assert short.seconds == 90.0
    tight = training_budget(90.0, spent_s=30.0, after_s=20.0, target_s=120.0)
    assert tight.seconds == 70.0 and tight.reason.startswith("what is left of the load's 2 minutes")
    assert training_budget(540.0, 9.0, 50.0).seconds == budget.LOAD_TARGET_S - 59.0  # the default target


@pytest.mark.parametrize(
    "args, words",
    [(("--minutes", "0"), "--minutes must be more than 0"), (("--minutes", "5", "--epochs", "3"), "give one of them")],
    ids=["zero-minutes", "minutes-and-epochs"],
)
def test_load_minutes_that_cannot_be_are_one_line(tmp_path, mini_zip, args, words):
    home = tmp_path / "cbir-data"
    result = run_cli(home, "load", str(mini_zip), *args)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert words in result.stderr and not home.exists()


def test_a_load_given_minutes_plans_its_training_within_them(tmp_path, monkeypatch):
    from encoder import checkpoint as ckpt
    from ingest.load import training
    from ingest.load.reader import Source
    from ingest.load.training import TrainingRequest, train_model

    from images_for_tests import photos_zip

    archive = tmp_path / "photos.zip"
    photos_zip(archive, 24)
    monkeypatch.setattr(training, "MIN_TRAIN_S", 4.0)  # seconds, not minutes: a short test
    said: list[str] = []
    request = TrainingRequest("animals", image_size=None, epochs=None, retrain=False, minutes=0.25)
    trained = train_model(Source(archive), tmp_path / "models", request, print, str, said.append, False)
    (announced,) = [line for line in said if line.startswith("training for ")]
    seconds = ckpt.load(trained.path).train_config["time_budget_s"]
    assert seconds <= 4.0 and announced.startswith(f"training for {seconds:.0f} s")  # not the default 540 s
