"""A training's progress as other processes see it: a small JSON file beside the training's
state (`models/training/<name>.json`), rewritten atomically after every epoch, and the
reconstructions of a few held-out photos by the latest weights (`<name>.png`).

The job that trains (a load, `ingest train`) announces itself with `start` and takes the file
away with `finish`; training adds its epochs to it only while it is there, so a benchmark or a
test that trains without a job writes nothing. Reading needs no torch: the page polls these
files every few seconds while a training runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "cbir-training-progress/1"
# The reconstructions are drawn again at most this often: on a GPU an epoch of a few hundred photos
# takes a fraction of a second, and drawing after each would cost it a tenth more. The page looks
# every few seconds.
DRAW_EVERY_S = 10.0


def progress_path(state_path: Path) -> Path:
    """The progress file of the training whose state is saved at `state_path`."""
    return state_path.with_suffix(".json")


def pictures_path(state_path: Path) -> Path:
    """The latest reconstructions of that training's held-out photos."""
    return state_path.with_suffix(".png")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write(path: Path, facts: dict) -> bool:
    """Temporary file + rename: a reader sees the previous epoch's facts or this one's, never half.
    Best effort: a progress file that cannot be written (a read-only or full disk, told by the
    job itself) never stops the job. False when it was not written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(facts, f)
        os.chmod(tmp, 0o644)  # the page may run as another user
        os.replace(tmp, path)
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read(path: Path) -> dict | None:
    """The facts of one progress file; None when it is gone, half-made by an old version, or not ours."""
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) and facts.get("format") == FORMAT else None


def start(path: Path, kind: str, collection: str, **facts) -> bool:
    """Announce a job: `kind` is "load" or "train"; the phase and anything else it wants shown."""
    return _write(
        path,
        {
            "format": FORMAT,
            "kind": kind,
            "collection": collection,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": now(),
            "updated_at": now(),
            **facts,
        },
    )


def update(path: Path, **facts) -> None:
    """Merge facts into a job's file; nothing when no job announced itself there."""
    current = read(path)
    if current is not None:
        _write(path, {**current, **facts, "updated_at": now()})


def finish(path: Path) -> None:
    """The job is over: its file goes, and the training folder once nothing else is in it."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # another job's files, or already gone
        pass


@contextmanager
def job(path: Path, kind: str, collection: str, **facts) -> Iterator[Path]:
    """start(), then finish() however the job ends; the folders start made for the file go too
    when the job left nothing in them (a load that fails at once leaves no data directory). A
    killed process leaves its file behind: the page tells it from a live one (`running`)."""
    made = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    start(path, kind, collection, **facts)
    try:
        yield path
    finally:
        finish(path)
        for folder in made:  # innermost first
            try:
                folder.rmdir()
            except OSError:  # the job put something there, or it is gone already
                pass


def running(facts: dict, stale_after_s: float = 600.0) -> bool:
    """Whether the process that wrote these facts is still at work. On this machine its pid
    says; from another one (a container beside the page's), a file updated recently does."""
    if facts.get("host") == socket.gethostname():
        try:
            os.kill(int(facts["pid"]), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, KeyError, ValueError, TypeError):  # another user's process, or no pid
            return True
        return True
    try:
        updated = dt.datetime.fromisoformat(facts["updated_at"])
    except (KeyError, ValueError, TypeError):
        return False
    return (dt.datetime.now(dt.UTC) - updated).total_seconds() < stale_after_s


def under_way(training_dir: Path) -> list[dict]:
    """Every job's facts in this data directory's training folder, each with its `file`."""
    found = []
    for path in sorted(training_dir.glob("*.json")):
        facts = read(path)
        if facts is not None:
            facts["file"] = str(path)
            facts["pictures"] = str(path.with_suffix(".png"))
            found.append(facts)
    return found


def epoch_done(
    state_path: Path,
    history: list[dict],
    planned: int | None,
    epoch_seconds: list[float],
    initial_val: list[float] | None,
    model,
    originals,
) -> None:
    """After an epoch: its facts into the progress file, and the latest weights' reconstructions
    of a few held-out photos (`originals`) beside it. Nothing when no job announced itself."""
    path = progress_path(state_path)
    if read(path) is None:
        return
    pace = statistics.median(epoch_seconds[1:] or epoch_seconds)
    update(
        path,
        phase="training",
        epoch=len(history),
        planned=planned,
        seconds=sum(epoch_seconds),
        seconds_left=max(0.0, ((planned or len(history)) - len(history)) * pace),
        initial_val=initial_val,
        history=history,
    )
    pictures = pictures_path(state_path)
    try:
        drawn_s_ago = time.time() - pictures.stat().st_mtime
    except FileNotFoundError:
        drawn_s_ago = DRAW_EVERY_S
    if drawn_s_ago >= DRAW_EVERY_S or len(history) == planned:
        draw_reconstructions(pictures, model, originals)


def draw_reconstructions(path: Path, model, originals) -> None:
    """The model's reconstructions of `originals` (uint8 [B, 3, S, S]) under the originals, as a
    PNG at `path`; the model is left in training mode. A few milliseconds an epoch."""
    import torch

    from encoder.plots import save_reconstructions
    from encoder.transforms import to_float

    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            _, recon = model(to_float(originals.to(device)))
        drawn = (recon.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    finally:
        model.train()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        save_reconstructions(originals.cpu(), drawn, Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
