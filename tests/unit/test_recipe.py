"""The recipes in one place (`encoder.recipe`): every recipe trains within the load's budget and
cap, the configs' defaults are the thumbnail recipe's and nothing else, and the load's budget
is the recipe's."""

from __future__ import annotations

from encoder import recipe
from encoder.model import ModelConfig
from encoder.recipe import EPOCH_CAP, PHOTO_SIDE, TRAINING_BUDGET_S, few_photos, photos, thumbnails
from encoder.train_config import TrainConfig
from encoder.transforms import AugmentConfig
from ingest.load import budget
from ingest.load.budget import training_budget


def test_the_configs_defaults_are_the_thumbnail_recipe():
    chosen = thumbnails(32)
    assert chosen.model == ModelConfig() and chosen.training == TrainConfig()
    assert chosen.training.augment == AugmentConfig() and chosen.whiten


def test_every_recipe_trains_within_the_budget_and_the_epoch_cap():
    for chosen in (thumbnails(32), photos(PHOTO_SIDE), few_photos(PHOTO_SIDE)):
        assert (chosen.training.epochs, chosen.training.time_budget_s) == (EPOCH_CAP, TRAINING_BUDGET_S), chosen.name
    # What a load trains less than the whole budget for, it leaves for reading and embedding.
    assert TRAINING_BUDGET_S < recipe.LOAD_TARGET_S


def test_the_photo_recipe_trains_as_before_the_budget_moved():
    # The configuration a photo model's checkpoint records, written out as it was built before:
    # moving the budget into the recipe changed no model.
    before = TrainConfig(view_source_side=PHOTO_SIDE * 5 // 3, augment=AugmentConfig(small_views=6))
    assert photos(PHOTO_SIDE).training.to_dict() == before.to_dict()
    assert thumbnails(32).training.to_dict() == TrainConfig().to_dict()


def test_the_loads_budget_is_the_recipes():
    assert training_budget(540.0, 9.0, 50.0).seconds == recipe.LOAD_TARGET_S - 59.0
    assert budget.MIN_TRAIN_SHARE == recipe.MIN_TRAIN_SHARE
    given = training_budget(540.0, spent_s=60.0, after_s=600.0)  # far over: the least a model trains
    assert given.seconds == recipe.MIN_TRAIN_SHARE * 540.0
