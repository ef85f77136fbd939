"""bench/query_expansion.py's exact ranking and expansion, against rankings worked out by hand
and by sorting every row in plain Python."""

from __future__ import annotations

import numpy as np
import pytest

from bench.query_expansion import expanded, precision, ranked_others


def test_ranked_others_are_every_row_sorted_by_cosine_without_the_point_itself():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1500, 8)).astype(np.float32)  # more rows than one chunk
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    top, cos = ranked_others(vectors, vectors, 5)
    for i in (0, 700, 1024, 1499):
        others = sorted((j for j in range(len(vectors)) if j != i), key=lambda j: -float(vectors[i] @ vectors[j]))
        assert top[i].tolist() == others[:5]
        assert cos[i] == pytest.approx([float(vectors[i] @ vectors[j]) for j in others[:5]], abs=1e-5)


def test_expansion_moves_a_query_towards_its_nearest_neighbour_and_reorders_the_rest():
    # Seen from a: b at cosine 0.8, c at 0.6, d at 0.5; but d is close to b (0.92) and c is not.
    a, b, c, d = (1.0, 0.0, 0.0), (0.8, 0.0, 0.6), (0.6, 0.8, 0.0), (0.5, 0.0, np.sqrt(0.75))
    vectors = np.array([a, b, c, d], dtype=np.float32)
    top, cos = ranked_others(vectors, vectors, 3)
    assert top[0].tolist() == [1, 2, 3] and cos[0] == pytest.approx([0.8, 0.6, 0.5], abs=1e-6)
    queries = expanded(vectors, top, cos, k=1, alpha=0)  # a + b = (1.8, 0, 0.6), made unit length
    assert queries[0] == pytest.approx(np.array([1.8, 0.0, 0.6]) / np.sqrt(1.8**2 + 0.6**2), abs=1e-6)
    found, _ = ranked_others(queries, vectors, 3)
    assert found[0].tolist() == [1, 3, 2]  # d: (0.9 + 0.52) / 1.897 = 0.75 now beats c: 1.08 / 1.897 = 0.57
    weighted = expanded(vectors, top, cos, k=2, alpha=3)[0]  # a + 0.8**3 b + 0.6**3 c
    raw = np.array(a) + 0.8**3 * np.array(b) + 0.6**3 * np.array(c)
    assert weighted == pytest.approx(raw / np.linalg.norm(raw), abs=1e-6)


def test_precision_is_the_share_of_listed_neighbours_with_the_query_label():
    labels = np.array(["x", "x", "y", "x"])
    everyone_else = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    assert precision(labels, everyone_else) == pytest.approx((2 / 3 * 3 + 0) / 4)  # x: 2 of 3; y: none
