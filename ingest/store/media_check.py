"""The media copies against their names, for `ingest check` and `ingest repair`.

A copy is named by the SHA-256 of the photo's original bytes. A small photo in a format every
browser shows is kept as it is, so its bytes must hash to its name; any other is a JPEG made from
it (`media.media_copy`), which must decode whole. Which of the two a copy is, the point's payload
says (size and format); a copy no point uses passes either way.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from ingest.images import ImageRejected, decode
from ingest.store.media import is_sha256, kept_as_is

FIX = "`ingest repair` sets it aside, then load {source} again to copy it back"


@dataclass(frozen=True)
class MediaFinding:
    kind: str  # media-damaged, media-unused
    path: Path
    what: str
    fix: str


def media_files(root: Path) -> dict[str, Path]:
    """Every copy in the media folder by name (files being written, `.<name>.<pid>.tmp`, left out)."""
    if not root.is_dir():
        return {}
    return {p.name: p for p in root.glob("??/*") if p.is_file() and is_sha256(p.name) and p.parent.name == p.name[:2]}


def copy_problem(path: Path, name: str, fields: dict | None) -> str | None:
    """What is wrong with one copy (None: nothing). fields: its point's payload, when one uses it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if hashlib.sha256(data).hexdigest() == name:
        return None
    own_bytes = fields is not None and _kept(fields)
    if own_bytes:
        return "its bytes do not hash to its name: it is not the photo it names"
    try:
        decode(data)
    except ImageRejected as exc:
        return f"not a readable picture ({exc})"
    return None


def verify_copies(files: dict[str, Path], used: dict[str, dict], sample: int | None) -> list[MediaFinding]:
    """Unused copies (all of them) and damaged ones among `sample` copies drawn at random (all
    with None). used: sha256 -> the payload fields of a point that uses it."""
    findings = [
        MediaFinding("media-unused", path, "no point uses this media copy", "nothing needs it: delete it to free space")
        for name, path in sorted(files.items())
        if name not in used
    ]
    names = sorted(files)
    chosen = names if sample is None or sample >= len(names) else random.sample(names, sample)
    for name in chosen:
        fields = used.get(name)
        what = copy_problem(files[name], name, fields)
        if what is not None:
            source = (fields or {}).get("source") or "its source"
            findings.append(MediaFinding("media-damaged", files[name], what, FIX.format(source=source)))
    return findings


def _kept(fields: dict) -> bool:
    try:
        return kept_as_is(int(fields["width"]), int(fields["height"]), str(fields["format"]))
    except (KeyError, TypeError, ValueError):
        return False
