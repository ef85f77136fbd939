"""The writer (`ingest.load.writer`) on a real embedded store, fast and on made-up records: one
point per distinct file, the other places of the same bytes in `copies`, the payload named as
the record's fields."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ingest.load.records import FILE_FIELDS, ImageRecord, point_id
from ingest.load.writer import StoreWriter
from ingest.store.edge import EdgeStore

from images_for_tests import photo


def record(content: bytes, path: str, source: str = "a.zip") -> ImageRecord:
    return ImageRecord(
        path=path,
        source=source,
        label=path.split("/")[0],
        width=40,
        height=30,
        format="JPEG",
        bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        image=photo(1),
        data=content,
    )


@pytest.fixture
def store(tmp_path):
    with EdgeStore(tmp_path / "store") as opened:
        opened.create_collection("c", 4, {})
        yield opened


def write(store, *batches: list[ImageRecord]):
    writer = StoreWriter(store, "c", "model-1")
    rng = np.random.default_rng(0)
    for batch in batches:
        writer.submit(batch, rng.standard_normal((len(batch), 4)).astype(np.float32), np.full(len(batch), 0.02))
    return writer.close()


def test_one_point_per_file_and_the_other_places_in_copies(store):
    cat, dog = record(b"cat bytes", "cat/1.jpg"), record(b"dog bytes", "dog/1.jpg")
    cat_elsewhere = record(b"cat bytes", "old/cat.jpg")  # same bytes, same batch
    counts = write(
        store,
        [cat, cat_elsewhere],
        [record(b"cat bytes", "cat/1.jpg"), dog, record(b"dog bytes", "pets/dog.jpg", source="b.zip")],
    )
    assert (counts.indexed, counts.already_present) == (2, 3)
    assert counts.copies == [("old/cat.jpg", "cat/1.jpg"), ("pets/dog.jpg", "dog/1.jpg")]
    stored = {r.payload["path"]: r.payload for r in store.points("c")}
    assert set(stored) == {"cat/1.jpg", "dog/1.jpg"}
    assert stored["cat/1.jpg"]["copies"] == [{"source": "a.zip", "path": "old/cat.jpg"}]  # the same file twice: once
    assert stored["dog/1.jpg"]["copies"] == [{"source": "b.zip", "path": "pets/dog.jpg"}]


def test_the_payload_is_the_records_fields_and_what_the_writer_adds(store):
    cat = record(b"cat bytes", "cat/1.jpg")
    write(store, [cat])
    (point,) = store.retrieve("c", [point_id(cat.sha256)])
    assert set(point.payload) == set(FILE_FIELDS) | {"model_id", "recon_error", "ingested_at"}
    assert {name: point.payload[name] for name in FILE_FIELDS} == {name: getattr(cat, name) for name in FILE_FIELDS}
    assert point.payload["model_id"] == "model-1" and point.payload["recon_error"] == pytest.approx(0.02)
