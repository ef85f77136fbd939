"""Everything that talks to Qdrant about collections: connecting (embedded or server), turning
connection problems into one clear line, and the collection's layout.

Layout: the name users type (`animals`) is a Qdrant *alias* for a physical collection named
after the model that filled it (`animals-<model id>`). The physical collection's metadata
records that model id, so a collection is never searched or extended with another model,
and `--retrain` can fill a new physical collection and swap the alias in one atomic step.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest.errors import UserError
from ingest.settings import Settings

# Point ids are UUIDv5 of the image's SHA-256 in this namespace: same bytes, same point.
POINT_NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
LOCK_MESSAGE = "already accessed by another instance"


def point_id(sha256: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, sha256))


class StoreBusy(UserError):
    """The embedded store is held by another process (the page, or another ingest)."""


@dataclass(frozen=True)
class CollectionState:
    name: str  # what the user calls it (the alias)
    physical: str  # the collection the alias points to
    model_id: str | None
    metadata: dict


def _open(settings: Settings) -> QdrantClient:
    if settings.embedded:
        # One thread at a time uses it; the writer thread takes over while ingest upserts.
        return QdrantClient(path=str(settings.qdrant_path), force_disable_check_same_thread=True)
    return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=settings.timeout_s)


def connect(settings: Settings, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None) -> QdrantClient:
    """A checked client. The embedded store is retried for up to wait_s while another
    process holds it; a server is asked for its collections so that a wrong URL or key
    fails here, with the URL in the message, not deep inside an upsert."""
    if not settings.embedded:
        # qdrant-client asks for the server's version on a thread of its own and warns when it
        # gets no answer: an unreachable server is reported below, once, so that warning would
        # only race it. Its warning about mismatched versions stays.
        warnings.filterwarnings("ignore", message="Failed to obtain server version", category=UserWarning)
    deadline = time.monotonic() + wait_s
    waited = False
    while True:
        try:
            with translate_errors(settings):
                client = _open(settings)
                if not settings.embedded:
                    client.get_collections()
                return client
        except ValueError as exc:
            if settings.embedded:
                raise
            # qdrant-client refuses a URL it cannot use (e.g. ftp://) before any request.
            raise UserError(f"QDRANT_URL={settings.qdrant_url} is not a Qdrant URL ({exc}): give one like http://localhost:6333") from None
        except RuntimeError as exc:
            if LOCK_MESSAGE not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"the embedded store at {settings.qdrant_path} is in use by another process "
                    "(the page, or another ingest): wait for it to finish or stop it, "
                    "or run a Qdrant server and set QDRANT_URL"
                ) from None
            if on_wait and not waited:
                on_wait()
            waited = True
            time.sleep(0.5)


@contextmanager
def open_store(settings: Settings, wait_s: float = 0.0, on_wait=None) -> Iterator[QdrantClient]:
    client = connect(settings, wait_s, on_wait)
    try:
        with translate_errors(settings):
            yield client
    finally:
        client.close()


@contextmanager
def translate_errors(settings: Settings) -> Iterator[None]:
    """Server failures become one UserError line that names the URL and what to do."""
    url = settings.qdrant_url
    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise UserError(
                f"Qdrant at {url} refused the request ({exc.status_code}): "
                "set QDRANT_API_KEY to the server's API key"
            ) from None
        raise UserError(f"Qdrant at {url} answered {exc.status_code}: {_short(exc.content)}") from None
    except (ResponseHandlingException, httpx.TransportError) as exc:
        cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
        if isinstance(cause, httpx.TimeoutException):
            raise UserError(
                f"Qdrant at {url} did not answer within {settings.timeout_s:g}s: "
                "check that the server is up (docker compose ps), or raise QDRANT_TIMEOUT"
            ) from None
        raise UserError(
            f"cannot reach Qdrant at {url} ({type(cause).__name__}): start the server "
            "(docker compose up -d qdrant) or unset QDRANT_URL to use the embedded store"
        ) from None


def _short(content: bytes | str | None) -> str:
    text = content.decode(errors="replace") if isinstance(content, bytes) else str(content or "")
    return text.strip().replace("\n", " ")[:200]


def physical_name(collection: str, model_id: str) -> str:
    return f"{collection}-{model_id}"


def state(client: QdrantClient, collection: str) -> CollectionState | None:
    """Where `collection` points, and with which model; None when there is no such collection."""
    target = next((a.collection_name for a in client.get_aliases().aliases if a.alias_name == collection), None)
    if target is None:
        return None
    metadata = client.get_collection(target).config.metadata or {}
    return CollectionState(collection, target, metadata.get("model_id"), dict(metadata))


def create(
    client: QdrantClient,
    settings: Settings,
    collection: str,
    model_id: str,
    dim: int,
    shards: int | None = None,
    replicas: int | None = None,
    write_consistency: int | None = None,
    like: str | None = None,
) -> str:
    """Create (or reuse, after an interrupted run) the physical collection for a model.
    With `like`, shards, replicas and write consistency not given are copied from that
    collection, so a --retrain on a cluster keeps the layout the collection had."""
    physical = physical_name(collection, model_id)
    if like is not None:
        params = client.get_collection(like).config.params
        shards = shards or params.shard_number
        replicas = replicas or params.replication_factor
        write_consistency = write_consistency or params.write_consistency_factor
    if not client.collection_exists(physical):
        client.create_collection(
            physical,
            vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            on_disk_payload=True,
            shard_number=shards,
            replication_factor=replicas,
            write_consistency_factor=write_consistency,
            metadata={"model_id": model_id, "alias": collection, "created_by": "cbir"},
        )
        if not settings.embedded:  # local mode ignores payload indexes (and warns)
            client.create_payload_index(physical, "label", models.PayloadSchemaType.KEYWORD)
            client.create_payload_index(physical, "recon_error", models.PayloadSchemaType.FLOAT)
    return physical


def point_alias(client: QdrantClient, collection: str, physical: str) -> None:
    """Point `collection` at `physical`; Qdrant applies the delete and create atomically."""
    ops: list = []
    if any(a.alias_name == collection for a in client.get_aliases().aliases):
        ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection)))
    ops.append(
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=physical, alias_name=collection))
    )
    client.update_collection_aliases(change_aliases_operations=ops)


def update_metadata(client: QdrantClient, physical: str, metadata: dict) -> None:
    client.update_collection(physical, metadata=metadata)


def require(client: QdrantClient, settings: Settings, collection: str) -> CollectionState:
    found = state(client, collection)
    if found is None:
        names = sorted({a.alias_name for a in client.get_aliases().aliases})
        hint = f" (collections here: {', '.join(names)})" if names else ""
        raise UserError(
            f"no collection {collection!r} in the {settings.describe_store()}{hint}: "
            f"fill it with `ingest load PATH.zip --collection {collection}`"
        )
    return found


def orphans(client: QdrantClient, collection: str, keep: set[str]) -> list[str]:
    """Physical collections made for `collection` that no alias points to any more."""
    found = []
    for c in client.get_collections().collections:
        if c.name.startswith(f"{collection}-") and c.name not in keep:
            metadata = client.get_collection(c.name).config.metadata or {}
            if metadata.get("alias") == collection and metadata.get("created_by") == "cbir":
                found.append(c.name)
    return found
