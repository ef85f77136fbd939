"""What a watcher knew of each file when it last wrote: size, modification time and SHA-256,
kept in the data directory (`watch/<collection>-<hash of the folder>.json`, replaced by an atomic
rename) so that a restart reads only the files that changed while it was stopped, not the whole
library again.

The store stays the truth: a file the state lists with other bytes than the collection holds
(the state is written after the points, and a kill in between loses it) is read again; a
missing or foreign state file only costs a reading of every file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ingest.store.manifest import write_json_atomically
from ingest.watch.folder import FileState

FORMAT = "cbir-watch-state/1"


class WatchState:
    def __init__(self, home: Path, collection: str, folder: Path) -> None:
        key = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
        self.path = home / "watch" / f"{collection}-{key}.json"
        self.collection, self.folder = collection, str(folder)

    def read(self) -> dict[str, FileState]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if data.get("format") != FORMAT or data.get("folder") != self.folder:
            return {}
        return {path: FileState(*entry) for path, entry in data.get("files", {}).items()}

    def write(self, files: dict[str, FileState]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries = {path: [f.size, f.mtime_ns, f.sha256] for path, f in files.items()}
        write_json_atomically(
            self.path, {"format": FORMAT, "collection": self.collection, "folder": self.folder, "files": entries}
        )


def known_files(stored: dict[str, str], remembered: dict[str, FileState]) -> dict[str, FileState]:
    """What the watcher knows at start: every file the collection has a place for (with the
    bytes it holds), its stat when the state remembers those same bytes; and the files the state
    remembers as not photos."""
    known = {path: FileState(None, None, sha) for path, sha in stored.items()}
    for path, state in remembered.items():
        if state.sha256 is None and path not in stored:
            known[path] = state
        elif state.sha256 is not None and stored.get(path) == state.sha256:
            known[path] = state
    return known
