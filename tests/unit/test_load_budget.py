"""A load's training budget: what reading took before training and what embedding will take
after it come off the budget, so that a default load ends within its target."""

from __future__ import annotations

import torch

from encoder import checkpoint as ckpt
from encoder.recipe import PHOTO_SIDE, photos
from ingest.load import budget
from ingest.load.budget import (
    AFTER_TRAINING_FIXED_S,
    MIN_TRAIN_SHARE,
    embedding_seconds,
    reading_seconds,
    training_budget,
)
from ingest.load.reader import Source
from ingest.load.training import TrainingRequest, train_model

from images_for_tests import photos_zip


def test_a_small_collection_trains_the_whole_budget():
    given = training_budget(540.0, spent_s=7.0, after_s=20.0)
    assert given.seconds == 540.0
    assert given.reason == "the whole budget (7 s of reading before it, about 20 s of reading and embedding after it)"


def test_a_larger_collection_trains_what_the_load_has_left():
    # dogbreeds.zip on 2 cores: about 9 s of reading, 50 s of embedding 3,000 photos.
    given = training_budget(540.0, spent_s=9.0, after_s=50.0)
    assert given.seconds == budget.LOAD_TARGET_S - 59.0 < 540.0
    assert given.reason.startswith("what is left of the load's 9.5 minutes (9 s of reading")


def test_a_collection_too_large_for_the_target_still_trains_a_model():
    given = training_budget(540.0, spent_s=60.0, after_s=600.0)
    assert given.seconds == MIN_TRAIN_SHARE * 540.0
    minutes = round((60 + MIN_TRAIN_SHARE * 540 + 600) / 60)
    assert given.reason.startswith(f"the least a model trains, so the load will take about {minutes} minutes")


def test_the_time_after_training_grows_with_the_photos_to_embed():
    chosen = photos(PHOTO_SIDE)
    model_cfg, embed_side = chosen.model, chosen.embed_side
    images = torch.randint(0, 256, (24, 3, embed_side, embed_side), dtype=torch.uint8)
    few, many = embedding_seconds(model_cfg, images, 24), embedding_seconds(model_cfg, images, 100_000)
    assert AFTER_TRAINING_FIXED_S < few < 60
    assert many > few + 1  # 100,000 photos at any speed this machine has: well over a second more


def test_a_default_load_trains_for_the_budget_it_announces(tmp_path, monkeypatch):
    archive = tmp_path / "photos.zip"
    photos_zip(archive, 24)
    # A load target of seconds, not minutes, so that the test trains briefly on its own budget.
    monkeypatch.setattr(budget, "LOAD_TARGET_S", AFTER_TRAINING_FIXED_S + 15.0)
    monkeypatch.setattr(budget, "MIN_TRAIN_SHARE", 0.0)
    said: list[str] = []
    request = TrainingRequest("animals", image_size=None, epochs=None, retrain=False)
    trained = train_model(Source(archive), tmp_path / "models", request, print, str, said.append, False)
    announced = [line for line in said if line.startswith("training for ")]
    assert len(announced) == 1 and "what is left of the load's" in announced[0]
    model = ckpt.load(trained.path)
    seconds = model.train_config["time_budget_s"]
    assert announced[0].startswith(f"training for {seconds:.0f} s:") and 0 < seconds < 15.0
    # The plan never runs past the budget by more than its last epoch.
    assert model.summary["seconds"] <= seconds + model.history[-1]["seconds"]


def test_reading_a_phone_photo_again_counts_far_more_than_a_thumbnail():
    import io

    from images_for_tests import photo

    def jpeg(size: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        photo(5, size).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()

    # The tests run two at a time on two cores, and a CI run once timed a thumbnail at 1.3 ms
    # instead of 0.13 (torch's threads spinning while the other worker held the cores): the
    # estimate now times its own thread's CPU at the load's thread count, and the test keeps
    # the fastest of a few timings all the same.
    small, big = jpeg((40, 30)), jpeg((4032, 3024))
    thumbnail = min(reading_seconds([small] * 4, 1000, 112) for _ in range(5))
    phone = min(reading_seconds([big] * 2, 1000, 112) for _ in range(3))
    assert 0 < thumbnail < 1.0  # well under a millisecond each
    assert phone > 10 * thumbnail  # decoded at 1/8, copied as a JPEG, resized: milliseconds each
    assert reading_seconds([], 1000, 112) == 0.0
