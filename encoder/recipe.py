"""The recipes, in one place: which model a collection gets, how it trains, at which sides its
photos are kept and embedded, whether its embedding is whitened, and how long a load may train.
Every value below was chosen by a measurement on real photos and on thumbnails (docs/decisions.md
says which); `ingest` asks for the recipe of a collection (`for_collection`) and the time budget,
and owns none. `ModelConfig`, `TrainConfig` and `AugmentConfig` hold the knobs, and their
defaults are the thumbnail recipe's; what photos change is written here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from encoder.model import ModelConfig
from encoder.train_config import TrainConfig
from encoder.transforms import AugmentConfig

# The sides a model can train at. Thumbnails keep their own size; photos train at PHOTO_SIDE:
# on 2 cores 48 px crops learn as much per epoch as 64 px ones and more epochs fit the budget
# (dogbreeds.zip at 64 px: 0.254 P@10 against 0.278 at 48), so the epochs are worth more than
# the pixels.
SIDES = (32, 48, 64, 96, 128)
PHOTO_SIDE = 48
# A collection of fewer photos than this gets the few-photos recipe (`few_photos`).
FEW_PHOTOS = 1000

# The time budget. A default load aims to end within LOAD_TARGET_S: the time it spent reading
# before training and the time embedding will take after it come off training's budget
# (ingest/load/budget.py), which is at most TRAINING_BUDGET_S and EPOCH_CAP epochs.
LOAD_TARGET_S = 570.0  # 9.5 minutes: Python's start and the last epoch's overrun stay inside 10
TRAINING_BUDGET_S = 540.0
# At most; with a time budget, as many as fit in it. 300 rather than 100: on 400 photos (2 cores)
# 0.622, 0.696, 0.744 P@10 at 100, 200, 300; dog breeds on a GPU 0.316 at 100, 0.342 at 200: the
# loads that reached 100 with their budget mostly unspent (docs/decisions.md, "Training: all its
# schedule, at most 300 epochs").
EPOCH_CAP = 300
# A collection too large to load within the target still trains this share of the budget: its
# load runs over, rather than training a poorer model than a small collection gets.
MIN_TRAIN_SHARE = 0.75
MIN_TRAIN_S = 30.0  # the least a load of a few minutes (--minutes) trains
TRAIN_MORE_MINUTES = 10.0  # `ingest train` without --minutes: the whole command, re-embedding included


@dataclass(frozen=True)
class SideChoice:
    side: int
    reason: str  # one line, for the load's output and the checkpoint


@dataclass(frozen=True)
class Recipe:
    name: str  # "thumbnails", "photos" or "few photos"
    model: ModelConfig
    training: TrainConfig
    embed_side: int  # the fixed transform's side: every photo and query is embedded at it
    why: str  # one line, for the load's output and the checkpoint
    # Whiten the embedding (encoder.embed.whitening_matrix), not only centre it: it needs a sample
    # well over the latent's 256 dimensions to estimate a covariance from.
    whiten: bool = True


def choose_side(shorter_sides: Sequence[int], out_of: int | None = None) -> SideChoice:
    """The training side for photos whose shorter sides (as shown) are these: the largest side
    in SIDES that the median photo does not have to be enlarged to, at most PHOTO_SIDE."""
    if not shorter_sides:
        return SideChoice(SIDES[0], f"{SIDES[0]} px: no photo size could be read")
    median = statistics.median(shorter_sides)
    sampled = f" (from {len(shorter_sides):,} of {out_of:,} files)" if out_of and out_of > len(shorter_sides) else ""
    fits = [side for side in SIDES if side <= median] or [SIDES[0]]
    side = min(fits[-1], PHOTO_SIDE)
    if median <= side:
        why = "the photos' own size"
    elif side < PHOTO_SIDE:
        why = f"a larger side ({SIDES[SIDES.index(side) + 1]} px) would enlarge most of them"
    else:
        why = f"{side} px keeps an animal recognisable and is the largest side the time budget trains well"
    return SideChoice(side, f"{side} px crops: the median photo's shorter side is {median:g} px{sampled}; {why}")


def thumbnails(side: int) -> Recipe:
    """Thumbnails (32 px or less), all animal: the last map is flattened, keeping its layout, and
    embedded at 5/4 of training's side (training's crops show an animal larger than the whole
    thumbnail does); four small views a photo (a 24 px view costs half a full one here, and six
    gained nothing)."""
    embed = side * 5 // 4
    why = "thumbnails keep their layout"
    return Recipe("thumbnails", ModelConfig(image_size=side), _training(), embed, why)


def photos(side: int) -> Recipe:
    """Photos:
    - a global average of the last map, not its layout: the animal can be anywhere in a photo;
    - 48 px crops of the photo shrunk to 80 px (5/3 of the side): as good per epoch as 64 px crops;
    - embedded at 7/3 of training's side (112 px): random crops show an animal larger than a
      centre crop does, and a larger side makes up for it (FixRes);
    - redrawn from the encoder's map one stage before the last (6x6 at 48 px): the animal's shape,
      not a wash of the scene's colours, at no cost to retrieval;
    - six small multi-crop views: on photos six beat four and eight in the same time;
    - batches of 64, temperature 0.1, each small view matched to the full views only: TrainConfig's
      defaults, each measured (docs/decisions.md); the time budget and EPOCH_CAP above."""
    model = ModelConfig(
        image_size=side, pooling="avg", bottleneck_side=side // 16, decoder_input="map", decoder_map_side=side // 8
    )
    training = _training(view_source_side=side * 5 // 3, augment=AugmentConfig(small_views=6))
    return Recipe("photos", model, training, side * 7 // 3, "the embedding whitened")


def few_photos(side: int) -> Recipe:
    """Fewer than FEW_PHOTOS photos: the photo recipe, its embedding centred but not whitened.
    Whitening divides each direction of the 256-d latent by its spread, estimated on the training
    photos; a few hundred photos are too few to estimate it, and the directions they barely span
    are blown up: on 400 photos of big cats whitening cost P@10 (docs/decisions.md)."""
    base = photos(side)
    return replace(
        base,
        name="few photos",
        whiten=False,
        why="the embedding centred, not whitened: too few photos to estimate its spread",
    )


def _training(**changes) -> TrainConfig:
    """TrainConfig's values (batches of 64, temperature 0.1, ...: each justified there) with the
    time budget and epoch cap above, and a recipe's `changes`."""
    return TrainConfig(epochs=EPOCH_CAP, time_budget_s=TRAINING_BUDGET_S, **changes)


def for_collection(side: int, photo_count: int) -> Recipe:
    """The recipe for a collection of `photo_count` photos whose training side is `side`."""
    if side <= 32:
        return thumbnails(side)
    if photo_count < FEW_PHOTOS:
        chosen = few_photos(side)
        return replace(chosen, why=f"{photo_count:,} photos, fewer than {FEW_PHOTOS:,}: {chosen.why}")
    chosen = photos(side)
    return replace(chosen, why=f"{photo_count:,} photos: {chosen.why}")
