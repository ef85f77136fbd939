"""The queries of `EdgeStore`: counting, reading and searching a collection's points in Qdrant
Edge. A mixin on `_shard(name)`, the collection's open shard; `edge.py` has the store's life and
its writes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import qdrant_edge as qe

from ingest.store.base import SCROLL_PAGE, Record, Scored, Where
from ingest.store.edge_types import edge_filter, engine_errors, payload_selector, to_record, to_scored

QUERY_CHUNK = 256


class EdgeReads:
    def _shard(self, name: str) -> qe.EdgeShard:
        raise NotImplementedError

    @engine_errors
    def retrieve(
        self, name: str, ids: Sequence[str], payload: bool | Sequence[str] = True, vectors: bool = False
    ) -> list[Record]:
        found = self._shard(name).retrieve(list(ids), payload_selector(payload), vectors)
        by_id = {str(p.id): to_record(p) for p in found}
        return [by_id[i] for i in ids if i in by_id]

    @engine_errors
    def count(self, name: str, where: Where | None = None) -> int:
        return self._shard(name).count(qe.CountRequest(exact=True, filter=edge_filter(where)))

    @engine_errors
    def scroll(
        self,
        name: str,
        where: Where | None = None,
        limit: int = SCROLL_PAGE,
        offset: str | None = None,
        payload: bool | Sequence[str] = True,
        vectors: bool = False,
    ) -> tuple[list[Record], str | None]:
        records, next_offset = self._shard(name).scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=limit,
                filter=edge_filter(where),
                with_payload=payload_selector(payload),
                with_vector=vectors,
            )
        )
        return [to_record(p) for p in records], (str(next_offset) if next_offset is not None else None)

    @engine_errors
    def search(
        self, name: str, vector: np.ndarray, limit: int, where: Where | None = None, min_score: float | None = None
    ) -> list[Scored]:
        found = self._shard(name).query(
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()),
                filter=edge_filter(where),
                score_threshold=min_score,
                with_payload=True,
            )
        )
        return [to_scored(p) for p in found]

    @engine_errors
    def search_batch(
        self, name: str, vectors: np.ndarray, limit: int, min_score: float | None = None, where: Where | None = None
    ) -> list[list[Scored]]:
        shard, rows = self._shard(name), np.asarray(vectors, dtype=np.float32).tolist()
        results: list[list[Scored]] = []
        for start in range(0, len(rows), QUERY_CHUNK):
            requests = [
                qe.QueryRequest(
                    limit=limit,
                    query=qe.Query.Nearest(row),
                    filter=edge_filter(where),
                    score_threshold=min_score,
                    with_payload=False,
                )
                for row in rows[start : start + QUERY_CHUNK]
            ]
            results += [[to_scored(p) for p in found] for found in shard.query_batch(qe.QueryBatchRequest(requests))]
        return results

    @engine_errors
    def recommend(
        self,
        name: str,
        positives: Sequence[np.ndarray],
        negatives: Sequence[np.ndarray],
        limit: int,
        where: Where | None = None,
        min_score: float | None = None,
    ) -> list[Scored]:
        query = qe.Query.RecommendBestScore(
            qe.RecommendQuery(
                positives=[np.asarray(v, dtype=np.float32).tolist() for v in positives],
                negatives=[np.asarray(v, dtype=np.float32).tolist() for v in negatives],
            )
        )
        found = self._shard(name).query(
            qe.QueryRequest(
                limit=limit, query=query, filter=edge_filter(where), score_threshold=min_score, with_payload=True
            )
        )
        return [to_scored(p) for p in found]

    @engine_errors
    def sample(self, name: str, where: Where | None = None) -> Record | None:
        found = self._shard(name).query(
            qe.QueryRequest(limit=1, query=qe.Sample.Random, filter=edge_filter(where), with_payload=True)
        )
        return Record(str(found[0].id), found[0].payload or {}) if found else None

    @engine_errors
    def ordered(
        self,
        name: str,
        key: str,
        limit: int,
        where: Where | None = None,
        descending: bool = False,
        start_from: str | float | None = None,
    ) -> list[Record]:
        direction = qe.Direction.Desc if descending else qe.Direction.Asc
        records, _ = self._shard(name).scroll(
            qe.ScrollRequest(
                limit=limit,
                filter=edge_filter(where),
                order_by=qe.OrderBy(key, direction, start_from),
                with_payload=True,
            )
        )
        return [to_record(p) for p in records]

    @engine_errors
    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        response = self._shard(name).facet(
            qe.FacetRequest(key=key, limit=100_000, exact=True, filter=edge_filter(where))
        )
        return {str(h.value): h.count for h in response.hits if h.count > 0}
