"""Training the model a load needs: one reading pass collects the photos (a uniform sample of
at most MAX_TRAIN_IMAGES) through the fixed transform, then `encoder.fit` trains on them and
writes the model's folder."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from encoder.fit import fit
from encoder.model import ModelConfig
from encoder.train import MIN_TRAIN_IMAGES, TrainConfig
from encoder.transforms import TransformSpec, fixed_transform
from ingest.errors import UserError
from ingest.load.reader import Skipped, Source
from ingest.load.records import read_records
from ingest.progress import progress

MAX_TRAIN_IMAGES = 50_000


@dataclass
class TrainedModel:
    path: Path
    seconds: float


def training_images(
    source: Source, spec: TransformSpec, on_skip: Callable[[Skipped], None], show_progress: bool
) -> tuple[torch.Tensor, dict]:
    """A uniform sample (reservoir) of at most MAX_TRAIN_IMAGES, through the fixed transform,
    and what the checkpoint records about the data."""
    rng = random.Random(0)
    sample: list[torch.Tensor] = []
    digests: list[str] = []
    for seen, record in enumerate(read_records(source, on_skip, show_progress, decode_side=spec.image_size)):
        digests.append(record.sha256)
        tensor = fixed_transform(record.image, spec)
        if len(sample) < MAX_TRAIN_IMAGES:
            sample.append(tensor)
        elif (j := rng.randrange(seen + 1)) < MAX_TRAIN_IMAGES:
            sample[j] = tensor
    fingerprint = hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:16]
    info = {"source": source.name, "images": len(digests), "trained_on": len(sample), "fingerprint": fingerprint}
    empty = torch.empty(0, 3, spec.image_size, spec.image_size, dtype=torch.uint8)
    return (torch.stack(sample) if sample else empty), info


def train_model(
    source: Source,
    models_dir: Path,
    image_size: int,
    epochs: int | None,
    on_skip: Callable[[Skipped], None],
    no_images: Callable[[], str],
    show_progress: bool,
) -> TrainedModel:
    started = time.perf_counter()
    spec = TransformSpec(image_size=image_size)
    images, info = training_images(source, spec, on_skip, show_progress)
    if len(images) == 0:
        raise UserError(no_images())
    if len(images) < MIN_TRAIN_IMAGES:
        raise UserError(
            f"{source.name} holds {len(images)} images; training a model needs at least {MIN_TRAIN_IMAGES}: "
            "add images, or load into a collection that already has a model (--collection)"
        )
    # --epochs N: exactly N epochs; by default, as many as fit in the time budget.
    train_cfg = TrainConfig() if epochs is None else TrainConfig(epochs=epochs, time_budget_s=None)
    bars = progress if show_progress else None
    path = fit(images, models_dir, ModelConfig(image_size=image_size), train_cfg, info, progress=bars)
    return TrainedModel(path, time.perf_counter() - started)
