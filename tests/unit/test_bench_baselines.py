"""The benchmark's baselines (bench/baselines.py) against values worked out by hand on a tiny
made-up set, scored by the product's own `evaluate` through a real embedded store."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from bench.baselines import colour_histogram, raw_pixels
from ingest.load.records import point_id
from ingest.query.evaluate import evaluate
from ingest.store import Point
from ingest.store.collections import CollectionState
from ingest.store.edge import EdgeStore

RED, BLUE = (255, 0, 0), (0, 0, 255)


def two_colours(top: tuple, bottom: tuple, red_rows: int, size: tuple[int, int] = (60, 40)) -> Image.Image:
    """A picture whose centre square (40x40 of 60x40) has `red_rows` rows of `top`, the rest `bottom`."""
    image = Image.new("RGB", size, bottom)
    image.paste(Image.new("RGB", (size[0], red_rows), top), (0, 0))
    return image


def test_the_histogram_is_the_square_root_of_the_colour_shares_of_the_centre_square():
    image = Image.new("RGB", (60, 40), BLUE)
    image.paste(Image.new("RGB", (10, 40), RED), (0, 0))  # red only outside the centre square
    histogram = colour_histogram(image)
    assert histogram.shape == (512,) and histogram[7] == pytest.approx(1.0)  # all blue: cell (0, 0, 7)
    half = colour_histogram(two_colours(RED, BLUE, 20))
    assert half[7] == pytest.approx(math.sqrt(0.5)) and half[7 * 64] == pytest.approx(math.sqrt(0.5))
    assert raw_pixels(Image.new("RGB", (64, 48), RED)).reshape(32, 32, 3)[..., 0].min() == pytest.approx(1.0)


def test_precision_of_the_histogram_baseline_matches_the_hand_computed_value(tmp_path):
    # Label A: mostly red (30, 25 of 40 rows red); label B: mostly blue (5, 10 rows red).
    images = {
        "a1": two_colours(RED, BLUE, 30),
        "a2": two_colours(RED, BLUE, 25),
        "b1": two_colours(RED, BLUE, 5),
        "b2": two_colours(RED, BLUE, 10),
    }
    # Cosine of two square-rooted histograms with red shares r, s: sqrt(r s) + sqrt((1-r)(1-s)).
    # Each photo's nearest other is the other of its label (e.g. a1: a2 0.991, b2 0.866, b1 0.774),
    # so at K=1 every query is right: P@1 = 1; at K=2 each has one right of two: P@2 = 0.5.
    with EdgeStore(tmp_path / "store") as store:
        store.create_collection("hist", 512, {})
        store.upsert(
            "hist",
            [Point(point_id(name), colour_histogram(image), {"label": name[0]}) for name, image in images.items()],
        )
        state = CollectionState("hist", "hist", None, {})
        assert evaluate(store, state, 1, show_progress=False)["precision_at_k"] == pytest.approx(1.0)
        assert evaluate(store, state, 2, show_progress=False)["precision_at_k"] == pytest.approx(0.5)
    a1, b2 = colour_histogram(images["a1"]), colour_histogram(images["b2"])
    assert float(a1 @ b2) == pytest.approx(math.sqrt(0.75 * 0.25) + math.sqrt(0.25 * 0.75), abs=1e-6)
    assert np.isclose(float(a1 @ colour_histogram(images["a2"])), math.sqrt(0.75 * 0.625) + math.sqrt(0.25 * 0.375))
