"""What Qdrant Edge does not keep, kept beside its shards: which collections exist (with their
vector length and metadata) and which alias names which collection.

One JSON file, replaced as a whole by an atomic rename after each change: a reader or a crash
sees the old version or the new one, never a mix. That is what makes `--retrain`'s alias
switch one step, as a server's alias switch is."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ingest.store.damage import manifest_damaged

FORMAT = "cbir-edge-store/1"


def write_json_atomically(path: Path, data: dict) -> None:
    """Write to a temporary name, flush it to disk, rename it over the old file, flush the
    folder (the rename itself must survive a power cut)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read(path: Path) -> dict:
    """The manifest's contents, checked for their shape; `Damaged` when they are not one."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:  # not JSON, or not UTF-8: a truncated or overwritten file
        raise manifest_damaged(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise manifest_damaged(path, f"not a {FORMAT} manifest")
    collections, aliases = data.get("collections"), data.get("aliases")
    if not isinstance(collections, dict) or not isinstance(aliases, dict):
        raise manifest_damaged(path, "its collections or aliases are missing")
    bad = [
        name
        for name, entry in collections.items()
        if not isinstance(entry, dict) or not isinstance(entry.get("dim"), int)
    ]
    bad += [alias for alias, target in aliases.items() if target not in collections]
    if bad:
        raise manifest_damaged(path, f"entries that name nothing: {', '.join(map(str, bad[:3]))}")
    return data


class Manifest:
    def __init__(self, path: Path, description: str) -> None:
        self.path, self.description = path, description
        if not path.exists() and any(p.is_dir() for p in (path.parent / "collections").glob("*")):
            # Collections without their manifest: never taken for an empty store, whose first
            # load would then start a collection of the same name over an existing one.
            raise manifest_damaged(path, "missing, while collections/ holds collections")
        data: dict = read(path) if path.exists() else {"format": FORMAT, "collections": {}, "aliases": {}}
        # name -> {"dim", "metadata", "segments"}; "segments": the most the shard keeps, absent
        # in collections made before graphs were built while a load writes (`edge_indexing`)
        self.collections: dict[str, dict] = data["collections"]
        self.aliases: dict[str, str] = data["aliases"]

    def entry(self, name: str) -> dict:
        try:
            return self.collections[name]
        except KeyError:
            raise KeyError(f"no collection {name!r} in the {self.description}") from None

    def add(self, name: str, dim: int, metadata: dict, segments: int) -> None:
        self.collections[name] = {"dim": dim, "metadata": dict(metadata), "segments": segments}
        self.save()

    def remove(self, name: str) -> None:
        """The collection and every alias naming it."""
        self.entry(name)
        del self.collections[name]
        self.aliases = {alias: target for alias, target in self.aliases.items() if target != name}
        self.save()

    def set_alias(self, alias: str, name: str) -> None:
        self.entry(name)
        self.aliases[alias] = name
        self.save()

    def update_metadata(self, name: str, changes: dict) -> None:
        self.entry(name)["metadata"].update(changes)
        self.save()

    def save(self) -> None:
        write_json_atomically(self.path, {"format": FORMAT, "collections": self.collections, "aliases": self.aliases})
