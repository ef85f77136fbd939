"""Qdrant Edge's side of `edge.py`: our filters and selectors in Edge's types, Edge's points
in ours, and Edge's errors as the exceptions the rest of the product handles."""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Sequence

import numpy as np
import qdrant_edge as qe

from ingest.errors import UserError
from ingest.store.base import (
    DATETIME_FIELDS,
    FLOAT_FIELDS,
    GEO_FIELDS,
    KEYWORD_FIELDS,
    TEXT_FIELDS,
    Record,
    Scored,
    Where,
)
from ingest.store.damage import collection_damaged

_OS_ERROR = re.compile(r"os error (\d+)")
# How Qdrant words a fault of the files it reads (a truncated vector file: "Service runtime error:
# elements range 87040..88064 is out of bounds"), as against a request it refuses ("Wrong input").
_DAMAGE = re.compile(r"Service runtime error|Service internal error|Inconsistent storage|out of bounds|[Cc]orrupt")


def engine_errors(method):
    """Edge reports every failure as a plain Exception with a message; one that comes from the
    file system ("... (os error 28)") is raised as the OSError it is, naming the store's folder,
    so that it reaches the user as one line like any other file-system fault. One that says a
    collection's files are damaged, or any failure to open a collection, is `Damaged`, naming
    the collection's folder and the command that rebuilds it."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, KeyError, ValueError, TypeError, UserError):
            raise
        except Exception as exc:
            found = _OS_ERROR.search(str(exc))
            if found is not None:
                code = int(found.group(1))
                raise OSError(code, os.strerror(code), str(self.root)) from exc
            name = args[0] if args and isinstance(args[0], str) else None
            if name is None or not (method.__name__ == "_shard" or _DAMAGE.search(str(exc))):
                raise
            raise collection_damaged(self.root / "collections" / name, exc) from exc

    return wrapper


def edge_filter(where: Where | None) -> qe.Filter | None:
    if not where:
        return None
    must: list[qe.ConditionType] = []
    if where.label:
        must.append(qe.FieldCondition(key="label", match=qe.MatchValue(where.label)))
    if where.source:
        must.append(qe.FieldCondition(key="source", match=qe.MatchValue(where.source)))
    if where.words:
        must.append(qe.FieldCondition(key="path", match=qe.MatchText(where.words)))
    if where.taken_after or where.taken_before:
        moments = qe.RangeDateTime(gte=where.taken_after, lt=where.taken_before)
        must.append(qe.FieldCondition(key="taken_at", range=moments))
    if where.cameras:
        must.append(qe.FieldCondition(key="camera", match=qe.MatchAny(list(where.cameras))))
    if where.near:
        centre = qe.GeoPoint(where.near.lon, where.near.lat)
        must.append(qe.FieldCondition(key="location", geo_radius=qe.GeoRadius(centre, where.near.km * 1000)))
    must_not: list[qe.ConditionType] | None = (
        [qe.HasIdCondition({uuid.UUID(i) for i in where.exclude_ids})] if where.exclude_ids else None
    )
    return qe.Filter(must=must or None, must_not=must_not)


def to_record(point) -> Record:
    vector = np.asarray(point.vector, dtype=np.float32) if point.vector is not None else None
    return Record(str(point.id), point.payload or {}, vector)


def to_scored(point) -> Scored:
    return Scored(str(point.id), float(point.score), point.payload or {})


def payload_selector(payload: bool | Sequence[str]) -> bool | list[str]:
    return payload if isinstance(payload, bool) else list(payload)


def payload_indexes() -> list[tuple[str, qe.PayloadSchemaType | qe.TextIndexParams]]:
    """Every payload index a collection gets, with its Edge schema."""
    indexes: list[tuple[str, qe.PayloadSchemaType | qe.TextIndexParams]] = [
        (f, qe.PayloadSchemaType.Keyword) for f in KEYWORD_FIELDS
    ]
    indexes += [(f, qe.TextIndexParams(tokenizer=qe.TokenizerType.Word, lowercase=True)) for f in TEXT_FIELDS]
    indexes += [(f, qe.PayloadSchemaType.Float) for f in FLOAT_FIELDS]
    indexes += [(f, qe.PayloadSchemaType.Datetime) for f in DATETIME_FIELDS]
    return indexes + [(f, qe.PayloadSchemaType.Geo) for f in GEO_FIELDS]
