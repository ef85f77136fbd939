"""Backing up and restoring the collections of a Qdrant server (QDRANT_URL), through Qdrant's
snapshot API: the server writes a consistent snapshot of each collection (its points, vectors,
payload indexes and metadata), which is downloaded into the backup as
`snapshots/<collection>.snapshot` and then deleted from the server. Aliases are not part of a
collection's snapshot: `backup.json` records them, and a restore sets them again.

A restore uploads each snapshot (`POST /collections/<name>/snapshots/upload`, with the snapshot's
data taking priority over anything the server holds under that name), then sets the aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import UserError
from ingest.store.errors import translate_errors

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.store.backup import Copied

SNAPSHOTS = "snapshots"
CHUNK = 2**20


def _headers(settings: Settings) -> dict[str, str]:
    return {"api-key": settings.qdrant_api_key} if settings.qdrant_api_key else {}


def _answered(response, what: str) -> None:
    """A refused snapshot request as one line (the client's own requests are told by translate_errors)."""
    if response.is_error:
        detail = " ".join(response.read().decode(errors="replace").split())[:200]
        raise UserError(f"Qdrant at {response.request.url.host} answered {response.status_code} to {what}: {detail}")


def snapshot_collections(settings: Settings, dest: Path, copied: Copied) -> None:
    import httpx

    from ingest.store.client import ClientStore

    assert settings.qdrant_url is not None  # a backup of a server
    (dest / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
    with translate_errors(settings):
        store = ClientStore.server(settings.qdrant_url, settings.qdrant_api_key, settings.timeout_s)
        copied.aliases = store.aliases()
        for name in sorted(set(copied.aliases.values())):
            made = store.client.create_snapshot(name, wait=True)
            assert made is not None  # waited for: its description
            target = dest / SNAPSHOTS / f"{name}.snapshot"
            url = f"{settings.qdrant_url.rstrip('/')}/collections/{name}/snapshots/{made.name}"
            with httpx.stream("GET", url, headers=_headers(settings), timeout=None) as response:
                _answered(response, f"the download of a snapshot of {name}")
                with open(target, "wb") as f:
                    for chunk in response.iter_bytes(CHUNK):
                        f.write(chunk)
            store.client.delete_snapshot(name, made.name, wait=True)
            copied.collections[name] = store.count(name)
            copied.bytes += target.stat().st_size
            copied.files += 1


def restore_collections(settings: Settings, src: Path, aliases: dict[str, str]) -> dict[str, int]:
    """Upload every snapshot of the backup; the collections restored, with their points."""
    import httpx

    from ingest.store.client import ClientStore

    assert settings.qdrant_url is not None  # a restore to a server
    restored: dict[str, int] = {}
    with translate_errors(settings):
        store = ClientStore.server(settings.qdrant_url, settings.qdrant_api_key, settings.timeout_s)
        for snapshot in sorted((src / SNAPSHOTS).glob("*.snapshot")):
            name = snapshot.name.removesuffix(".snapshot")
            url = f"{settings.qdrant_url.rstrip('/')}/collections/{name}/snapshots/upload"
            with open(snapshot, "rb") as f:
                response = httpx.post(
                    url,
                    params={"priority": "snapshot", "wait": "true"},
                    files={"snapshot": (snapshot.name, f, "application/octet-stream")},
                    headers=_headers(settings),
                    timeout=None,
                )
            _answered(response, f"the upload of the snapshot of {name}")
            restored[name] = store.count(name)
        for alias, name in aliases.items():
            store.set_alias(alias, name)
    return restored
