"""`ingest load`: zip -> reader -> encoder -> store writer, in one screen.

A collection with no model yet gets one trained on these photos first (`training`). Media
copies are written before their points, and a collection is bound to its model before its
first point, so an interrupted load leaves a consistent collection that the same command
completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from encoder.embed import Embedder
from ingest.errors import UserError
from ingest.load.batches import embed_into, needing_embedding, stored_records
from ingest.load.reader import Skipped, Source
from ingest.load.records import read_records
from ingest.load.start_from import starting_model
from ingest.load.sync import Applied, prune
from ingest.load.training import TrainingRequest, train_model
from ingest.load.writer import StoreWriter
from ingest.progress import progress
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import Layout, Store, embedded_store_exists, open_store
from ingest.store import collections as cols
from ingest.store.damage import embedder_from
from ingest.store.media import MediaStore, decode_picture
from ingest.store.media_users import note_server
from ingest.store.migrate import legacy_notice
from ingest.store.space import check_room_for_load, check_writable


@dataclass
class LoadOptions:
    collection: str = DEFAULT_COLLECTION
    epochs: int | None = None
    minutes: float | None = None  # the load's time target; None: recipe.LOAD_TARGET_S
    retrain: bool = False
    model_id: str | None = None  # fill a new collection with this already trained model
    start_from: str | None = None  # train the collection's model from this one's weights (a model id or collection)
    image_size: int | None = None  # the model's input side; None: chosen from the photos' sizes
    layout: Layout = Layout()  # shards, replicas, write consistency of a new collection (a cluster)
    show_progress: bool = True
    prune: bool = False  # afterwards, forget the photos of this source whose file is gone (`sync`)


@dataclass
class LoadReport:
    """What a load did; each field is named as its key in `ingest load --json` (`to_json`)."""

    collection: str
    physical_collection: str
    model_id: str
    trained: bool
    indexed: int = 0
    already_present: int = 0
    re_embedded: int = 0  # points re-embedded from the old collection by --retrain
    copies: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    train_seconds: float = 0.0
    index_seconds: float = 0.0  # building the search index of a big collection, at the end
    sync: Applied | None = None  # with --prune: added, moved, removed
    exif_filled: int = 0  # photos loaded before EXIF was read, given their date, camera and place now

    def to_json(self) -> dict:
        return {
            "collection": self.collection,
            "physical_collection": self.physical_collection,
            "model_id": self.model_id,
            "trained": self.trained,
            "indexed": self.indexed,
            "already_present": self.already_present,
            "exif_filled": self.exif_filled,
            "re_embedded": self.re_embedded,
            "copies": [{"path": path, "copy_of": original} for path, original in self.copies],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
            "index_seconds": round(self.index_seconds, 3),
            "sync": self.sync.to_json() if self.sync else None,
        }


def load(
    path: Path,
    settings: Settings,
    options: LoadOptions,
    on_skip: Callable[[Skipped], None] = lambda _: None,
    notify: Callable[[str], None] = lambda _: None,
) -> LoadReport:
    started = time.perf_counter()
    source = Source(path)  # a wrong path fails here, before anything is written
    skipped: list[Skipped] = []

    def skip(entry: Skipped) -> None:
        skipped.append(entry)
        on_skip(entry)

    def no_images() -> str:
        return no_images_message(source, skipped)

    start = starting_model(settings, options)  # its mistakes before anything is written
    if notice := legacy_notice(settings):
        notify(f"note: {notice}")
    checkpoint, trained = existing_model(settings, options), None
    check_writable(settings.home)  # the machine's faults, before anything is written
    physical = cols.physical_name(options.collection, checkpoint.parent.name) if checkpoint else None
    new_collection = settings.embedded and (
        physical is None or not (settings.store_dir / "collections" / physical).exists()
    )
    check_room_for_load(settings.home, source.file_sizes(), checkpoint is None, new_collection)
    if checkpoint is None:  # the store is not held while training, so the page keeps working
        if start is not None:
            notify(f"starting from {start.said()}")
        request = TrainingRequest(
            options.collection,
            options.image_size,
            options.epochs,
            options.retrain,
            options.minutes,
            start_from=start,
        )
        trained = train_model(source, settings.models_dir, request, skip, no_images, notify, options.show_progress)
        checkpoint = trained.path
    embedder = embedder_from(checkpoint)  # a damaged checkpoint: one line
    media = MediaStore(settings.media_dir)
    note_server(settings)  # a server's points use this data directory's media too (`media_users`)
    waiting = "waiting for the embedded store, held by another process (the page?)"
    with open_store(settings, on_wait=lambda: notify(waiting)) as store:
        old, physical = prepare(store, options, embedder)
        report = LoadReport(
            options.collection,
            physical,
            embedder.model_id,
            trained is not None,
            skipped=skipped,
            train_seconds=trained.seconds if trained else 0.0,
        )
        writer = StoreWriter(store, physical, embedder.model_id)
        holds_points = store.count(physical) > 0
        try:  # a model trained here has read every file once already and reported what it could
            told = {s.path for s in skipped}
            untold = (lambda entry: None if entry.path in told else skip(entry)) if trained else skip
            # closing(): a reader stopped by an error ends its progress line before the error is told
            with closing(read_records(source, untold, options.show_progress, decode_picture)) as records:
                embed_into(
                    needing_embedding(records, writer, media) if holds_points else records, embedder, writer, media
                )
            if old and old.physical != physical:
                with closing(stored_records(store, old.physical, media, skip, options.show_progress)) as records:
                    report.re_embedded = embed_into(records, embedder, writer)
        finally:
            counts = writer.close()
        report.indexed, report.already_present = counts.indexed, counts.already_present
        report.copies, report.exif_filled = counts.copies, counts.exif_filled
        if report.indexed + report.already_present + report.re_embedded == 0:
            if old is None:
                store.delete_collection(physical)  # created by this run, holds nothing
            raise UserError(no_images())
        report.index_seconds = finish(
            store, options.collection, physical, old, report.re_embedded, notify, options.show_progress
        )
        if options.prune:
            report.sync = prune(store, physical, source, media, settings, report.indexed, options.show_progress)
            if report.sync.media_kept_because:
                notify(f"note: every media copy was kept: {report.sync.media_kept_because}")
    report.seconds = time.perf_counter() - started
    return report


def existing_model(settings: Settings, options: LoadOptions) -> Path | None:
    """The collection's own model, or the one --model names; None when one must be trained."""
    if not options.retrain and (not settings.embedded or embedded_store_exists(settings)):
        with open_store(settings) as store:
            current = cols.state(store, options.collection)
        if current is not None:
            return cols.checkpoint_path(settings, current)
    if options.model_id:
        return cols.checkpoint_path(settings, cols.CollectionState(options.collection, "", options.model_id, {}))
    return None


def prepare(store: Store, options: LoadOptions, embedder: Embedder) -> tuple[cols.CollectionState | None, str]:
    """The collection as it is, and the physical collection this load writes into (created,
    and named by the alias when the collection is new)."""
    old = cols.state(store, options.collection)
    if old and old.model_id not in (None, embedder.model_id) and not options.retrain:
        raise UserError(
            f"collection {options.collection!r} was filled by model {old.model_id}, "
            f"not {embedder.model_id}: use --retrain to rebuild it"
        )
    physical = cols.create(
        store, options.collection, embedder.model_id, embedder.dim, options.layout, like=old.physical if old else None
    )
    if old is None:
        store.set_alias(options.collection, physical)
    else:  # made by an earlier version: the date, camera and place indexes come now
        store.ensure_payload_indexes(physical)
    return old, physical


def finish(
    store: Store,
    collection: str,
    physical: str,
    old: cols.CollectionState | None,
    carried: int,
    notify: Callable[[str], None],
    show_progress: bool,
) -> float:
    """Point the collection at what was written, delete what it replaces, index a big collection
    (the seconds that took are returned)."""
    if old and old.physical != physical:
        store.set_alias(collection, physical)
        kept = cols.retire(store, collection, physical, old.physical, carried == store.count(old.physical))
        for name in kept:
            notify(f"kept the old collection {name}: some of its images have no stored copy")
    started = time.perf_counter()
    with progress(f"indexing {collection} for fast search", None, show_progress):
        built = store.build_index(physical)
    return time.perf_counter() - started if built else 0.0


def no_images_message(source: Source, skipped: list[Skipped]) -> str:
    reasons = sorted({s.kind for s in skipped})
    detail = f" ({len(skipped)} files skipped: {'; '.join(reasons[:3])})" if skipped else ""
    formats = "JPEG, PNG, WebP, HEIC, AVIF, TIFF, BMP or GIF"
    return f"no usable images in {source.path}{detail}: give a zip or folder of {formats} files"
