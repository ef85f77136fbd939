"""`ingest load`: zip -> reader -> encoder -> Qdrant writer.

A collection with no model yet gets one trained on these images first (one reading pass to
collect training images, then the embedding pass reads again; memory stays bounded either
way). Media files are written before their points, and a collection is bound to its model
before its first point, so an interrupted load leaves a consistent collection that the same
command completes.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from encoder.embed import Embedder
from encoder.fit import CHECKPOINT_NAME, fit
from encoder.model import ModelConfig
from encoder.train import MIN_TRAIN_IMAGES, TrainConfig
from encoder.transforms import TransformSpec, fixed_transform
from ingest import store
from ingest.batches import carry_over, write_batches
from ingest.errors import UserError
from ingest.images import DecodedImage, ImageRejected, decode
from ingest.media import THUMBNAIL_SIDE, MediaStore
from ingest.progress import progress_bar
from ingest.reader import RawFile, Skipped, Source
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.writer import QdrantWriter

MAX_TRAIN_IMAGES = 50_000  # a uniform sample of bigger collections trains the model
LOCK_WAIT_S = 60.0


@dataclass
class LoadOptions:
    collection: str = DEFAULT_COLLECTION
    epochs: int | None = None
    retrain: bool = False
    model_id: str | None = None  # fill a new collection with this already trained model
    image_size: int = 32
    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None
    show_progress: bool = True


@dataclass
class LoadReport:
    collection: str
    physical: str
    model_id: str
    trained: bool
    indexed: int = 0
    present: int = 0
    carried: int = 0  # points re-embedded from the old collection by --retrain
    copies: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    train_seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "collection": self.collection,
            "physical_collection": self.physical,
            "model_id": self.model_id,
            "trained": self.trained,
            "indexed": self.indexed,
            "already_present": self.present,
            "re_embedded": self.carried,
            "copies": [{"path": path, "copy_of": original} for path, original in self.copies],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
        }


def good_images(source: Source, on_skip: Callable[[Skipped], None], show_progress: bool) -> Iterator[tuple[RawFile, DecodedImage]]:
    with progress_bar(f"reading {source.name}", source.count(), show_progress) as advance:
        for entry in source:
            advance()
            if isinstance(entry, Skipped):
                on_skip(entry)
                continue
            try:
                yield entry, decode(entry.data, target_side=THUMBNAIL_SIDE)
            except ImageRejected as exc:
                on_skip(Skipped(entry.path, str(exc)))


def training_images(source: Source, spec: TransformSpec, on_skip, show_progress: bool) -> tuple[torch.Tensor, dict]:
    """A uniform sample (reservoir) of at most MAX_TRAIN_IMAGES, through the fixed transform."""
    rng = random.Random(0)
    sample: list[torch.Tensor] = []
    digests: list[str] = []
    for seen, (raw, decoded) in enumerate(good_images(source, on_skip, show_progress)):
        digests.append(hashlib.sha256(raw.data).hexdigest())
        tensor = fixed_transform(decoded.image, spec)
        if len(sample) < MAX_TRAIN_IMAGES:
            sample.append(tensor)
        elif (j := rng.randrange(seen + 1)) < MAX_TRAIN_IMAGES:
            sample[j] = tensor
    fingerprint = hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:16]
    info = {"source": source.name, "images": len(digests), "trained_on": len(sample), "fingerprint": fingerprint}
    return (torch.stack(sample) if sample else torch.empty(0, 3, spec.image_size, spec.image_size, dtype=torch.uint8)), info


def load(
    path: Path,
    settings: Settings,
    options: LoadOptions,
    on_skip: Callable[[Skipped], None] = lambda _: None,
    notify: Callable[[str], None] = lambda _: None,
) -> LoadReport:
    started = time.perf_counter()
    source = Source(path)  # a wrong path fails here, before anything is written
    skip = SkipLog(on_skip)
    waiting = f"waiting up to {LOCK_WAIT_S:.0f}s for the embedded store, held by another process (the page?)"

    def opened():
        return store.open_store(settings, wait_s=LOCK_WAIT_S, on_wait=lambda: notify(waiting))

    # Opening an embedded store loads all of it, so a load that needs no training opens it
    # once; one that trains lets go of it meanwhile, so that the page keeps working.
    store_exists = not settings.embedded or settings.qdrant_path.exists()
    if store_exists:  # an embedded store is never created just to look into it
        with opened() as client:
            model = existing_model(settings, options, store.state(client, options.collection))
            if model:
                return fill(client, source, model, options, settings, skip, started, notify)
    model = existing_model(settings, options, None) or train_model(source, settings, options, skip)
    with opened() as client:
        return fill(client, source, model, options, settings, skip, started, notify)


def fill(
    client, source: Source, model: ModelChoice, options: LoadOptions, settings: Settings, skip: SkipLog, started: float, notify
) -> LoadReport:
    """Embed every image of `source` with `model` into the collection, through `client`."""
    embedder = Embedder.from_file(model.path)
    media = MediaStore(settings.media_dir)
    # A model trained here already read every file once and reported the bad ones.
    on_skip_second_pass = (lambda _: None) if model.trained else skip
    old = store.state(client, options.collection)
    if old and old.model_id not in (None, embedder.model_id) and not options.retrain:
        raise UserError(f"collection {options.collection!r} was filled by model {old.model_id}, not {embedder.model_id}: use --retrain to rebuild it")
    physical = store.create(
        client, settings, options.collection, embedder.model_id, embedder.dim,
        options.shards, options.replicas, options.write_consistency,
        like=old.physical if old else None,
    )
    if old is None:
        store.point_alias(client, options.collection, physical)
    report = LoadReport(options.collection, physical, embedder.model_id, model.trained, skipped=skip.entries, train_seconds=model.train_seconds)
    writer = QdrantWriter(client, physical, embedder.model_id)
    try:
        images = (
            (_prepare(raw, decoded, source.name), decoded.image)
            for raw, decoded in good_images(source, on_skip_second_pass, options.show_progress)
        )
        # One core is left to the writer: on 2 cores, embedding on both slows Qdrant's writes
        # more than it speeds embedding (README, "Speed and memory").
        with torch_threads(max(1, torch.get_num_threads() - 1)):
            write_batches(images, embedder, media, writer, store_media=True)
            if old and old.physical != physical:
                report.carried = carry_over(client, old.physical, embedder, media, writer, skip, options.show_progress)
    finally:
        counts = writer.close()
    report.indexed, report.present, report.copies = counts.indexed, counts.present, counts.copies
    if report.indexed + report.present + report.carried == 0:
        if old is None:
            client.delete_collection(physical)  # created in this run, holds nothing
        raise UserError(no_images_message(source, skip.entries))
    if old and old.physical != physical:
        store.point_alias(client, options.collection, physical)
        if report.carried == client.count(old.physical).count:
            client.delete_collection(old.physical)
        else:
            notify(f"kept the old collection {old.physical}: some of its images have no stored copy")
        for orphan in store.orphans(client, options.collection, keep={physical, old.physical}):
            client.delete_collection(orphan)  # left by an earlier, interrupted --retrain
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SkipLog:
    """Collects skipped files, passing each on to the caller as it happens."""

    def __init__(self, on_skip: Callable[[Skipped], None]) -> None:
        self.entries: list[Skipped] = []
        self.on_skip = on_skip

    def __call__(self, entry: Skipped) -> None:
        self.entries.append(entry)
        self.on_skip(entry)


@dataclass
class ModelChoice:
    path: Path
    trained: bool = False
    train_seconds: float = 0.0


def existing_model(settings: Settings, options: LoadOptions, current: store.CollectionState | None) -> ModelChoice | None:
    """The collection's own model, or the one --model names for a new (or retrained)
    collection; None when a new one must be trained on the source."""
    if current is not None and not options.retrain:
        return ModelChoice(model_path(settings, current))
    if options.model_id:
        return ModelChoice(model_path(settings, store.CollectionState(options.collection, "", options.model_id, {})))
    return None


def train_model(source: Source, settings: Settings, options: LoadOptions, skip: SkipLog) -> ModelChoice:
    spec = TransformSpec(image_size=options.image_size)
    images, info = training_images(source, spec, skip, options.show_progress)
    if len(images) == 0:
        raise UserError(no_images_message(source, skip.entries))
    if len(images) < MIN_TRAIN_IMAGES:
        raise UserError(
            f"{source.name} holds {len(images)} images; training a model needs at least {MIN_TRAIN_IMAGES}: "
            "add images, or load into a collection that already has a model (--collection)"
        )
    # --epochs N: exactly N epochs; by default, as many as fit in the time budget.
    train_cfg = TrainConfig() if options.epochs is None else TrainConfig(epochs=options.epochs, time_budget_s=None)
    started = time.perf_counter()
    path = fit(images, settings.models_dir, ModelConfig(image_size=options.image_size), train_cfg, info, options.show_progress)
    return ModelChoice(path, trained=True, train_seconds=time.perf_counter() - started)


def model_path(settings: Settings, state: store.CollectionState) -> Path:
    """The checkpoint of the model that filled `state` (or that `--model` names)."""
    if state.model_id is None:
        raise UserError(f"collection {state.name!r} records no model id: rebuild it with `ingest load PATH --retrain`")
    path = settings.models_dir / state.model_id / CHECKPOINT_NAME
    if not path.exists():
        raise UserError(
            f"collection {state.name!r} was filled by model {state.model_id}, whose checkpoint {path} is missing: "
            "set CBIR_HOME to the data directory that filled it, or rebuild with --retrain"
        )
    return path


def no_images_message(source: Source, skipped: list[Skipped]) -> str:
    reasons = sorted({s.reason.split(" (")[0] for s in skipped})
    detail = f" ({len(skipped)} files skipped: {'; '.join(reasons[:3])})" if skipped else ""
    return f"no usable images in {source.path}{detail}: give a zip or folder of JPEG, PNG, WebP, BMP or GIF files"


def _prepare(raw: RawFile, decoded: DecodedImage, source_name: str) -> dict:
    return {
        "sha256": hashlib.sha256(raw.data).hexdigest(),
        "path": raw.path,
        "source": source_name,
        "label": raw.label,
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "nbytes": len(raw.data),
        "data": raw.data,
    }
