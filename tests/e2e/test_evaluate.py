"""`ingest evaluate`: the maths on a hand-made collection with answers worked out by hand,
then the real CLI on the mini sample, checked against a brute-force ranking of the vectors
it stored, and the result shown by `ingest info`."""

from __future__ import annotations

import json
import math
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest

from ingest.load.records import point_id
from ingest.query.evaluate import average_precision_at_k, evaluate
from ingest.query.neighbours import nearest_others, read_points
from ingest.store import Point, Store
from ingest.store.collections import CollectionState
from ingest.store.edge import EdgeStore

from conftest import run_cli, store_at

# Unit vectors in the plane, at these angles: cosine ranks neighbours by angular distance.
HAND_MADE = [  # (name, degrees, label)
    ("a0", 0, "A"),
    ("a1", 10, "A"),
    ("b2", 25, "B"),
    ("a3", 45, "A"),
    ("b4", 60, "B"),
    ("n5", 100, None),  # no label: a possible (wrong) neighbour, never a query
    ("c6", 200, "C"),  # the only C: no right answer exists, so not a query
]


def point_uuid(name: str) -> str:
    return point_id(name)


@pytest.fixture
def client(tmp_path):
    """The embedded store (Qdrant Edge) on disk, in this test's own folder."""
    with EdgeStore(tmp_path / "store") as store:
        yield store


def hand_made_collection(store: Store, points) -> CollectionState:
    store.create_collection("hand", 2, {})
    store.upsert(
        "hand",
        [
            Point(
                point_uuid(name), np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))]), {"label": label}
            )
            for name, deg, label in points
        ],
    )
    return CollectionState("hand", "hand", "hand-model", {})


def test_average_precision_counts_rank_and_normalises_by_what_k_can_hold():
    # Relevant at ranks 2 and 3 of 3, five relevant points exist: (1/3) * (1/2 + 2/3).
    assert average_precision_at_k([False, True, True], 3, 5) == pytest.approx(7 / 18)
    # Only one relevant point exists and it is first: a perfect ranking scores 1.
    assert average_precision_at_k([True, False, False], 3, 1) == 1.0
    # Beyond K nothing counts.
    assert average_precision_at_k([False, False, True], 2, 1) == 0.0


def test_evaluate_hand_made_collection_gives_the_values_worked_out_by_hand(client):
    state = hand_made_collection(client, HAND_MADE)
    result = evaluate(client, state, k=3, show_progress=False)
    # Top 3 of each query (angular distance), relevance, P@3, AP@3 = (1/min(3,R)) sum P@i rel_i:
    #   a0 (R=2): a1 10 A, b2 25 B, a3 45 A  -> 1 0 1   P 2/3  AP (1/2)(1 + 2/3) = 5/6
    #   a1 (R=2): a0 10 A, b2 15 B, a3 35 A  -> 1 0 1   P 2/3  AP 5/6
    #   a3 (R=2): b4 15 B, b2 20 B, a1 35 A  -> 0 0 1   P 1/3  AP (1/2)(1/3) = 1/6
    #   b2 (R=1): a1 15 A, a3 20 A, a0 25 A  -> 0 0 0   P 0    AP 0
    #   b4 (R=1): a3 15 A, b2 35 B, n5 40 -  -> 0 1 0   P 1/3  AP (1/1)(1/2) = 1/2
    expected_p = (F(2, 3) + F(2, 3) + F(1, 3) + 0 + F(1, 3)) / 5  # 2/5
    expected_map = (F(5, 6) + F(5, 6) + F(1, 6) + 0 + F(1, 2)) / 5  # 7/15
    assert result["queries"] == 5
    assert result["points"] == 7 and result["unlabelled"] == 1 and result["singletons"] == 1
    assert result["precision_at_k"] == pytest.approx(float(expected_p))
    assert result["map_at_k"] == pytest.approx(float(expected_map))
    assert result["per_label"] == {
        "A": {"queries": 3, "precision_at_k": pytest.approx(5 / 9), "map_at_k": pytest.approx(11 / 18)},
        "B": {"queries": 2, "precision_at_k": pytest.approx(1 / 6), "map_at_k": pytest.approx(1 / 4)},
    }
    # A random ranking: R / (N - 1) per query -> (3 * 2/6 + 2 * 1/6) / 5.
    assert result["chance_precision_at_k"] == pytest.approx(4 / 15)
    # B's 6 slots hold 4 A's and 1 unlabelled point; A's 9 slots hold 4 B's.
    assert [(c["query_label"], c["neighbour_label"], c["count"]) for c in result["confusions"]] == [
        ("B", "A", 4),
        ("A", "B", 4),
        ("B", "(no label)", 1),
    ]
    assert [c["rate"] for c in result["confusions"]] == pytest.approx([4 / 6, 4 / 9, 1 / 6])


def test_a_point_is_never_its_own_neighbour_even_among_identical_vectors(client):
    # Three points on one vector (one picture in three encodings) and one far away.
    hand_made_collection(client, [("x", 0, "X"), ("y", 0, "X"), ("z", 0, "X"), ("far", 90, "X")])
    points = read_points(client, "hand", ["label"])
    found = nearest_others(client, "hand", points, k=2)
    for own_id, neighbours in zip(points.ids, found):
        assert len(neighbours) == 2 and own_id not in {n.id for n in neighbours}
    twins = {point_uuid(name) for name in "xyz"}
    for own_id, neighbours in zip(points.ids, found):
        if own_id in twins:  # its two twins, at cosine 1
            assert {n.id for n in neighbours} == twins - {own_id}
            assert [n.score for n in neighbours] == pytest.approx([1.0, 1.0])


def brute_force_precision(home: Path, k: int) -> float:
    """P@K from the stored vectors by one matrix product: no Qdrant query involved."""
    with store_at(home) as store:
        (name,) = store.collections()
        records = list(store.points(name, payload=["label"], vectors=True))
    vectors = np.asarray([r.vector for r in records], dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.asarray([r.payload["label"] for r in records])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    top = np.argsort(-similarity, axis=1)[:, :k]
    return float((labels[top] == labels[:, None]).mean())


def test_evaluate_cli_on_the_mini_sample_is_stored_and_shown_by_info(home_copy):
    result = run_cli(home_copy, "evaluate", "--json")
    assert result.returncode == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert {"k", "queries", "precision_at_k", "map_at_k", "per_label", "confusions", "model_id"} <= evaluation.keys()
    assert evaluation["k"] == 10 and evaluation["queries"] == 300
    assert set(evaluation["per_label"]) == {"bird", "cat", "deer", "dog", "frog", "horse"}
    assert all(row["queries"] == 50 for row in evaluation["per_label"].values())
    # The same number as ranking the stored vectors by hand: Qdrant answered every query.
    assert evaluation["precision_at_k"] == pytest.approx(brute_force_precision(home_copy, 10), abs=1e-9)
    assert 0.0 < evaluation["map_at_k"] <= 1.0

    info = json.loads(run_cli(home_copy, "info", "--json").stdout)
    assert info["evaluation"]["model_id"] == info["model_id"] == evaluation["model_id"]
    assert info["evaluation"]["precision_at_k"] == pytest.approx(evaluation["precision_at_k"])
    assert info["evaluation"]["k"] == 10

    # The readable table; a second evaluation replaces the stored one.
    table = run_cli(home_copy, "evaluate", "-k", "5")
    assert table.returncode == 0, table.stderr
    assert "precision@5" in table.stdout and "most confused" in table.stdout
    assert "horse" in table.stdout
    assert "evaluation   P@5" in run_cli(home_copy, "info").stdout


def test_a_collection_without_labels_is_refused_with_a_clear_message(home_copy):
    # What loading a zip with no folders stores: every point's label is null.
    with store_at(home_copy) as store:
        (physical,) = store.collections()
        store.set_payload(physical, [p.id for p in store.points(physical, payload=False)], {"label": None})

    result = run_cli(home_copy, "evaluate")
    assert result.returncode == 2
    assert "error: collection 'animals' has no labels to evaluate against" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(run_cli(home_copy, "info", "--json").stdout)["evaluation"] is None  # nothing stored
