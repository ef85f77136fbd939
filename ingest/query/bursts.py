"""Bursts: photos taken by one camera within a few seconds of each other, told apart from copies
of one photo by their EXIF times (`ingest.exif`).

A burst's frames look alike (the embedding puts them close), but each is a photo of its own:
the user keeps the best one, not "the original". A copy (the same photo re-encoded, resized,
exported) keeps the time its photo was taken, to the sub-second when the camera records one, so
two near-identical photos of one camera are frames of a burst when their times differ by a
little, and copies when they are equal. Frames of a camera that records no sub-seconds, taken
within the same second, cannot be told from copies and are grouped as copies.

The best frame is the sharpest (the variance of the Laplacian of its stored picture, the usual
focus measure: blur and camera shake lower it) or the largest.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import numpy as np

from ingest.store.media import MediaStore

# Frames of one burst: consecutive photos of one camera at most this far apart (a phone's burst
# is 10 to 30 frames a second; a camera in continuous mode, 3 to 20).
BURST_SECONDS = 2.0
# How alike two frames must be (cosine of their embeddings): well below a copy's threshold, since
# the subject moves between frames, and above what two scenes shot seconds apart would reach.
BURST_MIN_SCORE = 0.90
SHARPNESS_SIDE = 256  # the pictures compared at one size, so that a larger one is not favoured


def taken_time(payload: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(payload["taken_at"])
    except (KeyError, TypeError, ValueError):
        return None


def is_burst_pair(a: dict, b: dict) -> bool:
    """Two photos' payloads: same camera, times recorded, different but at most BURST_SECONDS apart."""
    if not a.get("camera") or a.get("camera") != b.get("camera"):
        return False
    first, second = taken_time(a), taken_time(b)
    return first is not None and second is not None and 0 < abs((first - second).total_seconds()) <= BURST_SECONDS


def same_shot(a: dict, b: dict) -> bool:
    """Copies of one photo: the same camera's very same moment."""
    return bool(a.get("taken_at")) and a.get("taken_at") == b.get("taken_at") and a.get("camera") == b.get("camera")


def sharpness(media: MediaStore, sha256: str) -> float | None:
    """The variance of the Laplacian of the photo's stored picture, in grey at SHARPNESS_SIDE
    on its longer side; None when the picture is not there."""
    return _sharpness(str(media.root), sha256)


@functools.lru_cache(maxsize=4096)
def _sharpness(root: str, sha256: str) -> float | None:
    try:
        picture = MediaStore(Path(root)).open(sha256)
    except (OSError, ValueError):  # gone (FileNotFoundError), or not a picture any more (ImageRejected)
        return None
    picture.thumbnail((SHARPNESS_SIDE, SHARPNESS_SIDE))
    grey = np.asarray(picture.convert("L"), dtype=np.float32)
    if min(grey.shape) < 3:
        return 0.0
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    return round(float(laplacian.var()), 3)
