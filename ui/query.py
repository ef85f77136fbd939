"""What the page searches with, and the search itself.

A query is either an uploaded image or a point of the collection (a random pick, a browsed
image, or a result's "more like this"). It lives in the session state, so it survives every
rerun; the search runs again on each interaction, through the same `Index` as `ingest
search`, so that new images and changed settings always show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st
from PIL import Image

from ingest.errors import UserError
from ingest.images import ImageRejected, decode
from ingest.query.search import Hit, Index
from ingest.store.media import THUMBNAIL_SIDE

QUERY = "query"  # session-state keys
UPLOAD = "upload"
PICK_RANDOM = "pick_random"
DECODED_UPLOAD = "decoded_upload"  # (file id, image): an upload is decoded once, not per rerun
VIEW = "view"
SEARCH_TAB, BROWSE_TAB, MODEL_TAB = "Search", "Browse", "Model"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]


class UploadRejected(UserError):
    """An upload that cannot be a query; the message says why and what to upload instead."""


@dataclass(frozen=True)
class Query:
    point_id: str | None = None  # a point of the collection
    upload_id: str | None = None  # the uploader's file id


@dataclass(frozen=True)
class Controls:
    k: int
    label: str | None
    min_score: float | None
    show_reconstructions: bool


@dataclass
class Outcome:
    """A search, ready to draw."""

    title: str
    hits: list[Hit]
    query_image: Image.Image | None = None  # an upload; a point's picture comes from the media store
    query_point: Hit | None = None
    search_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


# Callbacks: they run before the script, so they only record what was asked for.
def pick_point(point_id: str) -> None:
    st.session_state[QUERY] = Query(point_id=point_id)
    st.session_state[VIEW] = SEARCH_TAB


def pick_random() -> None:
    st.session_state[PICK_RANDOM] = True
    st.session_state[VIEW] = SEARCH_TAB


def use_upload() -> None:
    uploaded = st.session_state.get(UPLOAD)
    st.session_state[QUERY] = Query(upload_id=uploaded.file_id) if uploaded is not None else None
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
        return decode(data, target_side=THUMBNAIL_SIDE).image
    except ImageRejected as exc:
        raise UploadRejected(f"{name} cannot be used as a query: {exc}. Upload a JPEG, PNG or WebP photo.") from None


def upload_limit_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 2**20


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


def current_query(index: Index) -> Query | None:
    """Turns a pending random pick into a point; returns what to search with, if anything."""
    if st.session_state.pop(PICK_RANDOM, False):
        picked = index.sample()
        st.session_state[QUERY] = Query(point_id=picked.id) if picked else None
    return st.session_state.get(QUERY)


def run(index: Index, query: Query, controls: Controls) -> Outcome:
    """Search with the query; raises UploadRejected for an unusable upload."""
    started = time.perf_counter()
    if query.upload_id is not None:
        name, image = _uploaded_image(query.upload_id)
        hits = index.by_image(image, controls.k, controls.label, controls.min_score)
        outcome = Outcome(f"uploaded {name}", hits, query_image=image)
    else:
        picked = index.point(query.point_id or "")
        if picked is None:
            st.session_state[QUERY] = None
            raise UserError("the picked image is no longer in the collection: pick another one")
        # The picked image is its own best match; by_point leaves it out so K others show.
        hits = index.by_point(picked.id, controls.k, controls.label, controls.min_score)
        outcome = Outcome(picked.path, hits, query_point=picked)
    outcome.search_ms = (time.perf_counter() - started) * 1000
    if controls.min_score is not None and len(outcome.hits) < controls.k:
        outcome.notes.append(
            f"{len(outcome.hits)} of {controls.k} results reach the minimum score {controls.min_score:.2f}"
        )
    elif controls.label and len(outcome.hits) < controls.k:
        outcome.notes.append(f"only {len(outcome.hits)} results carry the label {controls.label!r}")
    return outcome
