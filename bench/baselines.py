"""What retrieval without a model gives, on the same photos and by the same measure: the
baselines every quality table puts beside the encoder. Pixels and histograms are taken from
the photo's centre square, as in ../shared/datasets/README.md."""

from __future__ import annotations

import numpy as np
from PIL import Image


def centre_square(image: Image.Image) -> Image.Image:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def raw_pixels(image: Image.Image, side: int = 32) -> np.ndarray:
    """The centre square at side x side, its 3 * side^2 values in [0, 1]."""
    small = centre_square(image.convert("RGB")).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32).reshape(-1) / 255


def colour_histogram(image: Image.Image, bins: int = 8) -> np.ndarray:
    """8x8x8 RGB histogram of the centre square, as shares of its pixels, square-rooted (so that
    cosine between two histograms is their Bhattacharyya coefficient)."""
    pixels = np.asarray(centre_square(image.convert("RGB")), dtype=np.int64).reshape(-1, 3) * bins // 256
    cells = (pixels[:, 0] * bins + pixels[:, 1]) * bins + pixels[:, 2]
    counts = np.bincount(cells, minlength=bins**3).astype(np.float64)
    return np.sqrt(counts / counts.sum()).astype(np.float32)


def baseline_features(images: list[Image.Image]) -> dict[str, np.ndarray]:
    pixels = np.stack([raw_pixels(image) for image in images])
    return {
        "raw pixels (32x32, centre square)": pixels,
        "raw pixels, mean-centred": pixels - pixels.mean(0),
        "colour histogram (8x8x8, square root)": np.stack([colour_histogram(image) for image in images]),
    }
