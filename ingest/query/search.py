"""The one way to query a collection, shared by `ingest search` and the page.

An `Index` is a collection together with the model that filled it: a query image goes
through that model's fixed transform and encoder, then the store ranks by cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from encoder.embed import Embedder
from ingest.errors import UserError
from ingest.settings import Settings
from ingest.store import Record, Scored, Store, Where
from ingest.store import collections as cols
from ingest.store.damage import embedder_from

# A point picked without a query vector (a random pick, a browsed page) has no score.
NO_SCORE = float("nan")
# Where a page of photos in the order they were taken starts: a `taken_at`, and the ids of the
# photos of that moment already shown.
DateCursor = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict

    @classmethod
    def of(cls, found: Scored | Record) -> Hit:
        return cls(found.id, found.score if isinstance(found, Scored) else NO_SCORE, found.payload)

    @property
    def path(self) -> str:
        return self.payload.get("path", "")

    @property
    def label(self) -> str | None:
        return self.payload.get("label")

    @property
    def sha256(self) -> str:
        return self.payload.get("sha256", "")

    def to_json(self) -> dict:
        return {"path": self.path, "label": self.label, "score": round(self.score, 6), "id": self.id}


@dataclass
class Index:
    store: Store
    state: cols.CollectionState
    embedder: Embedder

    def __post_init__(self) -> None:
        if self.embedder.model_id != self.state.model_id:
            raise UserError(
                f"collection {self.state.name!r} was filled by model {self.state.model_id}; "
                f"refusing to search it with model {self.embedder.model_id}"
            )

    @classmethod
    def open(cls, store: Store, settings: Settings, collection: str) -> Index:
        state = cols.require(store, collection)
        return cls(store, state, embedder_from(cols.checkpoint_path(settings, state)))

    @property
    def physical(self) -> str:
        return self.state.physical

    def embed(self, image: Image.Image) -> np.ndarray:
        return self.embedder.embed_images([image])[0][0]

    def by_image(
        self,
        image: Image.Image,
        k: int = 10,
        label: str | None = None,
        min_score: float | None = None,
        where: Where | None = None,
    ) -> list[Hit]:
        return self.by_vector(self.embed(image), k, label, min_score, where)

    def by_point(
        self, point_id: str, k: int = 10, label: str | None = None, min_score: float | None = None
    ) -> list[Hit]:
        """ "More like this": the stored vector of a point queries its own collection; the
        point itself is left out."""
        vector = self.vector_of(point_id)
        found = self.store.search(self.physical, vector, k, Where(label=label, exclude_ids=(point_id,)), min_score)
        return [Hit.of(s) for s in found]

    def by_vector(
        self,
        vector: np.ndarray,
        k: int = 10,
        label: str | None = None,
        min_score: float | None = None,
        where: Where | None = None,
    ) -> list[Hit]:
        # A payload filter inside the store, so K results come back even when the label is rare.
        found = self.store.search(self.physical, vector, k, narrowed_by(where, label), min_score)
        return [Hit.of(s) for s in found]

    def by_examples(
        self,
        positives: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray] = (),
        k: int = 10,
        label: str | None = None,
        min_score: float | None = None,
        exclude: Sequence[str] = (),
        where: Where | None = None,
    ) -> list[Hit]:
        """Several example photos, and photos to stay away from (Qdrant's recommendation query);
        `where` narrows the results (a time range, a camera: `ingest.query.narrowing`)."""
        within = narrowed_by(where, label, exclude)
        if len(positives) == 1 and not negatives:  # the plain search, scored by cosine as always
            return [Hit.of(s) for s in self.store.search(self.physical, positives[0], k, within, min_score)]
        found = self.store.recommend(self.physical, positives, negatives, k, within, min_score)
        return [Hit.of(s) for s in found]

    def examples(self, point_ids: Sequence[str]) -> dict[str, tuple[Hit, np.ndarray]]:
        """The points among point_ids that are still in the collection, with their vectors:
        the photos a search by examples was given by id."""
        found = self.store.retrieve(self.physical, list(point_ids), vectors=True)
        examples: dict[str, tuple[Hit, np.ndarray]] = {}
        for r in found:
            assert r.vector is not None  # asked for with vectors=True
            examples[r.id] = (Hit.of(r), r.vector)
        return examples

    def vector_of(self, point_id: str) -> np.ndarray:
        found = self.store.retrieve(self.physical, [point_id], payload=False, vectors=True)
        if not found:
            raise UserError(f"no point {point_id} in collection {self.state.name!r}")
        vector = found[0].vector
        assert vector is not None  # asked for with vectors=True
        return vector

    def count(self) -> int:
        return self.store.count(self.physical)

    def labels(self) -> dict[str, int]:
        """Label -> number of points, most common first."""
        counts = self.store.facet(self.physical, "label")
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    # Picking points without a query vector: the page's random pick, its browser, and the
    # payload of a picked point. Not searches: no embedding, no ranking.
    def point(self, point_id: str) -> Hit | None:
        found = self.store.retrieve(self.physical, [point_id])
        return Hit.of(found[0]) if found else None

    def sample(self, label: str | None = None, where: Where | None = None) -> Hit | None:
        found = self.store.sample(self.physical, narrowed_by(where, label))
        return Hit.of(found) if found else None

    def browse(
        self,
        label: str | None = None,
        path_words: str | None = None,
        limit: int = 24,
        offset: str | None = None,
        where: Where | None = None,
    ) -> tuple[list[Hit], str | None]:
        """One page of points in id order, filtered inside the store (every word of
        path_words must be a whole word of the path: `cat 0042` finds `animals/cat/0042.jpg`);
        returns the page and the offset of the next one (None after the last)."""
        within = replace(narrowed_by(where, label), path_words=path_words)
        records, next_offset = self.store.scroll(self.physical, within, limit, offset)
        return [Hit.of(r) for r in records], next_offset

    def by_date_taken(
        self, limit: int, start: DateCursor | None = None, newest_first: bool = False, where: Where | None = None
    ) -> tuple[list[Hit], DateCursor | None]:
        """One page of the dated photos in the order they were taken, from `start` (where the
        previous page ended); returns it and where the next one starts (None after the last).
        Photos without a date are not in this order."""
        moment, shown = start or (None, ())
        within = narrowed_by(where, exclude=shown)
        found = [
            Hit.of(r) for r in self.store.ordered(self.physical, "taken_at", limit + 1, within, newest_first, moment)
        ]
        page = found[:limit]
        if len(found) <= limit:
            return page, None
        # Qdrant's order_by starts at a value, included: the next page leaves out by id the photos
        # of its first moment already shown (a burst without sub-seconds shares one).
        last = page[-1].payload["taken_at"]
        at_last = tuple(h.id for h in page if h.payload["taken_at"] == last)
        return page, (last, at_last + (shown if last == moment else ()))


def narrowed_by(where: Where | None, label: str | None = None, exclude: Sequence[str] = ()) -> Where:
    """`where` (a time range, a camera, ...) with a label and points to leave out added."""
    within = where or Where()
    return replace(within, label=label or within.label, exclude_ids=within.exclude_ids + tuple(exclude))
