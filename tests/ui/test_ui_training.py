"""The page and trainings, through Streamlit's AppTest: a training's state on disk (written by a
real training) shows on the Model tab as it grows; the Keep training button starts the real
`ingest train` in a process of its own, and Stop ends it, the collection moving to what it
learnt; while a first load trains, the page shows it instead of an empty collection."""

from __future__ import annotations

import json
import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

from encoder import live
from encoder.checkpoint import TransformSpec
from encoder.model import ModelConfig
from encoder.train import Resumable, train
from encoder.train_config import TrainConfig
from encoder.transforms import fixed_transform
from ingest.load import training_job
from ingest.load.training import state_path
from ingest.load.training_job import continue_state_path
from ui.model_view import LABEL_STEP
from ui.training_view import MINUTES

from conftest import run_cli
from images_for_tests import photo
from test_ui_apptest import APP, point_page_at


@pytest.fixture
def model_tab(monkeypatch, home_copy) -> AppTest:
    point_page_at(monkeypatch, home_copy)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["view"] = "Model"
    at.run()
    assert not at.exception, at.exception
    return at


def a_training_with_its_progress(home, collection: str, kind: str, epochs: int = 2) -> None:
    """A real (tiny) training, announced as a job, so that it writes what the page reads."""
    state = (
        state_path(home / "models", collection) if kind == "load" else continue_state_path(home / "models", collection)
    )
    live.start(live.progress_path(state), kind, collection, phase="training")
    spec = TransformSpec(image_size=16)
    images = torch.stack([fixed_transform(photo(i, (24, 20)), spec) for i in range(40)])
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    train(
        images,
        model_cfg,
        TrainConfig(epochs=epochs, time_budget_s=None, batch_size=16),
        resumable=Resumable(state, "t"),
    )


def test_a_training_under_way_shows_on_the_model_tab_as_it_grows(model_tab, home_copy):
    assert model_tab.button(key="keep-training").disabled is False
    a_training_with_its_progress(home_copy, "animals", "train")
    progress_file = live.progress_path(continue_state_path(home_copy / "models", "animals"))
    live.update(progress_file, planned=6, seconds_left=130.0)  # as after epoch 2 of a longer plan
    model_tab.run()
    assert not model_tab.exception
    (bar,) = model_tab.progress
    assert bar.value == 33 and bar.text.startswith("epoch 2 of 6 · about 2 min left")
    assert any(m.value.startswith("**Training on `animals`**") for m in model_tab.markdown)
    assert any("redrawn by the latest weights" in m.value for m in model_tab.markdown)
    assert len(model_tab.get("vega_lite_chart")) == 3 + 2  # the model's, and the training's two curves
    assert len(model_tab.image) == 2  # the model's reconstructions, and the training's latest
    assert model_tab.button(key="keep-training").disabled  # one training at a time

    live.finish(progress_file)  # done: the panel goes, the button comes back
    model_tab.run()
    assert not model_tab.progress and model_tab.button(key="keep-training").disabled is False


def test_a_training_whose_process_is_gone_says_how_to_resume(model_tab, home_copy):
    a_training_with_its_progress(home_copy, "animals", "train")
    progress_file = live.progress_path(continue_state_path(home_copy / "models", "animals"))
    facts = json.loads(progress_file.read_text())
    progress_file.write_text(json.dumps({**facts, "pid": 2**22 + 7}))  # no such process
    model_tab.run()
    assert any("stopped without finishing" in w.value for w in model_tab.warning)
    assert model_tab.button(key="keep-training").disabled is False


def test_while_a_first_load_trains_the_page_shows_it(monkeypatch, tmp_path):
    home = tmp_path / "fresh"
    a_training_with_its_progress(home, "animals", "load")
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.info[0].value.startswith("A load is filling collection 'animals'")
    assert at.progress[0].text.startswith("epoch 2 of 2")
    assert not at.code  # not the commands that fill an empty collection


def test_the_labels_chart_names_every_label(model_tab):
    (labels,) = [
        c for c in model_tab.get("vega_lite_chart") if '"label:N"' in c.proto.spec or '"label"' in c.proto.spec
    ]
    spec = json.loads(labels.proto.spec)
    layer = spec["layer"][0]["encoding"]["y"]
    assert layer["axis"]["labelOverlap"] is False  # none dropped for lack of room
    assert spec["height"] == {"step": LABEL_STEP}  # a band per label, however many


def test_keep_training_starts_ingest_train_and_stop_keeps_what_it_learnt(model_tab, home_copy):
    models = home_copy / "models"
    before = json.loads(run_cli(home_copy, "info", "--json").stdout)["model_id"]
    model_tab.number_input(key=MINUTES).set_value(2).run()
    model_tab.button(key="keep-training").click().run()
    assert not model_tab.exception and not model_tab.error
    try:
        holder = training_job.holder(models)  # taken within a second of its start, before torch loads
        assert holder and holder["collection"] == "animals" and holder["minutes"] == 2
        progress_file = live.progress_path(continue_state_path(models, "animals"))
        deadline = time.monotonic() + 300
        while not (live.read(progress_file) or {}).get("epoch"):
            assert time.monotonic() < deadline and training_job.holder(models), training_job.last_words(models)
            time.sleep(0.5)
        model_tab.run()
        assert model_tab.progress and model_tab.progress[0].text.startswith("epoch ")
        model_tab.button(key="stop-training").click().run()
        assert any(i.value.startswith("Asked to stop") for i in model_tab.info)
        deadline = time.monotonic() + 300
        while training_job.holder(models):
            assert time.monotonic() < deadline, training_job.last_words(models)
            time.sleep(0.5)
    finally:
        training_job.stop(models)
    model_tab.run()
    facts = json.loads(run_cli(home_copy, "info", "--json").stdout)
    assert facts["model_id"] != before and facts["model"]["parent_model_id"] == before
    assert facts["model"]["stopped"] is True
    assert any(f"continues model `{before}`" in c.value for c in model_tab.caption)
    (output,) = model_tab.expander
    assert "stopped early" in output.code[0].value
