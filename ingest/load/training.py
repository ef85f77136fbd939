"""Training the model a load needs. The photos' sizes choose the model's input side
(`choose_side`); one reading pass collects the photos (a uniform sample of at most
MAX_TRAIN_IMAGES, chosen before reading) through the fixed transform at that side;
`encoder.fit` trains on them and writes the model's folder."""

from __future__ import annotations

import ctypes
import hashlib
import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from encoder import live
from encoder.checkpoint import TransformSpec
from encoder.fit import fit
from encoder.recipe import LOAD_TARGET_S, MIN_TRAIN_S, Recipe, SideChoice, choose_side, for_collection
from encoder.train import Resumable
from encoder.training_run import MIN_TRAIN_IMAGES
from encoder.transforms import fixed_transform
from ingest.errors import UserError
from ingest.images import ImageRejected, decode, picture_size
from ingest.load.budget import embedding_seconds, reading_seconds, training_budget
from ingest.load.continued_model import epochs_total
from ingest.load.reader import RawFile, Skipped, Source
from ingest.load.records import DECODE_THREADS
from ingest.load.start_from import StartingModel, recipe_from
from ingest.progress import progress

MAX_TRAIN_IMAGES = 50_000
# The training sample is kept in memory as uint8 at the recipe's embedding side: at most this
# many bytes (14,000 photos at 112 px, about two epochs of the budget on 2 cores). With 1 GiB (28,000), a
# 50,000-photo load peaked at 2.3 GB; the load's target is 2 GB (docs/decisions.md).
MAX_TRAIN_BYTES = 1 << 29
SIZE_SAMPLE = 1000  # photos whose size is read (headers only) to choose the side
EXAMPLES = 8  # photos read again to time the load's reading (budget.reading_seconds)


def sample_sizes(source: Source, show_progress: bool) -> tuple[list[int], int]:
    """Shorter sides of up to SIZE_SAMPLE photos spread over the source (headers only), and
    how many entries the source has."""
    total = source.count()
    every = max(1, -(-total // SIZE_SAMPLE))
    sides: list[int] = []
    with progress(f"measuring {source.name}", -(-total // every), show_progress) as bar:
        for entry in source.entries(every):
            bar.advance()
            size = picture_size(entry.data) if isinstance(entry, RawFile) else None
            if size:
                sides.append(min(size))
    return sides, total


@dataclass
class TrainedModel:
    path: Path
    seconds: float


def training_images(
    source: Source,
    spec: TransformSpec,
    on_skip: Callable[[Skipped], None],
    show_progress: bool,
    examples: list[bytes] | None = None,
) -> tuple[torch.Tensor, dict]:
    """A uniform sample of at most MAX_TRAIN_IMAGES (and MAX_TRAIN_BYTES) of the source's files,
    chosen before reading, through the fixed transform; and what the checkpoint records about the
    data. Every file is hashed (the data's fingerprint) but only the chosen are decoded,
    DECODE_THREADS at a time: of a library of 50,000 phone photos, 14,000 at 40 ms each instead of
    all 50,000. A chosen file that does not decode is reported here (the sample is one photo
    smaller); the load that embeds every photo reports the others. `examples` receives the bytes
    of the first EXAMPLES photos of the sample (to time reading them, `budget.reading_seconds`)."""
    side = spec.image_size
    total = source.count()
    most = min(MAX_TRAIN_IMAGES, MAX_TRAIN_BYTES // (3 * side**2), total)
    chosen = set(random.Random(0).sample(range(total), most))
    # One block, filled in place: stacking a list of photos would hold the sample twice at the
    # end, and a list of tens of thousands of small tensors leaves the memory it freed fragmented.
    sample = torch.empty(most, 3, side, side, dtype=torch.uint8)
    kept = 0
    digests: list[str] = []

    def place(path: str, data: bytes, pixels: Future) -> None:
        nonlocal kept
        outcome = pixels.result()
        if isinstance(outcome, str):
            on_skip(Skipped(path, outcome))
            return
        sample[kept] = outcome
        kept += 1
        if examples is not None and len(examples) < EXAMPLES:
            examples.append(data)

    with (
        progress(f"reading {source.name}", total, show_progress) as bar,
        ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool,
    ):
        pending: deque[tuple[str, bytes, Future]] = deque()
        for index, entry in enumerate(source):
            bar.advance()
            if isinstance(entry, Skipped):
                on_skip(entry)
                continue
            digests.append(hashlib.sha256(entry.data).hexdigest())
            if index in chosen:
                pending.append((entry.path, entry.data, pool.submit(_pixels, entry.data, spec)))
            while len(pending) > 2 * DECODE_THREADS:
                place(*pending.popleft())
        while pending:
            place(*pending.popleft())
    fingerprint = hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:16]
    info = {"source": source.name, "images": len(digests), "trained_on": kept, "fingerprint": fingerprint}
    return sample[:kept], info


def _pixels(data: bytes, spec: TransformSpec) -> torch.Tensor | str:
    """A file through the fixed transform (a big JPEG decoded at a reduced scale that covers it),
    or why not: returned, not raised, as `records._decoded` says why."""
    try:
        return fixed_transform(decode(data, target_side=spec.image_size).image, spec)
    except ImageRejected as exc:
        return str(exc)


@dataclass(frozen=True)
class TrainingRequest:
    """What `ingest load` asks of training."""

    collection: str
    image_size: int | None  # the input side (--image-size); None: chosen from the photos
    epochs: int | None  # exactly this many (--epochs); None: as many as fit the time budget
    retrain: bool  # --retrain: never resumes the state of a plain load's training
    minutes: float | None = None  # --minutes: the load's time target (default: recipe.LOAD_TARGET_S)
    start_from: StartingModel | None = None  # --start-from: the model whose weights training starts from
    # A line proposing --start-from, asked only when the load is about to train the few-photos recipe.


def state_path(models_dir: Path, collection: str) -> Path:
    """Where a load's training into `collection` keeps its state; its progress file is beside it."""
    return models_dir / "training" / f"{collection}.pt"


def train_model(
    source: Source,
    models_dir: Path,
    request: TrainingRequest,
    on_skip: Callable[[Skipped], None],
    no_images: Callable[[], str],
    notify: Callable[[str], None],
    show_progress: bool,
) -> TrainedModel:
    """Train the collection's model on the source's photos; an interrupted training (Ctrl-C, a
    crash, a killed process) saved its state under models/training/, and the same command resumes it."""
    epochs, start = request.epochs, request.start_from
    started = time.perf_counter()
    state = state_path(models_dir, request.collection)
    live.update(live.progress_path(state), phase="reading the photos to train on")
    chosen, spec, said = _recipe(source, request, show_progress)
    model_cfg, train_cfg, embed_side = chosen.model, chosen.training, chosen.embed_side
    examples: list[bytes] = []
    images, info = training_images(source, spec, on_skip, show_progress, examples)
    if len(images) == 0:
        raise UserError(no_images())
    if len(images) < MIN_TRAIN_IMAGES:
        raise UserError(
            f"{source.name} holds {len(images)} images; training a model needs at least {MIN_TRAIN_IMAGES}: "
            "add images, or load into a collection that already has a model (--collection)"
        )
    notify(f"input side {said}")  # told once it is known there is something to train on
    notify(f"recipe: {chosen.name} ({chosen.why})")
    info.update(collection=request.collection, input_side=said, recipe={"name": chosen.name, "why": chosen.why})
    if start is not None:
        info["started_from"] = start.lineage()
        live.update(  # the page draws this training's curves on from the starting model's
            live.progress_path(state),
            epochs_before=epochs_total(start.checkpoint),
            parent_model_id=start.checkpoint.model_id,
            earlier=start.checkpoint.history,
        )
    if epochs is not None:  # --epochs N: exactly N epochs, instead of as many as fit the time budget
        train_cfg = replace(train_cfg, epochs=epochs, time_budget_s=None)
    elif train_cfg.time_budget_s is not None:
        after = embedding_seconds(model_cfg, images, info["images"])
        after += reading_seconds(examples, info["images"], embed_side)
        most, target = train_cfg.time_budget_s, None
        if request.minutes is not None:  # the same margin for the rest of the load as by default
            target = request.minutes * 60
            most = max(MIN_TRAIN_S, target - (LOAD_TARGET_S - train_cfg.time_budget_s))
        budget = training_budget(most, time.perf_counter() - started, after, target)
        train_cfg = replace(train_cfg, time_budget_s=budget.seconds)
        notify(f"training for {budget.seconds:.0f} s: {budget.reason}")
    del examples  # a phone photo's file is 5 MB: not held through training
    purpose = "retrain" if request.retrain else "load"
    if start is not None:  # never resumes a training that started from another model, or from none
        purpose += f" from {start.checkpoint.model_id}"
    resumable = Resumable(state, f"{info['fingerprint']}:{purpose}", notify)
    bars = progress if show_progress else None
    parent = start.checkpoint if start is not None else None
    path = fit(
        images, models_dir, model_cfg, train_cfg, info, bars, whiten=chosen.whiten, resumable=resumable, parent=parent
    )
    live.update(live.progress_path(state), phase="embedding the photos")
    del images
    return_freed_heap()
    return TrainedModel(path, time.perf_counter() - started)


def _recipe(source: Source, request: TrainingRequest, show_progress: bool) -> tuple[Recipe, TransformSpec, str]:
    """The recipe of the load's model, the fixed transform its training photos go through, and
    the input side in words. The photos' sizes choose the side (or --image-size gives it), and the
    side and the number of photos the recipe; a model started from another keeps that one's."""
    start = request.start_from
    if start is not None:
        chosen = recipe_from(start, source.count())
        crops = f"{chosen.model.image_size} px crops, as model {start.checkpoint.model_id} was"
        return chosen, start.checkpoint.transform, f"{chosen.embed_side} px, trained on {crops}"
    if request.image_size is None:
        sizes, total = sample_sizes(source, show_progress)
        choice = choose_side(sizes, total)
        photos = min(total, len(sizes) * max(1, -(-total // SIZE_SAMPLE)))  # sizes read 1 in every so many
    else:
        choice = SideChoice(request.image_size, f"{request.image_size} px: given by --image-size")
        photos = source.count()
    chosen = for_collection(choice.side, photos)
    return chosen, TransformSpec(image_size=chosen.embed_side), f"{chosen.embed_side} px, trained on {choice.reason}"


def return_freed_heap() -> None:
    """Hand the memory training freed back to the system before the embedding begins. glibc
    keeps freed blocks below its mmap threshold for reuse, and after training they are hundreds
    of MB (367 MB on `bigcats.zip`) that the embedding's own peak would stack on
    (docs/decisions.md). Nothing to do where the C library has no malloc_trim."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: macOS, musl, Windows
        return
    trim(0)
