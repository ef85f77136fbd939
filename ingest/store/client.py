"""`Store` on a Qdrant server (or a cluster), through qdrant-client. It also opens a folder
made by qdrant-client's local mode, the embedded store of earlier versions, so that
`ingest migrate` can copy it into Qdrant Edge."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

from ingest.errors import UserError
from ingest.store.base import (
    DATETIME_FIELDS,
    FLOAT_FIELDS,
    GEO_FIELDS,
    KEYWORD_FIELDS,
    SCROLL_PAGE,
    TEXT_FIELDS,
    Layout,
    Point,
    Record,
    Scored,
    Store,
    Where,
)

QUERY_CHUNK = 256  # queries per request: ~256 KB of JSON for 256-d vectors


def qdrant_filter(where: Where | None) -> models.Filter | None:
    if not where:
        return None
    must: list[models.Condition] = []
    if where.label:
        must.append(models.FieldCondition(key="label", match=models.MatchValue(value=where.label)))
    if where.source:
        must.append(models.FieldCondition(key="source", match=models.MatchValue(value=where.source)))
    if where.words:
        must.append(models.FieldCondition(key="path", match=models.MatchText(text=where.words)))
    if where.taken_after or where.taken_before:
        # RFC 3339 strings, which the pydantic model parses; its annotation names datetime only.
        moments = models.DatetimeRange(gte=where.taken_after, lt=where.taken_before)  # type: ignore[arg-type]
        must.append(models.FieldCondition(key="taken_at", range=moments))
    if where.cameras:
        must.append(models.FieldCondition(key="camera", match=models.MatchAny(any=list(where.cameras))))
    if where.near:
        centre = models.GeoPoint(lat=where.near.lat, lon=where.near.lon)
        radius = models.GeoRadius(center=centre, radius=where.near.km * 1000)
        must.append(models.FieldCondition(key="location", geo_radius=radius))
    must_not: list[models.Condition] | None = (
        [models.HasIdCondition(has_id=list(where.exclude_ids))] if where.exclude_ids else None
    )
    return models.Filter(must=must or None, must_not=must_not)


def _record(point) -> Record:
    vector = np.asarray(point.vector, dtype=np.float32) if point.vector is not None else None
    return Record(str(point.id), point.payload or {}, vector)


class ClientStore(Store):
    def __init__(self, client: QdrantClient, description: str, embedded: bool = False) -> None:
        self.client, self.description, self.embedded = client, description, embedded

    @classmethod
    def server(cls, url: str, api_key: str | None, timeout_s: float) -> ClientStore:
        # qdrant-client asks for the server's version on a thread of its own and warns when it
        # gets no answer: an unreachable server is reported once by the caller instead.
        warnings.filterwarnings("ignore", message="Failed to obtain server version", category=UserWarning)
        # httpx takes a float timeout; qdrant-client's annotation says int.
        store = cls(QdrantClient(url=url, api_key=api_key, timeout=timeout_s), url)  # type: ignore[arg-type]
        store.client.get_collections()  # a wrong URL or key fails here, not deep inside a load
        return store

    @classmethod
    def local_mode(cls, path: Path) -> ClientStore:
        try:
            client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
        except RuntimeError as exc:  # its own lock: "already accessed by another instance"
            raise UserError(
                f"the store at {path} is in use by another process ({exc}): stop it and try again"
            ) from None
        return cls(client, f"local-mode store at {path}", True)

    def collections(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def create_collection(self, name: str, dim: int, metadata: dict, layout: Layout = Layout()) -> None:
        self.client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            on_disk_payload=True,
            shard_number=layout.shards,
            replication_factor=layout.replicas,
            write_consistency_factor=layout.write_consistency,
            metadata=metadata,
        )
        if self.embedded:
            return  # local mode has no payload indexes (and warns about them)
        for field, schema in _payload_indexes():
            self.client.create_payload_index(name, field, schema)

    def missing_payload_indexes(self, name: str) -> list[str]:
        if self.embedded:
            return []  # local mode has no payload indexes, and needs none
        present = set(self.client.get_collection(name).payload_schema or {})
        return [field for field, _ in _payload_indexes() if field not in present]

    def ensure_payload_indexes(self, name: str) -> list[str]:
        missing = self.missing_payload_indexes(name)
        for field, schema in _payload_indexes():
            if field in missing:
                self.client.create_payload_index(name, field, schema, wait=True)
        return missing

    def delete_collection(self, name: str) -> None:
        self.client.delete_collection(name)

    def set_alias(self, alias: str, collection: str) -> None:
        ops: list = []
        if alias in self.aliases():
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias))
        )
        self.client.update_collection_aliases(change_aliases_operations=ops)  # applied together

    def metadata(self, name: str) -> dict:
        return dict(self.client.get_collection(name).config.metadata or {})

    def update_metadata(self, name: str, changes: dict) -> None:
        self.client.update_collection(name, metadata=changes)  # Qdrant merges it key by key

    def layout(self, name: str) -> Layout:
        params = self.client.get_collection(name).config.params
        return Layout(params.shard_number, params.replication_factor, params.write_consistency_factor)

    def dimension(self, name: str) -> int:
        vectors = self.client.get_collection(name).config.params.vectors
        assert isinstance(vectors, models.VectorParams)  # one unnamed vector, as create_collection makes
        return vectors.size

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        vectors = np.asarray([p.vector for p in points], dtype=np.float32).tolist() if points else []
        self.client.upsert(
            name,
            wait=True,
            points=[models.PointStruct(id=p.id, vector=v, payload=p.payload) for p, v in zip(points, vectors)],
        )

    def retrieve(
        self, name: str, ids: Sequence[str], payload: bool | Sequence[str] = True, vectors: bool = False
    ) -> list[Record]:
        found = self.client.retrieve(name, list(ids), with_payload=_payload(payload), with_vectors=vectors)
        by_id = {str(p.id): _record(p) for p in found}
        return [by_id[i] for i in ids if i in by_id]

    def set_payload(self, name: str, ids: Sequence[str], payload: dict) -> None:
        self.client.set_payload(name, payload=payload, points=list(ids), wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def count(self, name: str, where: Where | None = None) -> int:
        return self.client.count(name, count_filter=qdrant_filter(where), exact=True).count

    def scroll(
        self,
        name: str,
        where: Where | None = None,
        limit: int = SCROLL_PAGE,
        offset: str | None = None,
        payload: bool | Sequence[str] = True,
        vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        points, next_offset = self.client.scroll(
            name,
            scroll_filter=qdrant_filter(where),
            limit=limit,
            offset=offset,
            with_payload=_payload(payload),
            with_vectors=vectors,
        )
        return [_record(p) for p in points], (str(next_offset) if next_offset is not None else None)

    def search(
        self, name: str, vector: np.ndarray, limit: int, where: Where | None = None, min_score: float | None = None
    ) -> list[Scored]:
        response = self.client.query_points(
            name,
            query=np.asarray(vector, dtype=np.float32).tolist(),
            limit=limit,
            query_filter=qdrant_filter(where),
            score_threshold=min_score,
            with_payload=True,
        )
        return [Scored(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def search_batch(
        self, name: str, vectors: np.ndarray, limit: int, min_score: float | None = None, where: Where | None = None
    ) -> list[list[Scored]]:
        results: list[list[Scored]] = []
        rows, condition = np.asarray(vectors, dtype=np.float32).tolist(), qdrant_filter(where)
        for start in range(0, len(rows), QUERY_CHUNK):
            requests = [
                models.QueryRequest(
                    query=row, filter=condition, limit=limit, score_threshold=min_score, with_payload=False
                )
                for row in rows[start : start + QUERY_CHUNK]
            ]
            for response in self.client.query_batch_points(name, requests=requests):
                results.append([Scored(str(p.id), float(p.score), {}) for p in response.points])
        return results

    def recommend(
        self,
        name: str,
        positives: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray],
        limit: int,
        where: Where | None = None,
        min_score: float | None = None,
    ) -> list[Scored]:
        query = models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=[np.asarray(v, dtype=np.float32).tolist() for v in positives],
                negative=[np.asarray(v, dtype=np.float32).tolist() for v in negatives],
                strategy=models.RecommendStrategy.BEST_SCORE,
            )
        )
        response = self.client.query_points(
            name,
            query=query,
            limit=limit,
            query_filter=qdrant_filter(where),
            score_threshold=min_score,
            with_payload=True,
        )
        return [Scored(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def sample(self, name: str, where: Where | None = None) -> Record | None:
        response = self.client.query_points(
            name,
            query=models.SampleQuery(sample=models.Sample.RANDOM),
            query_filter=qdrant_filter(where),
            limit=1,
            with_payload=True,
        )
        return _record(response.points[0]) if response.points else None

    def ordered(
        self,
        name: str,
        key: str,
        limit: int,
        where: Where | None = None,
        descending: bool = False,
        start_from: str | float | None = None,
    ) -> list[Record]:
        direction = models.Direction.DESC if descending else models.Direction.ASC
        records, _ = self.client.scroll(
            name,
            scroll_filter=qdrant_filter(where),
            limit=limit,
            with_payload=True,
            # A date as an RFC 3339 string, which the pydantic model parses; its annotation names datetime.
            order_by=models.OrderBy(key=key, direction=direction, start_from=start_from),  # type: ignore[arg-type]
        )
        return [_record(p) for p in records]

    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        hits = self.client.facet(name, key=key, facet_filter=qdrant_filter(where), limit=100_000, exact=True).hits
        return {str(h.value): h.count for h in hits if h.count > 0}

    def close(self) -> None:
        self.client.close()


def _payload_indexes() -> list[tuple[str, models.PayloadSchemaType | models.TextIndexParams]]:
    text = models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, lowercase=True)
    schemas: list[tuple[str, models.PayloadSchemaType | models.TextIndexParams]] = [
        (f, models.PayloadSchemaType.KEYWORD) for f in KEYWORD_FIELDS
    ]
    schemas += [(f, text) for f in TEXT_FIELDS]
    schemas += [(f, models.PayloadSchemaType.FLOAT) for f in FLOAT_FIELDS]
    schemas += [(f, models.PayloadSchemaType.DATETIME) for f in DATETIME_FIELDS]
    return schemas + [(f, models.PayloadSchemaType.GEO) for f in GEO_FIELDS]


def _payload(payload: bool | Sequence[str]) -> bool | list[str]:
    return payload if isinstance(payload, bool) else list(payload)
