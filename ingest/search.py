"""The one way to query a collection, shared by `ingest search` and the page.

An `Index` is a collection together with the model that filled it: a query image goes
through that model's fixed transform and encoder, then Qdrant ranks by cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from qdrant_client import QdrantClient, models

from encoder.embed import Embedder
from ingest import store
from ingest.errors import UserError
from ingest.pipeline import model_path
from ingest.settings import Settings


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict

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


def load_embedder(settings: Settings, state: store.CollectionState) -> Embedder:
    return Embedder.from_file(model_path(settings, state))


@dataclass
class Index:
    client: QdrantClient
    state: store.CollectionState
    embedder: Embedder

    def __post_init__(self) -> None:
        if self.embedder.model_id != self.state.model_id:
            raise UserError(
                f"collection {self.state.name!r} was filled by model {self.state.model_id}; "
                f"refusing to search it with model {self.embedder.model_id}"
            )

    @classmethod
    def open(cls, client: QdrantClient, settings: Settings, collection: str) -> "Index":
        state = store.require(client, settings, collection)
        return cls(client, state, load_embedder(settings, state))

    def embed(self, image: Image.Image) -> np.ndarray:
        return self.embedder.embed_images([image])[0][0]

    def by_image(self, image: Image.Image, k: int = 10, label: str | None = None, min_score: float | None = None) -> list[Hit]:
        return self.by_vector(self.embed(image), k, label, min_score)

    def by_point(self, point_id: str, k: int = 10, label: str | None = None, min_score: float | None = None) -> list[Hit]:
        """"More like this": the stored vector of a point queries its own collection."""
        found = self.client.retrieve(self.state.physical, [point_id], with_vectors=True, with_payload=False)
        if not found:
            raise UserError(f"no point {point_id} in collection {self.state.name!r}")
        return self.by_vector(np.asarray(found[0].vector, dtype=np.float32), k, label, min_score)

    def by_vector(self, vector: np.ndarray, k: int = 10, label: str | None = None, min_score: float | None = None) -> list[Hit]:
        # A payload filter inside Qdrant, so K results come back even when the label is rare.
        query_filter = (
            models.Filter(must=[models.FieldCondition(key="label", match=models.MatchValue(value=label))])
            if label
            else None
        )
        response = self.client.query_points(
            self.state.physical,
            query=vector.tolist(),
            limit=k,
            query_filter=query_filter,
            score_threshold=min_score,
            with_payload=True,
        )
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def count(self) -> int:
        return self.client.count(self.state.physical, exact=True).count

    def labels(self) -> dict[str, int]:
        """Label -> number of points, most common first (Qdrant's facet counts)."""
        hits = self.client.facet(self.state.physical, key="label", limit=1000, exact=True).hits
        return {str(h.value): h.count for h in sorted(hits, key=lambda h: -h.count)}


# Picking points without a query vector: the page's random pick, its browser, and the payload
# of a picked point. Not searches: no embedding, no ranking.
NO_SCORE = float("nan")


def payload_filter(label: str | None = None, path_words: str | None = None) -> models.Filter | None:
    """A Qdrant filter on the label (exact) and on words of the path: every word must be a
    whole word of the path, as Qdrant matches text on a field without a text index
    (`cat 0042` finds `animals/cat/0042.jpg`; `004` does not)."""
    must: list[models.Condition] = []
    if label:
        must.append(models.FieldCondition(key="label", match=models.MatchValue(value=label)))
    if path_words and path_words.strip():
        must.append(models.FieldCondition(key="path", match=models.MatchText(text=path_words.strip())))
    return models.Filter(must=must) if must else None


def point(index: Index, point_id: str) -> Hit | None:
    """One point's payload (score NO_SCORE); None when the collection has no such point."""
    found = index.client.retrieve(index.state.physical, [point_id], with_payload=True)
    return Hit(str(found[0].id), NO_SCORE, found[0].payload or {}) if found else None


def sample(index: Index, label: str | None = None) -> Hit | None:
    """A point drawn at random by Qdrant (optionally with this label); None when there is none."""
    response = index.client.query_points(
        index.state.physical,
        query=models.SampleQuery(sample=models.Sample.RANDOM),
        query_filter=payload_filter(label),
        limit=1,
        with_payload=True,
    )
    return Hit(str(response.points[0].id), NO_SCORE, response.points[0].payload or {}) if response.points else None


def browse(
    index: Index, label: str | None = None, path_words: str | None = None, limit: int = 24, offset: str | None = None
) -> tuple[list[Hit], str | None]:
    """One page of points in Qdrant's id order, filtered inside Qdrant; returns the page and
    the offset of the next one (None after the last)."""
    points, next_offset = index.client.scroll(
        index.state.physical,
        scroll_filter=payload_filter(label, path_words),
        limit=limit,
        offset=offset,
        with_payload=True,
    )
    hits = [Hit(str(p.id), NO_SCORE, p.payload or {}) for p in points]
    return hits, (str(next_offset) if next_offset is not None else None)
