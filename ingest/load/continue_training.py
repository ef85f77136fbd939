"""`ingest train`: the collection's own model trained on, on the collection's own photos, and the
collection moved to the better model, while it stays searchable.

1. The store is read once and let go: every point's payload, and the P@10 that `ingest
   evaluate` gives when the photos' folders give labels.
2. The photos come from the media store (the zips may be gone; photos loaded after the model
   was trained are in). Training starts from the model's weights with a fresh optimiser and a
   new warm-up and cosine laid over the time given; interrupted, the same command resumes it.
   The new checkpoint names its parent and counts the epochs of the whole lineage.
3. Every photo is re-embedded from its copy without the store, which is then held only to write
   the new physical collection and move the alias in one step (`switch`).
4. Held-out losses and P@10, before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from encoder import checkpoint as ckpt
from encoder import live, training_state
from encoder.embed import Embedder
from encoder.fit import fit
from encoder.recipe import EPOCH_CAP, TRAIN_MORE_MINUTES
from encoder.train import Resumable
from encoder.training_run import MIN_TRAIN_IMAGES
from ingest.errors import UserError
from ingest.load.budget import embedding_seconds, reading_seconds, training_budget
from ingest.load.continued_model import Measured, TrainReport, epochs_total, train_config_from
from ingest.load.reader import Skipped
from ingest.load.stored_photos import Snapshot, snapshot, training_images
from ingest.load.switch import embed_all, switch
from ingest.load.training_job import TrainingLock, continue_state_path, take_lock
from ingest.progress import progress
from ingest.query.evaluate import evaluate, store_evaluation
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols
from ingest.store import open_store
from ingest.store.media import MediaStore

DEFAULT_MINUTES = TRAIN_MORE_MINUTES
WAITING = "waiting for the embedded store, held by another process (the page?)"


class Stopped(Exception):
    """Asked to stop before training began: nothing was changed."""


@dataclass
class TrainOptions:
    collection: str = DEFAULT_COLLECTION
    minutes: float | None = None  # the whole command's time; None with epochs None: DEFAULT_MINUTES
    epochs: int | None = None  # exactly this many epochs instead
    show_progress: bool = True


def continue_training(
    settings: Settings,
    options: TrainOptions,
    notify: Callable[[str], None] = lambda _: None,
    on_skip: Callable[[Skipped], None] = lambda _: None,
    stop: Callable[[], bool] = lambda: False,
    lock: TrainingLock | None = None,
) -> TrainReport:
    """Everything in the module docstring; UserError, with nothing changed, for a mistake. stop():
    asked during training; True ends it, and the collection moves to what was learnt until then.
    `lock`: the training lock, when the caller took it already (`training_job.take_lock`)."""
    started = time.perf_counter()
    lock = lock or take_lock(settings, options.collection, options.minutes, options.epochs)
    try:
        with open_store(settings, on_wait=lambda: notify(WAITING)) as store:
            cols.require(store, options.collection)
        state = continue_state_path(settings.models_dir, options.collection)
        with live.job(live.progress_path(state), "train", options.collection, phase="reading the collection"):
            report = _continue(settings, options, state, notify, on_skip, stop, started)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    return report


def _continue(
    settings: Settings,
    options: TrainOptions,
    state: Path,
    notify: Callable[[str], None],
    on_skip: Callable[[Skipped], None],
    stop: Callable[[], bool],
    started: float,
) -> TrainReport:
    skipped: list[Skipped] = []

    def skip(entry: Skipped) -> None:
        skipped.append(entry)
        on_skip(entry)

    media = MediaStore(settings.media_dir)
    progress_file = live.progress_path(state)
    with open_store(settings, on_wait=lambda: notify(WAITING)) as store:
        current = cols.require(store, options.collection)
        parent_path = cols.checkpoint_path(settings, current)
        photos = snapshot(store, current.physical)
        before_p10 = _precision(store, current, options.show_progress, stored_ok=True)
    parent = ckpt.load(parent_path)
    switch_marker = state.with_name(f"{options.collection}.switch.pt")
    pending = training_state.load(switch_marker, parent.model_id)
    if pending and (settings.models_dir / pending["model_id"] / parent_path.name).exists():
        notify(f"resuming: model {pending['model_id']} was trained from {parent.model_id}; moving the collection to it")
        new_path, trained_on = settings.models_dir / pending["model_id"] / parent_path.name, pending["trained_on"]
    else:
        new_path, trained_on = _train(settings, options, parent, photos, media, state, notify, skip, stop, started)
        training_state.save(
            switch_marker, parent.model_id, {"model_id": new_path.parent.name, "trained_on": trained_on}
        )
    embedder = Embedder.from_file(new_path)
    live.update(progress_file, phase=f"re-embedding the collection with model {embedder.model_id}")
    embedded = embed_all(photos, media, embedder, skip, options.show_progress)
    live.update(progress_file, phase=f"moving the collection to model {embedder.model_id}")
    with open_store(settings, on_wait=lambda: notify(WAITING)) as store:
        switched = switch(
            store, options.collection, parent.model_id, embedder, embedded, media, skip, options.show_progress
        )
        after_p10 = _precision(store, cols.require(store, options.collection), options.show_progress, stored_ok=False)
    training_state.remove(switch_marker)
    summary = embedder.checkpoint.summary
    last = embedder.checkpoint.history[-1]
    return TrainReport(
        collection=options.collection,
        before=Measured(
            parent.model_id,
            epochs_total(parent),
            summary.get("initial_val_loss"),
            summary.get("initial_val_recon"),
            before_p10,
        ),
        after=Measured(
            embedder.model_id, epochs_total(embedder.checkpoint), last["val_loss"], last["val_recon"], after_p10
        ),
        switched=switched,
        photos=len(photos),
        trained_on=trained_on,
        epochs_run=summary["epochs_run"],
        train_seconds=summary["seconds"],
        stopped=bool(summary.get("stopped")),
        skipped=skipped,
    )


def _train(
    settings: Settings,
    options: TrainOptions,
    parent: ckpt.Checkpoint,
    photos: Snapshot,
    media: MediaStore,
    state: Path,
    notify: Callable[[str], None],
    skip: Callable[[Skipped], None],
    stop: Callable[[], bool],
    started: float,
) -> tuple[Path, int]:
    """The continued model's checkpoint, and how many photos it trained on."""
    examples: list[bytes] = []
    missing: list[Skipped] = []  # told once it is known there is something to train on
    images = training_images(photos, media, parent.transform, missing.append, options.show_progress, examples)
    if len(images) == 0:
        raise UserError(
            f"none of the {len(photos):,} photos of collection {options.collection!r} has a copy left in "
            f"{media.root}: load them again (`ingest load PATH`) to train on them"
        )
    if len(images) < MIN_TRAIN_IMAGES:
        raise UserError(
            f"only {len(images)} photos of collection {options.collection!r} have a copy in {media.root}; "
            f"training needs at least {MIN_TRAIN_IMAGES}: load more photos first"
        )
    for entry in missing:
        skip(entry)
    if stop():
        raise Stopped
    train_cfg = train_config_from(parent.train_config)
    # Other augmentation draws than the parent's epochs had (and than an earlier continuation's).
    train_cfg = replace(train_cfg, seed=train_cfg.seed + epochs_total(parent))
    if options.epochs is not None:
        train_cfg = replace(train_cfg, epochs=options.epochs, time_budget_s=None)
    else:
        target = (options.minutes or DEFAULT_MINUTES) * 60
        after = embedding_seconds(parent.model_config, images, len(photos))
        after += reading_seconds(examples, len(photos), parent.transform.image_size)
        budget = training_budget(target, time.perf_counter() - started, after, target, job="this training")
        # The epoch cap of a load's training, whatever the parent was trained with (--epochs 2 included).
        train_cfg = replace(train_cfg, epochs=EPOCH_CAP, time_budget_s=budget.seconds)
        notify(f"training for {budget.seconds:.0f} s: {budget.reason}")
    del examples
    info = {
        "source": f"the stored copies of collection {options.collection!r}",
        "images": len(photos),
        "trained_on": len(images),
        "fingerprint": photos.fingerprint,
        **({"input_side": parent.data["input_side"]} if parent.data.get("input_side") else {}),
    }
    live.update(  # the page draws this training's curves on from the parent's
        live.progress_path(state),
        epochs_before=epochs_total(parent),
        parent_model_id=parent.model_id,
        earlier=parent.history,
    )
    notify(
        f"continuing model {parent.model_id} ({epochs_total(parent)} epochs) on {len(images):,} photos "
        f"of collection {options.collection!r}"
    )
    resumable = Resumable(state, f"{parent.model_id}:{photos.fingerprint}:continue", notify)
    bars = progress if options.show_progress else None
    path = fit(
        images,
        settings.models_dir,
        parent.model_config,
        train_cfg,
        info,
        bars,
        resumable=resumable,
        parent=parent,
        stop=stop,
    )
    return path, len(images)


def _precision(store, state: cols.CollectionState, show_progress: bool, stored_ok: bool) -> float | None:
    """P@10 of the collection, None when its photos have no labels to judge by. stored_ok: an
    evaluation that `ingest evaluate` stored for this very model will do."""
    stored = state.metadata.get("evaluation") or {}
    if stored_ok and stored.get("model_id") == state.model_id and stored.get("k") == 10:
        return stored["precision_at_k"]
    try:
        result = evaluate(store, state, 10, show_progress)
    except UserError:  # no labels, or too few photos to rank ten
        return None
    store_evaluation(store, state, result)
    return result["precision_at_k"]
