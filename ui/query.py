"""What the page searches with, and the search itself.

A query starts from one photo: an uploaded image or a point of the collection (a random
pick, a browsed image). Each result's "more like this" and "less like this" then add it to
the query's examples (relevance feedback), which Qdrant's recommendation query ranks by.
The query lives in the session state, so it survives every rerun; the search runs again on
each interaction, through the same `Index` as `ingest search`, so that new images and
changed settings always show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
from PIL import Image

from ingest.errors import UserError
from ingest.images import ImageRejected
from ingest.query.narrowing import describe
from ingest.query.search import Hit, Index
from ingest.store import Where
from ingest.store.media import decode_picture

QUERY = "query"  # session-state keys
UPLOAD = "upload"
PICK_RANDOM = "pick_random"
DECODED_UPLOAD = "decoded_upload"  # (file id, image): an upload is decoded once, not per rerun
VIEW = "view"
SEARCH_TAB, BROWSE_TAB, DUPLICATES_TAB, MODEL_TAB = "Search", "Browse", "Duplicates", "Model"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif", "avif", "tif", "tiff", "bmp", "gif"]


class UploadRejected(UserError):
    """An upload that cannot be a query; the message says why and what to upload instead."""


@dataclass(frozen=True)
class Example:
    """One photo the search is given."""

    point_id: str | None = None  # a point of the collection
    upload_id: str | None = None  # the uploader's file id


@dataclass(frozen=True)
class Query:
    """Photos the results should look like, and photos they should not."""

    positives: tuple[Example, ...] = ()
    negatives: tuple[Example, ...] = ()

    @classmethod
    def of(cls, example: Example) -> Query:
        return cls((example,))

    def adding(self, example: Example, positive: bool) -> Query:
        """With `example` at the end of one list (and out of the other)."""
        positives = tuple(e for e in self.positives if e != example)
        negatives = tuple(e for e in self.negatives if e != example)
        if positive:
            return Query((*positives, example), negatives)
        return Query(positives, (*negatives, example))

    def without(self, *examples: Example) -> Query | None:
        """None when no positive example is left: there is nothing to search with then."""
        kept = Query(
            tuple(e for e in self.positives if e not in examples), tuple(e for e in self.negatives if e not in examples)
        )
        return kept if kept.positives else None


@dataclass(frozen=True)
class Controls:
    k: int
    label: str | None
    min_score: float | None
    show_reconstructions: bool
    where: Where = field(default_factory=Where)  # the sidebar's date range and camera: every tab's photos


@dataclass
class Shown:
    """An example as the page draws it."""

    example: Example
    positive: bool
    point: Hit | None = None  # a point: its picture comes from the media store
    image: Image.Image | None = None  # an upload
    name: str = ""


@dataclass
class Outcome:
    """A search, ready to draw."""

    title: str
    hits: list[Hit]
    query_image: Image.Image | None = None  # the first example, when an upload
    query_point: Hit | None = None  # the first example, when a point
    search_ms: float = 0.0
    notes: list[str] = field(default_factory=list)
    examples: list[Shown] = field(default_factory=list)  # every example, positives first

    @property
    def single(self) -> bool:
        return len(self.examples) == 1


# Callbacks: they run before the script, so they only record what was asked for.
def pick_point(point_id: str) -> None:
    """A browsed image: a fresh query."""
    st.session_state[QUERY] = Query.of(Example(point_id=point_id))
    st.session_state[VIEW] = SEARCH_TAB


def add_example(point_id: str, positive: bool) -> None:
    """A result's "more like this" (positive) or "less like this"."""
    current = st.session_state.get(QUERY) or Query()
    st.session_state[QUERY] = current.adding(Example(point_id=point_id), positive)


def drop_example(example: Example) -> None:
    current = st.session_state.get(QUERY)
    st.session_state[QUERY] = current.without(example) if current else None


def clear_examples() -> None:
    st.session_state[QUERY] = None


def pick_random() -> None:
    st.session_state[PICK_RANDOM] = True
    st.session_state[VIEW] = SEARCH_TAB


def use_upload() -> None:
    uploaded = st.session_state.get(UPLOAD)
    st.session_state[QUERY] = Query.of(Example(upload_id=uploaded.file_id)) if uploaded is not None else None
    st.session_state[VIEW] = SEARCH_TAB


def read_upload(name: str, data: bytes, max_bytes: int) -> Image.Image:
    """An upload's bytes -> RGB image, by ingest's rules (content sniffing, pixel limit), or
    UploadRejected with one line that says what is wrong."""
    if len(data) > max_bytes:
        raise UploadRejected(
            f"{name} is too large ({len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB): "
            "upload a smaller photo"
        )
    try:
        return decode_picture(data).image
    except ImageRejected as exc:
        raise UploadRejected(
            f"{name} cannot be used as a query: {exc}. Upload a JPEG, PNG, WebP or HEIC photo."
        ) from None


def upload_limit_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 2**20


def decode_upload() -> str | None:
    """Decodes the upload the query holds, if any, before the page takes the store: decoding a
    picture holds no lock that every other session waits on. An upload that cannot be used leaves
    the query (the uploader keeps it, and no rerun decodes it again); returns why, in one line."""
    current = st.session_state.get(QUERY)
    if not current:
        return None
    for example in (*current.positives, *current.negatives):
        if example.upload_id is not None:
            try:
                _uploaded_image(example.upload_id)
            except UploadRejected as exc:
                st.session_state[QUERY] = current.without(example)
                return str(exc)
    return None


def _uploaded_image(upload_id: str) -> tuple[str, Image.Image]:
    """The current upload, decoded once per file (not per interaction)."""
    uploaded = st.session_state.get(UPLOAD)
    if uploaded is None or uploaded.file_id != upload_id:
        raise UploadRejected("the uploaded file is gone: upload it again")
    cached = st.session_state.get(DECODED_UPLOAD)
    if cached and cached[0] == upload_id:
        return uploaded.name, cached[1]
    image = read_upload(uploaded.name, uploaded.getvalue(), upload_limit_bytes())
    st.session_state[DECODED_UPLOAD] = (upload_id, image)
    return uploaded.name, image


def current_query(index: Index, where: Where | None = None) -> Query | None:
    """Turns a pending random pick into a point; returns what to search with, if anything."""
    if st.session_state.pop(PICK_RANDOM, False):
        picked = index.sample(where=where)
        st.session_state[QUERY] = Query.of(Example(point_id=picked.id)) if picked else None
    return st.session_state.get(QUERY)


def run(index: Index, query: Query, controls: Controls) -> Outcome:
    """Search with the query's examples; raises UploadRejected for an unusable upload."""
    started = time.perf_counter()
    examples, notes = _resolve(index, query)
    vectors: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for example, vector in examples:
        vectors[example.positive].append(vector)
    # Examples from the collection are left out of the results: the user has seen them.
    exclude = [shown.point.id for shown, _ in examples if shown.point is not None]
    hits = index.by_examples(
        vectors[True], vectors[False], controls.k, controls.label, controls.min_score, exclude, controls.where
    )
    first = examples[0][0]
    shown = [s for s, _ in examples]
    if len(shown) == 1:
        title = f"uploaded {first.name}" if first.point is None else first.point.path
    else:
        title = f"{len(vectors[True])} photos to look like, {len(vectors[False])} to look unlike"
    outcome = Outcome(title, hits, first.image, first.point, notes=notes, examples=shown)
    outcome.search_ms = (time.perf_counter() - started) * 1000
    if controls.min_score is not None and len(outcome.hits) < controls.k:
        outcome.notes.append(
            f"{len(outcome.hits)} of {controls.k} results reach the minimum score {controls.min_score:.2f}"
        )
    elif controls.label and len(outcome.hits) < controls.k:
        outcome.notes.append(f"only {len(outcome.hits)} results carry the label {controls.label!r}")
    elif controls.where and len(outcome.hits) < controls.k:
        outcome.notes.append(f"only {len(outcome.hits)} photos are {describe(controls.where)}")
    return outcome


def _resolve(index: Index, query: Query) -> tuple[list[tuple[Shown, np.ndarray]], list[str]]:
    """Each example with its vector: an upload is embedded, a point's stored vector is read
    (one store call for all). Points removed since they were picked are dropped, with a note."""
    points = index.examples([e.point_id for e in (*query.positives, *query.negatives) if e.point_id])
    resolved, missing = [], []
    for positive, examples in ((True, query.positives), (False, query.negatives)):
        for example in examples:
            if example.upload_id is not None:
                name, image = _uploaded_image(example.upload_id)
                resolved.append((Shown(example, positive, image=image, name=name), index.embed(image)))
            elif example.point_id in points:
                hit, vector = points[example.point_id]
                resolved.append((Shown(example, positive, point=hit), vector))
            else:
                missing.append(example)
    remaining = query.without(*missing)
    st.session_state[QUERY] = remaining
    if remaining is None:
        raise UserError("the picked image is no longer in the collection: pick another one")
    notes = [f"{len(missing)} examples are no longer in the collection and were dropped"] if missing else []
    return resolved, notes
