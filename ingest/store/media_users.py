"""Which stores of a data directory use its media copies, so that `ingest remove` and `--prune`
delete a copy only when none of them does.

A data directory's models and media serve every store filled from it: the embedded store, an
earlier version's store until `ingest migrate` has copied it, and each Qdrant server a load or
`ingest migrate --to` wrote to (`servers.json` lists them: a container and the host can share
one data directory, each with its own store). A photo's point id comes from its bytes and is the
same in every store, so a store uses a copy when one of its collections holds that id. A store
that cannot be asked (a server that does not answer, the embedded store held by another process)
keeps every copy: a copy kept costs disk space, a copy deleted loses a picture.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import UserError
from ingest.load.records import point_id
from ingest.settings import Settings
from ingest.store import Store, StoreBusy, embedded_store_exists, open_store
from ingest.store.migrate import MARKER, legacy_store

SERVERS = "servers.json"
RETRIEVE_CHUNK = 1000


@dataclass
class Unused:
    shas: list[str]  # copies no store uses
    kept_because: str | None = None  # why every copy was kept, when a store could not be asked


def note_server(settings: Settings) -> None:
    """Remember that the server of QDRANT_URL holds points whose pictures are in this data
    directory (written before the first point: a crash leaves it listed, never missing)."""
    if settings.embedded or settings.qdrant_url in known_servers(settings.home):
        return
    path = settings.home / SERVERS
    settings.home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SERVERS}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"servers": [*known_servers(settings.home), settings.qdrant_url]}, indent=1) + "\n")
    os.replace(tmp, path)


def known_servers(home: Path) -> list[str]:
    try:
        return list(json.loads((home / SERVERS).read_text()).get("servers", []))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError):  # unreadable: as if every server were unknown
        return ["(servers.json unreadable)"]


def unused_media(store: Store, settings: Settings, shas: list[str]) -> Unused:
    """The hashes that no point of any collection, in this store or any other of the data
    directory, has."""
    left = _unused_in(store, shas)
    for name, opener in _other_stores(settings):
        if not left:
            break
        try:
            with opener() as other:
                left = _unused_in(other, left)
        except (UserError, StoreBusy, OSError) as exc:
            return Unused([], f"{name} also uses this data directory and could not be asked ({exc})")
    return Unused(left)


def _unused_in(store: Store, shas: list[str]) -> list[str]:
    by_id = {point_id(sha): sha for sha in shas}
    ids, used = list(by_id), set()
    for name in store.collections():
        for start in range(0, len(ids), RETRIEVE_CHUNK):
            used |= {r.id for r in store.retrieve(name, ids[start : start + RETRIEVE_CHUNK], payload=False)}
    return [sha for pid, sha in by_id.items() if pid not in used]


def _other_stores(settings: Settings) -> list[tuple[str, Callable[[], AbstractContextManager[Store]]]]:
    others: list[tuple[str, Callable[[], AbstractContextManager[Store]]]] = []
    embedded = Settings(settings.home, wait_s=settings.wait_s)
    if not settings.embedded and embedded_store_exists(settings):
        others.append((f"the embedded store at {settings.store_dir}", lambda: open_store(embedded)))
    old = legacy_store(settings)
    if old is not None and not (settings.store_dir / MARKER).exists():  # not copied yet

        def legacy() -> AbstractContextManager[Store]:
            from ingest.store.client import ClientStore

            return ClientStore.local_mode(old)

        others.append((f"the earlier version's store at {old}", legacy))
    for url in known_servers(settings.home):
        if url != settings.qdrant_url:
            server = Settings(settings.home, url, settings.qdrant_api_key, settings.timeout_s)
            others.append((f"the Qdrant server at {url}", functools.partial(open_store, server)))
    return others
