"""How long a load's training may run. A default load aims to end within LOAD_TARGET_S, so the
time it spent reading before training, and the time embedding will take after it, come off
training's budget (the recipe's TRAINING_BUDGET_S at most). The budget's values are the recipe's
(`encoder.recipe`); what is here turns them into seconds for one load.

What follows training is timed, not guessed: one batch of the load's own photos goes through
an untrained model exactly as the load will embed them (the weights do not change the time),
and a few of its files are read again as the load reads them (for phone photos, the larger part).
After training, `fit` embeds the training sample (up to STATS_IMAGES of it) for the embedding's
mean and whitening, and the load embeds every photo. Measured on 2 cores (docs/decisions.md):
without this, `dogbreeds.zip` (3,000 photos) trained its whole 540 s and its load took 10.05
minutes; with it, 516 s and 8.96 minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from encoder import checkpoint as ckpt
from encoder.device import torch_threads
from encoder.embed import Embedder, batch_size_for
from encoder.fit import STATS_IMAGES
from encoder.model import Autoencoder, ModelConfig
from encoder.recipe import LOAD_TARGET_S, MIN_TRAIN_SHARE
from encoder.transforms import fixed_transform
from ingest.load.batches import embedding_workers
from ingest.load.records import DECODE_THREADS
from ingest.store.media import decode_picture, media_copy

AFTER_TRAINING_FIXED_S = 5.0  # saving the model, its pictures, the store's indexes


@dataclass(frozen=True)
class TrainingBudget:
    seconds: float
    reason: str  # one line for the load's output


def training_budget(
    most_s: float, spent_s: float, after_s: float, target_s: float | None = None, job: str = "the load"
) -> TrainingBudget:
    """Seconds training may take, given what the job spent before it and will spend after it, for
    the whole job to end within target_s (default LOAD_TARGET_S; a load's --minutes, `ingest train`'s)."""
    target_s = LOAD_TARGET_S if target_s is None else target_s
    left = target_s - spent_s - after_s
    seconds = max(MIN_TRAIN_SHARE * most_s, min(most_s, left))
    timing = f"{spent_s:.0f} s of reading before it, about {after_s:.0f} s of reading and embedding after it"
    if left >= most_s:
        reason = f"the whole budget ({timing})"
    elif seconds == left:
        reason = f"what is left of {job}'s {target_s / 60:g} minutes ({timing})"
    else:
        minutes = (spent_s + seconds + after_s) / 60
        reason = f"the least a model trains, so {job} will take about {minutes:.0f} minutes ({timing})"
    return TrainingBudget(seconds, reason)


def embedding_seconds(model_cfg: ModelConfig, images: torch.Tensor, photos: int) -> float:
    """Estimated seconds of the work after training: `fit` embeds (up to STATS_IMAGES of) the
    training sample `images`, at the embedding side, then the load embeds all its `photos`."""
    side = images.shape[-1]
    model = Autoencoder(model_cfg)
    dim = model_cfg.latent_dim
    untrained = ckpt.Checkpoint(
        model_id="timing",
        model_config=model_cfg,
        transform=ckpt.TransformSpec(image_size=side),
        state_dict=model.state_dict(),
        embedding_mean=torch.zeros(dim),
        embedding_flip_average=True,
        train_config={},
        history=[],
        summary={},
        data={},
        embedding_whitening=torch.eye(dim),
    )
    embedder = Embedder(untrained)
    batch = images[: batch_size_for(side)]
    embedder.embed(batch[:8])  # the first call sets up kernels (seconds on a GPU)
    started = time.perf_counter()
    embedder.embed(batch)
    per_photo = (time.perf_counter() - started) / len(batch)
    return per_photo * (min(len(images), STATS_IMAGES) + photos) + AFTER_TRAINING_FIXED_S


def reading_seconds(examples: list[bytes], photos: int, side: int) -> float:
    """Estimated seconds the load spends reading its `photos` again to embed them, beyond the
    model's own time (`embedding_seconds`): a few of its files (`examples`) decoded, copied and
    resized as the load does it, timed, DECODE_THREADS photos at a time. A thumbnail takes well
    under a millisecond, a 12-megapixel phone photo about 45 ms: on 50,000 of those, most of the
    load (docs/decisions.md, "Big photos")."""
    if not examples:
        return 0.0
    spec = ckpt.TransformSpec(image_size=side)

    def read(data: bytes) -> None:
        decoded = decode_picture(data)
        media_copy(data, decoded.image, (decoded.width, decoded.height), decoded.format)
        fixed_transform(decoded.image, spec)

    # With the intra-op threads the load resizes with: with more, torch's worker threads spin
    # while they wait, and on a busy machine a thumbnail's 0.13 ms of resizing cost 4 ms.
    with torch_threads(embedding_workers()[1]):
        read(examples[0])  # the first call sets things up (milliseconds: a thumbnail's whole cost)
        # This process's CPU time, not the clock's: another process holding the core for a time
        # slice while a thumbnail is timed would count as 50,000 slices. The process's, not this
        # thread's: libheif decodes a HEIC on threads of its own.
        started = time.process_time()
        for data in examples:
            read(data)
        spent = time.process_time() - started
    return photos * spent / len(examples) / DECODE_THREADS
