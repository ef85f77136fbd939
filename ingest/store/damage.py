"""Damage told as one line: the file, what is wrong with it, and the command that recovers.

Disks, sync tools and killed copies truncate and garble files. A damaged manifest, checkpoint or
collection is a `Damaged` error (a `UserError`: the CLI prints the line and exits 2, the page
shows it in a box), never a traceback; what is intact keeps working, since each collection and
each model is opened only when used. `ingest check` lists every damage at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import UserError

if TYPE_CHECKING:
    from encoder.embed import Embedder

CHECK = "`ingest check` lists everything that is damaged"
REPAIR = f"run `ingest repair` ({CHECK})"
RESTORE = "restore the data directory from a backup (`ingest restore DIR`)"


class Damaged(UserError):
    """A file of the data directory that is not what it should be: its path, what is wrong, the fix."""

    def __init__(self, path: Path | str, what: object, fix: str) -> None:
        self.path, self.what, self.fix = str(path), short(what), fix
        super().__init__(f"{self.path} is damaged ({self.what}): {fix}")


def short(detail: object, limit: int = 160) -> str:
    text = " ".join(str(detail).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


MANIFEST_FIX = f"run `ingest repair` to rebuild it from the collections on disk ({CHECK})"


def manifest_damaged(path: Path, what: object) -> Damaged:
    return Damaged(path, what, MANIFEST_FIX)


def collection_damaged(folder: Path, what: object) -> Damaged:
    return Damaged(
        folder, what, f"run `ingest repair` to rebuild the collection from its media copies and its model ({CHECK})"
    )


def checkpoint_damaged(path: Path, what: object) -> Damaged:
    return Damaged(path, what, f"{RESTORE}, or train a new model with `ingest load PATH --retrain`")


def checkpoint_problem(path: Path, exc: Exception) -> str:
    """What is wrong with a checkpoint, in a few words: `CheckpointError`'s text without the path,
    and of torch's text only its first sentence."""
    text = str(exc).removeprefix(str(path)).lstrip(": ").removeprefix("is ")
    return text.split(". ")[0] if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def embedder_from(path: Path) -> Embedder:
    """The model of a checkpoint file, or one line saying that the file is damaged."""
    from encoder import checkpoint as ckpt
    from encoder.embed import Embedder

    try:
        checkpoint = ckpt.load(path)
    except (ckpt.CheckpointError, KeyError, TypeError, AttributeError) as exc:  # the last: not what it holds
        raise checkpoint_damaged(path, checkpoint_problem(path, exc)) from None
    return Embedder(checkpoint)
