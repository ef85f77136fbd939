"""A training that can be interrupted: everything it needs to go on is saved atomically after
every epoch (and every SAVE_EVERY_S within a long one), so that the same command, run again,
resumes where it stopped instead of starting over. A finished training removes its state.

The state is keyed by what the training is of (the caller's fingerprint of the data) and by
the configuration: a state made for other data or other settings is never resumed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

FORMAT = "cbir-training-state/1"
SAVE_EVERY_S = 60.0


def state_key(data_fingerprint: str, model_config: dict, train_config: dict) -> str:
    described = json.dumps([data_fingerprint, model_config, train_config], sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def save(path: Path, key: str, state: dict) -> None:
    """Write to a temporary file, then rename: a crash while saving keeps the previous state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        saved_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        torch.save({"format": FORMAT, "key": key, "saved_at": saved_at, **state}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: Path, key: str) -> dict | None:
    """The saved state of this very training, or None (none saved, another training's, or a
    file that cannot be read: training then starts over, which is always safe)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or foreign file: torch raises many kinds
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("key") != key:
        return None
    return state


def remove(path: Path) -> None:
    """The state of a finished training (and its latest reconstructions, `encoder.live`), and its
    folder once no other training's state is in it."""
    path.unlink(missing_ok=True)
    path.with_suffix(".png").unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # not empty, or already gone
        pass
