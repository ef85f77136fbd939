"""The vector store as the rest of the product sees it, whichever engine holds it.

Named collections of points (a UUID, a unit vector compared by cosine, a JSON payload), each
with a metadata dict, and aliases naming collections. Two engines implement it: Qdrant Edge
in this process (`edge.EdgeStore`, the default) and a Qdrant server through qdrant-client
(`client.ClientStore`, when QDRANT_URL is set). Loading, searching, evaluating and the page
only ever see `Store`, so they cannot tell which one runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

SCROLL_PAGE = 1000

# Payload fields a filter or an ordering uses, with the kind of index each needs. Every
# engine indexes them when it creates a collection, so a filtered search stays fast. Only
# these: each index costs every upsert (on Edge, sha256's and ingested_at's, which nothing
# filters on, took 8 of the engine's 46 us per point: docs/decisions.md).
KEYWORD_FIELDS = ("label", "source", "camera")
TEXT_FIELDS = ("path",)  # matched by whole words (the page's browse filter)
FLOAT_FIELDS = ("recon_error",)  # ordered by (`ingest outliers`)
DATETIME_FIELDS = ("taken_at",)  # filtered by range and ordered by (--taken-after, Browse by date)
GEO_FIELDS = ("location",)  # filtered by distance (--near)


@dataclass(frozen=True)
class Point:
    id: str  # a UUID
    vector: np.ndarray
    payload: dict


@dataclass(frozen=True)
class Record:
    id: str
    payload: dict
    vector: np.ndarray | None = None  # unit length, as the store keeps it


@dataclass(frozen=True)
class Scored:
    id: str
    score: float  # cosine similarity
    payload: dict


@dataclass(frozen=True)
class Near:
    """Within `km` kilometres of a place (latitude and longitude in degrees)."""

    lat: float
    lon: float
    km: float


@dataclass(frozen=True)
class Where:
    """The filters the product uses, all run inside the store: an exact label, an exact
    source, every word of `path_words` a whole word of the path, and points left out by id;
    taken at or after `taken_after` and before `taken_before` (ISO times on the camera's
    clock, `taken_at`), with one of `cameras`, within a distance of a place."""

    label: str | None = None
    source: str | None = None
    path_words: str | None = None
    exclude_ids: tuple[str, ...] = ()
    taken_after: str | None = None
    taken_before: str | None = None
    cameras: tuple[str, ...] = ()
    near: Near | None = None

    @property
    def words(self) -> str:
        return (self.path_words or "").strip()

    def __bool__(self) -> bool:
        return bool(
            self.label
            or self.source
            or self.words
            or self.exclude_ids
            or self.taken_after
            or self.taken_before
            or self.cameras
            or self.near
        )


@dataclass(frozen=True)
class Layout:
    """How a server spreads a collection (a cluster); an embedded store has one shard."""

    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None


class Store(ABC):
    description: str  # "the embedded store at <path>" or the server's URL, for messages
    embedded: bool

    # Collections, aliases, metadata.
    @abstractmethod
    def collections(self) -> list[str]: ...

    @abstractmethod
    def aliases(self) -> dict[str, str]:
        """alias -> the collection it names."""

    @abstractmethod
    def create_collection(self, name: str, dim: int, metadata: dict, layout: Layout = Layout()) -> None: ...

    @abstractmethod
    def delete_collection(self, name: str) -> None:
        """Also drops the aliases that name it."""

    @abstractmethod
    def set_alias(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection` in one atomic step: no reader sees it missing."""

    @abstractmethod
    def metadata(self, name: str) -> dict: ...

    @abstractmethod
    def update_metadata(self, name: str, changes: dict) -> None:
        """Merge `changes` into the collection's metadata, key by key."""

    @abstractmethod
    def layout(self, name: str) -> Layout: ...

    @abstractmethod
    def dimension(self, name: str) -> int:
        """The length of the collection's vectors."""

    def exists(self, name: str) -> bool:
        return name in self.collections()

    # Points.
    @abstractmethod
    def upsert(self, name: str, points: Sequence[Point]) -> None:
        """Durable when it returns: a crash afterwards keeps these points."""

    @abstractmethod
    def retrieve(
        self, name: str, ids: Sequence[str], payload: bool | Sequence[str] = True, vectors: bool = False
    ) -> list[Record]:
        """The points that exist among `ids`, in that order."""

    @abstractmethod
    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        """Merge `payload` into each point's payload."""

    @abstractmethod
    def delete(self, name: str, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def count(self, name: str, where: Where | None = None) -> int: ...

    @abstractmethod
    def scroll(
        self,
        name: str,
        where: Where | None = None,
        limit: int = SCROLL_PAGE,
        offset: str | None = None,
        payload: bool | Sequence[str] = True,
        vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        """One page in id order, and the offset of the next (None after the last)."""

    @abstractmethod
    def search(
        self, name: str, vector: np.ndarray, limit: int, where: Where | None = None, min_score: float | None = None
    ) -> list[Scored]:
        """The nearest points by cosine, best first, with their payloads."""

    @abstractmethod
    def search_batch(
        self, name: str, vectors: np.ndarray, limit: int, min_score: float | None = None, where: Where | None = None
    ) -> list[list[Scored]]:
        """One search per row of `vectors`, without payloads: the engine answers them together."""

    @abstractmethod
    def recommend(
        self,
        name: str,
        positives: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray],
        limit: int,
        where: Where | None = None,
        min_score: float | None = None,
    ) -> list[Scored]:
        """Qdrant's recommendation query (best score): close to a positive example, and
        closer to the positives than to any negative one."""

    @abstractmethod
    def sample(self, name: str, where: Where | None = None) -> Record | None:
        """One point drawn at random (None when none matches)."""

    def highest(self, name: str, key: str, limit: int) -> list[Record]:
        """The points with the largest values of a float payload field, largest first."""
        return self.ordered(name, key, limit, descending=True)

    @abstractmethod
    def ordered(
        self,
        name: str,
        key: str,
        limit: int,
        where: Where | None = None,
        descending: bool = False,
        start_from: str | float | None = None,
    ) -> list[Record]:
        """Points by a datetime or float payload field, from `start_from` on (included); points
        without the field are left out, as Qdrant's order_by leaves them out."""

    @abstractmethod
    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        """Value -> number of points, for a keyword payload field."""

    def missing_payload_indexes(self, name: str) -> list[str]:
        """The indexed fields a collection made by an earlier version lacks: its filters on them
        work (scanning), but facets and orderings need the index."""
        return []

    def ensure_payload_indexes(self, name: str) -> list[str]:
        """Create the payload indexes a collection made by an earlier version lacks; returns the
        fields indexed now."""
        return []

    def build_index(self, name: str) -> bool:
        """Make searches of a big collection fast after a load (a server does it by itself)."""
        return False

    @abstractmethod
    def close(self) -> None: ...

    def points(
        self,
        name: str,
        where: Where | None = None,
        payload: bool | Sequence[str] = True,
        vectors: bool = False,
        page: int = SCROLL_PAGE,
    ) -> Iterator[Record]:
        """Every point of a collection, a page at a time: the one loop that reads a whole collection."""
        offset = None
        while True:
            records, offset = self.scroll(name, where, page, offset, payload, vectors)
            yield from records
            if offset is None:
                return

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
