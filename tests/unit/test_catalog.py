"""The catalog kept beside the embedded store (every point's payload, for `ingest repair`) and
the rule that a payload's `sha256` never becomes a path: on a real Qdrant Edge store in tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ingest.store import Point
from ingest.store.catalog import Catalog
from ingest.store.edge import EdgeStore
from ingest.store.media import MediaStore, NotASha256


def points(n: int, start: int = 0) -> list[Point]:
    rng = np.random.default_rng(start)
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    return [
        Point(f"00000000-0000-4000-8000-{i:012d}", v / np.linalg.norm(v), {"path": f"p{i}.jpg", "label": "cat"})
        for i, v in zip(range(start, start + n), vectors)
    ]


def test_the_catalog_replays_to_what_the_store_holds(tmp_path):
    with EdgeStore(tmp_path / "store") as store:
        store.create_collection("c", 8, {"model_id": "m"})
        store.upsert("c", points(50))
        store.set_payload("c", [points(1)[0].id], {"label": "dog"})
        store.delete("c", [p.id for p in points(10, 40)])
        store.update_metadata("c", {"evaluation": {"p10": 0.5}})
        held = {r.id: r.payload for r in store.points("c")}
    catalog = Catalog(tmp_path / "store" / "catalog")
    replayed = catalog.replay("c")
    assert replayed.payloads == held and len(held) == 40 and replayed.damaged_bytes == replayed.torn_bytes == 0
    assert catalog.description("c")["metadata"] == {"model_id": "m", "evaluation": {"p10": 0.5}}


def test_a_frame_torn_by_a_crash_is_cut_off_before_the_next_append(tmp_path):
    catalog = Catalog(tmp_path)
    catalog.upserted("c", {p.id: p.payload for p in points(5)})
    whole = catalog.log("c").stat().st_size
    catalog.upserted("c", {p.id: p.payload for p in points(5, 5)})
    os.truncate(catalog.log("c"), catalog.log("c").stat().st_size - 7)  # killed while it wrote
    assert (len(catalog.replay("c").payloads), catalog.replay("c").torn_bytes) == (
        5,
        catalog.log("c").stat().st_size - whole,
    )

    after_crash = Catalog(tmp_path)  # the next process
    after_crash.upserted("c", {p.id: p.payload for p in points(3, 20)})
    replayed = after_crash.replay("c")
    assert len(replayed.payloads) == 8 and replayed.torn_bytes == replayed.damaged_bytes == 0


def test_a_damaged_frame_is_skipped_and_counted_and_the_frames_after_it_still_count(tmp_path):
    catalog = Catalog(tmp_path)
    for start in (0, 10, 20):
        catalog.upserted("c", {p.id: p.payload for p in points(10, start)})
    data = bytearray(catalog.log("c").read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit in the middle frame
    catalog.log("c").write_bytes(bytes(data))
    replayed = catalog.replay("c")
    assert len(replayed.payloads) == 20 and replayed.damaged_bytes > 0


def test_a_sha256_that_is_not_one_never_becomes_a_path(tmp_path):
    media = MediaStore(tmp_path / "media")
    (tmp_path / "outside").write_text("not yours")
    for planted in ("../../outside", "../outside", "/etc/passwd", "ab" * 31 + "/x", "AB" * 32, "", None):
        with pytest.raises(NotASha256):
            media.path_for(planted)
        with pytest.raises(NotASha256):
            media.open(planted)
        assert media.delete(planted) == 0
    assert (tmp_path / "outside").read_text() == "not yours"
    assert media.path_for("ab" * 32) == tmp_path / "media" / "ab" / ("ab" * 32)
