"""One contract, every store: the same assertions against Qdrant Edge (the embedded default,
always), qdrant-client's local mode (what `ingest migrate` reads), and a Qdrant server when
QDRANT_URL answers. A new qdrant-edge-py release that changes what the product relies on
fails here first."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
import qdrant_edge as qe

from ingest.store import Layout, Near, Point, Store, Where
from ingest.store.client import ClientStore
from ingest.store.edge import EdgeStore

DIM = 8
LABELS = ["cat", "dog", "cat", "bird", "cat", "dog", "cat", "bird", "cat", "dog"]


def server_reachable() -> bool:
    url = os.environ.get("QDRANT_URL")
    if not url:
        return False
    try:
        ClientStore.server(url, os.environ.get("QDRANT_API_KEY") or None, 5).close()
        return True
    except Exception:
        return False


@pytest.fixture(params=["edge", "local-mode", pytest.param("server", marks=pytest.mark.server)])
def store(request, tmp_path) -> Store:
    if request.param == "edge":
        opened: Store = EdgeStore(tmp_path / "edge")
    elif request.param == "local-mode":
        opened = ClientStore.local_mode(tmp_path / "local")
    else:
        if not server_reachable():
            pytest.skip("needs a Qdrant server: set QDRANT_URL (docker compose up -d qdrant)")
        opened = ClientStore.server(os.environ["QDRANT_URL"], os.environ.get("QDRANT_API_KEY") or None, 10)
    names = [f"contract-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    opened.names = names  # collections this test may use: unique, so a server may hold real data
    yield opened
    for name in names:
        if name in opened.collections():
            opened.delete_collection(name)
    opened.close()


def points(n: int = 10, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return [
        Point(
            str(uuid.UUID(int=i + 1)),
            vectors[i],
            {
                "label": LABELS[i % len(LABELS)],
                "source": "a.zip" if i < 6 else "b.zip",
                "path": f"animals/{LABELS[i % len(LABELS)]}/photo_{i:04d}.jpg",
                "sha256": f"{i:064x}",
                "recon_error": 0.01 * (i + 1),
                "ingested_at": "2026-11-25T10:00:00+00:00",
            },
        )
        for i in range(n)
    ]


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture
def filled(store) -> tuple[Store, str, list[Point]]:
    name = store.names[0]
    store.create_collection(name, DIM, {"model_id": "m1", "alias": "pets"})
    made = points()
    store.upsert(name, made[:5])
    store.upsert(name, made[5:])
    return store, name, made


def test_collections_metadata_and_an_alias_switched_in_one_step(store):
    first, second = store.names
    store.create_collection(first, DIM, {"model_id": "m1"})
    store.create_collection(second, DIM, {"model_id": "m2"})
    assert {first, second} <= set(store.collections())
    assert store.dimension(first) == DIM and isinstance(store.layout(first), Layout)
    store.set_alias(f"{first}-alias", first)
    assert store.aliases()[f"{first}-alias"] == first
    store.set_alias(f"{first}-alias", second)  # what --retrain does
    assert store.aliases()[f"{first}-alias"] == second
    store.update_metadata(second, {"evaluation": {"k": 10}})
    assert store.metadata(second) == {"model_id": "m2", "evaluation": {"k": 10}}  # merged, key by key
    store.delete_collection(second)
    assert second not in store.collections() and f"{first}-alias" not in store.aliases()


def test_upsert_retrieve_count_and_delete(filled):
    store, name, made = filled
    assert store.count(name) == 10
    again = [Point(p.id, p.vector, {**p.payload, "label": "lynx"}) for p in made[:2]]
    store.upsert(name, again)  # same ids: replaced, not added
    assert store.count(name) == 10
    found = store.retrieve(name, [made[3].id, "00000000-0000-0000-0000-00000000ffff", made[0].id], vectors=True)
    assert [r.id for r in found] == [made[3].id, made[0].id]  # in the order asked, missing ones left out
    assert found[1].payload["label"] == "lynx"
    assert np.allclose(found[0].vector, unit(made[3].vector), atol=1e-5)  # cosine: kept at unit length
    only = store.retrieve(name, [made[4].id], payload=["label"])[0]
    assert only.payload == {"label": "cat"} and only.vector is None
    store.set_payload(name, [made[4].id], {"copies": [{"source": "c.zip", "path": "x.jpg"}]})
    assert store.retrieve(name, [made[4].id])[0].payload["copies"] == [{"source": "c.zip", "path": "x.jpg"}]
    assert store.retrieve(name, [made[4].id])[0].payload["label"] == "cat"  # merged, not replaced
    store.delete(name, [made[0].id, made[1].id])
    assert store.count(name) == 8 and store.retrieve(name, [made[0].id]) == []


def test_search_ranks_by_cosine_with_filters_and_a_threshold(filled):
    store, name, made = filled
    query = made[2].vector
    expected = sorted(made, key=lambda p: -float(unit(p.vector) @ unit(query)))
    found = store.search(name, query, 4)
    assert [s.id for s in found] == [p.id for p in expected[:4]]
    assert found[0].score == pytest.approx(1.0, abs=1e-5) and found[0].payload["label"] == "cat"
    cats = store.search(name, query, 10, Where(label="cat"))
    assert {s.payload["label"] for s in cats} == {"cat"} and len(cats) == 5
    assert all(s.payload["source"] == "b.zip" for s in store.search(name, query, 10, Where(source="b.zip")))
    assert made[2].id not in {s.id for s in store.search(name, query, 10, Where(exclude_ids=(made[2].id,)))}
    above = store.search(name, query, 10, min_score=0.2)
    assert above and all(s.score >= 0.2 for s in above)
    # Whole words of the path: "photo_0004" is the words "photo" and "0004".
    assert [s.payload["path"] for s in store.search(name, query, 10, Where(path_words="cat 0004"))] == [
        "animals/cat/photo_0004.jpg"
    ]


def test_batches_of_searches_give_what_single_searches_give(filled):
    store, name, made = filled
    vectors = np.stack([p.vector for p in made])
    batch = store.search_batch(name, vectors, 3)
    assert len(batch) == 10
    for vector, answer in zip(vectors, batch):
        assert [s.id for s in answer] == [s.id for s in store.search(name, vector, 3)]


def test_scroll_pages_through_everything_once_and_filters(filled):
    store, name, made = filled
    seen, offset = [], None
    while True:
        page, offset = store.scroll(name, limit=3, offset=offset, payload=False)
        seen += [r.id for r in page]
        if offset is None:
            break
    assert sorted(seen) == sorted(p.id for p in made) and len(seen) == 10
    assert {r.payload["label"] for r in store.points(name, Where(label="dog"))} == {"dog"}
    assert store.count(name, Where(label="dog")) == 3
    assert store.count(name, Where(source="a.zip")) == 6


def test_facets_order_sampling_and_recommendation(filled):
    store, name, made = filled
    assert store.facet(name, "label") == {"cat": 5, "dog": 3, "bird": 2}
    assert store.facet(name, "label", Where(source="b.zip")) == {"cat": 2, "dog": 1, "bird": 1}
    top = store.highest(name, "recon_error", 3)
    assert [r.payload["recon_error"] for r in top] == pytest.approx([0.10, 0.09, 0.08])
    picked = store.sample(name, Where(label="bird"))
    assert picked is not None and picked.payload["label"] == "bird"
    assert store.sample(name, Where(label="zebra")) is None
    # Closer to the positives than to the negative: a point equal to the negative never leads.
    liked, disliked = made[0].vector, made[1].vector
    recommended = store.recommend(name, [liked], [disliked], 5)
    assert recommended[0].id == made[0].id
    assert made[1].id not in [s.id for s in recommended[:3]]


# When, with what and where a photo was taken (`ingest.exif`): the time on the camera's clock
# without an offset, a camera name, a position. Point 3 has none of them, as a scan would.
TAKEN = [
    "2024-06-01T14:30:05",
    "2024-06-01T14:30:05.250",
    "2024-08-31T23:59:59",
    None,
    "2024-09-01T00:00:00",
    "2023-12-31T23:59:59.999",
]
CAMERAS = ["Apple iPhone 13", "Apple iPhone 13", "Canon EOS R5", None, "Canon EOS R5", "NIKON D750"]
PARIS, LYON = {"lat": 48.8566, "lon": 2.3522}, {"lat": 45.764, "lon": 4.8357}


@pytest.fixture
def photos(store) -> tuple[Store, str, list[Point]]:
    name = store.names[0]
    store.create_collection(name, DIM, {"model_id": "m1"})
    made = []
    for i, (point, taken, camera) in enumerate(zip(points(len(TAKEN), seed=3), TAKEN, CAMERAS)):
        payload = {**point.payload, "taken_from": "DateTimeOriginal" if taken else "none"}
        payload.update({"taken_at": taken} if taken else {})
        payload.update({"camera": camera} if camera else {})
        payload.update({"location": PARIS if i < 2 else LYON} if i in (0, 1, 2) else {})
        made.append(Point(point.id, point.vector, payload))
    store.upsert(name, made)
    return store, name, made


def test_dates_cameras_and_places_filter_inside_the_store(photos):
    store, name, made = photos

    def found(where: Where) -> list[int]:
        return sorted(int(uuid.UUID(r.id)) - 1 for r in store.points(name, where))

    # After: from that moment on, included; before: up to it, excluded (summer = June to August).
    assert found(Where(taken_after="2024-06-01T00:00:00", taken_before="2024-09-01T00:00:00")) == [0, 1, 2]
    assert found(Where(taken_after="2024-06-01T14:30:05.100")) == [1, 2, 4]  # to the millisecond
    assert found(Where(taken_before="2024-06-01T14:30:05.250")) == [0, 5]
    assert found(Where(cameras=("Canon EOS R5", "NIKON D750"))) == [2, 4, 5]
    assert found(Where(cameras=("Apple iPhone 13",), taken_after="2024-06-01T14:30:05.001")) == [1]
    assert found(Where(near=Near(48.86, 2.35, 10))) == [0, 1]  # Paris, not Lyon (390 km away)
    assert found(Where(near=Near(48.86, 2.35, 500))) == [0, 1, 2]
    query = made[2].vector
    in_summer = Where(taken_after="2024-06-01T00:00:00", taken_before="2024-09-01T00:00:00")
    assert {s.id for s in store.search(name, query, 10, in_summer)} == {made[i].id for i in (0, 1, 2)}
    batch = store.search_batch(name, np.stack([p.vector for p in made]), 10, where=in_summer)
    assert all({s.id for s in answer} == {made[i].id for i in (0, 1, 2)} for answer in batch)
    assert store.count(name, Where(taken_after="2000-01-01T00:00:00")) == 5  # the undated one is never in a range
    assert store.facet(name, "camera") == {"Apple iPhone 13": 2, "Canon EOS R5": 2, "NIKON D750": 1}


def test_ordered_by_date_taken_pages_from_a_start_and_leaves_out_the_undated(photos):
    store, name, made = photos
    oldest = [int(uuid.UUID(r.id)) - 1 for r in store.ordered(name, "taken_at", 10)]
    assert oldest == [5, 0, 1, 2, 4]  # point 3 has no date
    newest = store.ordered(name, "taken_at", 2, descending=True)
    assert [r.payload["taken_at"] for r in newest] == ["2024-09-01T00:00:00", "2024-08-31T23:59:59"]
    after = store.ordered(name, "taken_at", 2, start_from="2024-06-01T14:30:05.250")  # included
    assert [int(uuid.UUID(r.id)) - 1 for r in after] == [1, 2]
    canons = store.ordered(name, "taken_at", 10, Where(cameras=("Canon EOS R5",)), descending=True)
    assert [int(uuid.UUID(r.id)) - 1 for r in canons] == [4, 2]
    assert [r.payload["recon_error"] for r in store.highest(name, "recon_error", 2)] == pytest.approx([0.06, 0.05])


def test_a_collection_made_before_the_date_and_place_indexes_gets_them(photos):
    store, name, _ = photos
    assert store.ensure_payload_indexes(name) == []  # created with every index already
    if isinstance(store, EdgeStore):  # as an earlier version made it
        for field in ("taken_at", "location", "camera"):
            store._shard(name).update(qe.UpdateOperation.delete_field_index(field))
    elif not store.embedded:
        for field in ("taken_at", "location", "camera"):
            store.client.delete_payload_index(name, field, wait=True)
    else:
        return  # local mode has no payload indexes at all
    assert sorted(store.ensure_payload_indexes(name)) == ["camera", "location", "taken_at"]
    assert store.ensure_payload_indexes(name) == []
    assert store.count(name, Where(taken_after="2024-06-01T00:00:00", cameras=("Canon EOS R5",))) == 2
