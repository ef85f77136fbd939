"""The middle of a load (`ingest.load.batches.embed_into`) with the sample's trained model and a
real embedded store: batches embedded side by side still reach the writer in the order they were
read (the first place a photo was found is the one stored), every point holds its own photo's
vector, and every photo gets its media copy."""

from __future__ import annotations

import dataclasses
import gc
import threading

import numpy as np
import pytest

from encoder.embed import Embedder
from ingest.load.batches import embed_into, fewer_collections
from ingest.load.reader import Source
from ingest.load.records import read_records
from ingest.load.writer import StoreWriter
from ingest.store.edge import EdgeStore
from ingest.store.media import MediaStore, decode_picture


def test_every_point_holds_its_own_photos_vector(loaded_home, mini_zip, tmp_path):
    (checkpoint,) = (loaded_home / "models").glob("*/model.pt")
    embedder = Embedder.from_file(checkpoint)
    # float32: in bfloat16 (a CPU with it native) a photo embedded alone and in a batch differ by
    # its rounding, which this tiny model's whitening magnifies past the tolerance below
    embedder.bf16 = False
    records = list(read_records(Source(mini_zip), lambda skipped: None, False, decode_picture))
    assert len(records) > embedder.batch_size  # several batches, embedded at once
    first = records[0]
    records.append(dataclasses.replace(first, path="elsewhere/same-bytes.png"))  # in the last batch
    media = MediaStore(tmp_path / "media")
    with EdgeStore(tmp_path / "store") as store:
        store.create_collection("c", embedder.dim, {})
        writer = StoreWriter(store, "c", embedder.model_id)
        assert embed_into(iter(records), embedder, writer, media) == len(records)
        counts = writer.close()
        assert (counts.indexed, counts.copies) == (len(records) - 1, [("elsewhere/same-bytes.png", first.path)])
        points = store.retrieve("c", [r.id for r in records], vectors=True)
        stored = {p.id: p.vector for p in points}
        assert {p.id: p.payload["path"] for p in points}[first.id] == first.path
    for record in records[:: len(records) // 12]:  # from every batch
        alone, _ = embedder.embed_images([record.image])
        assert np.allclose(stored[record.id], alone[0], atol=1e-4), record.path
        assert media.path_for(record.sha256).exists()


@pytest.mark.parametrize("failing", ["reader", "media copy"])
def test_an_error_on_either_reading_thread_reaches_the_caller_and_both_threads_end(
    failing, loaded_home, mini_zip, tmp_path
):
    """The reader runs on two threads of its own (reading and decoding; copying and resizing).
    An error on either is raised where the load reports it, and both threads stop, the reader's
    own clean-up (its progress line, the zip) run on its thread."""
    (checkpoint,) = (loaded_home / "models").glob("*/model.pt")
    embedder = Embedder.from_file(checkpoint)
    records = list(read_records(Source(mini_zip), lambda skipped: None, False, decode_picture))
    closed = []

    def reader():
        try:
            yield from records[:50]
            if failing == "reader":
                raise OSError(5, "Input/output error", "the zip")
            yield from records[50:]
        finally:
            closed.append(threading.current_thread().name)

    media_root = tmp_path / "media"
    if failing == "media copy":
        media_root.write_text("a file where the media folder should be")
    with EdgeStore(tmp_path / "store") as store:
        store.create_collection("c", embedder.dim, {})
        writer = StoreWriter(store, "c", embedder.model_id)
        with pytest.raises(OSError):
            embed_into(reader(), embedder, writer, MediaStore(media_root))
        writer.close()
    assert closed == ["prefetch"]  # closed on its own thread, once
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_a_load_runs_the_cycle_collector_less_and_gives_it_back_as_it_found_it():
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()  # a plugin may have frozen some
    with fewer_collections():
        assert gc.get_threshold()[0] > 10 * before[0] and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen_before
    gc.freeze()  # a caller (a notebook, a server) that froze its own objects keeps them frozen
    try:
        frozen = gc.get_freeze_count()
        with fewer_collections():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
