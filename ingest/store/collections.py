"""A collection's layout and life, on top of any `Store`.

The name users type (`animals`) is an alias for a physical collection named after the model
that filled it (`animals-<model id>`), whose metadata records that model id: a collection is
never searched or extended with another model, and `--retrain` fills a new physical
collection, then moves the alias in one atomic step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from encoder.folder import CHECKPOINT_NAME
from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store.base import Layout, Store

CREATED_BY = "cbir"


@dataclass(frozen=True)
class CollectionState:
    name: str  # what the user calls it (the alias)
    physical: str  # the collection the alias points to
    model_id: str | None
    metadata: dict


def physical_name(collection: str, model_id: str) -> str:
    return f"{collection}-{model_id}"


def state(store: Store, collection: str) -> CollectionState | None:
    """Where `collection` points, and with which model; None when there is no such collection."""
    target = store.aliases().get(collection)
    if target is None:
        return None
    metadata = store.metadata(target)
    return CollectionState(collection, target, metadata.get("model_id"), metadata)


def require(store: Store, collection: str) -> CollectionState:
    found = state(store, collection)
    if found is None:
        names = sorted(store.aliases())
        hint = f" (collections here: {', '.join(names)})" if names else ""
        raise UserError(
            f"no collection {collection!r} in the {store.description}{hint}: "
            f"fill it with `ingest load PATH.zip --collection {collection}`"
        )
    return found


def create(
    store: Store, collection: str, model_id: str, dim: int, layout: Layout = Layout(), like: str | None = None
) -> str:
    """Create (or reuse, after an interrupted run) the physical collection for a model. With
    `like`, what `layout` leaves unset is copied from that collection, so a --retrain on a
    cluster keeps the layout the collection had."""
    physical = physical_name(collection, model_id)
    if like is not None:
        old = store.layout(like)
        layout = Layout(
            layout.shards or old.shards,
            layout.replicas or old.replicas,
            layout.write_consistency or old.write_consistency,
        )
    if not store.exists(physical):
        store.create_collection(
            physical, dim, {"model_id": model_id, "alias": collection, "created_by": CREATED_BY}, layout
        )
    return physical


def retire(store: Store, collection: str, current: str, old: str | None, old_fully_copied: bool) -> list[str]:
    """After `collection` moved to `current`: delete the collection it used to name (when
    every point of it was carried over) and any left by an earlier, interrupted --retrain.
    Returns what was kept that could not be deleted safely."""
    kept = []
    if old and old != current:
        if old_fully_copied:
            store.delete_collection(old)
        else:
            kept.append(old)
    for name in store.collections():
        if name.startswith(f"{collection}-") and name not in {current, old}:
            metadata = store.metadata(name)
            if (
                metadata.get("alias") == collection
                and metadata.get("created_by") == CREATED_BY
                and name not in store.aliases().values()
            ):
                store.delete_collection(name)
    return kept


def checkpoint_path(settings: Settings, state: CollectionState) -> Path:
    """The checkpoint of the model that filled `state` (or that `--model` names)."""
    if state.model_id is None:
        raise UserError(f"collection {state.name!r} records no model id: rebuild it with `ingest load PATH --retrain`")
    path = settings.models_dir / state.model_id / CHECKPOINT_NAME
    if not path.exists():
        raise UserError(
            f"collection {state.name!r} was filled by model {state.model_id}, whose checkpoint {path} is missing: "
            "set CBIR_HOME to the data directory that filled it, or rebuild with --retrain"
        )
    return path
