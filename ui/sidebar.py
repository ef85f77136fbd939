"""The sidebar: where a query comes from, and what the result grid shows."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from ingest.store import Where
from ui import query
from ui.query import Controls

ALL_LABELS = "(all labels)"
ALL_CAMERAS = "(all cameras)"
TAKEN, CAMERA = "taken", "camera"  # session-state keys of the date range and the camera
MAX_K = 50
COLLECTION = "collection"  # session-state key: the collection chosen on the page


def controls(
    collection: str, points: int, labels: dict[str, int], collections: list[str], library: dict | None = None
) -> Controls:
    with st.sidebar:
        st.title("Animal image search", anchor=False)
        if len(collections) > 1:
            st.selectbox("Collection", collections, index=collections.index(collection), key=COLLECTION)
        st.header("Query", anchor=False)
        st.file_uploader(
            "Search with a photo",
            type=query.UPLOAD_TYPES,
            key=query.UPLOAD,
            on_change=query.use_upload,
            help="JPEG, PNG, WebP or HEIC (AVIF, TIFF, BMP, GIF too); read by content, as `ingest load` reads them.",
        )
        st.button(
            "Random image from the collection",
            key="random",
            on_click=query.pick_random,
            width="stretch",
            help=f"Picks one of the {points:,} images of {collection!r}; open Browse to choose one yourself.",
        )
        st.header("Results", anchor=False)
        k = st.slider("How many results (K)", 1, MAX_K, 10, key="k")
        label = st.selectbox(
            "Only this label",
            [ALL_LABELS, *labels],
            key="label",
            format_func=lambda name: name if name == ALL_LABELS else f"{name} ({labels.get(name, 0):,})",
            help="A filter inside Qdrant, so K results come back even for a rare label.",
        )
        min_score = st.slider(
            "Minimum score",
            0.0,
            1.0,
            0.0,
            0.01,
            key="min_score",
            help="Cosine similarity of the embeddings; 0 shows every result.",
        )
        where = _when_and_camera(library or {})
        show_reconstructions = st.toggle(
            "Show reconstructions",
            value=True,  # the product's promise: each result beside what the autoencoder redraws
            key="reconstructions",
            help="Each picture beside what the decoder rebuilds from its embedding: what the vector keeps.",
        )
    return Controls(
        k=k,
        label=None if label == ALL_LABELS else label,
        min_score=min_score if min_score > 0 else None,
        show_reconstructions=show_reconstructions,
        where=where,
    )


def _narrowed() -> None:
    """Other dates or another camera: Browse starts again from its first page."""
    st.session_state.pop("browse_offsets", None)


def _when_and_camera(library: dict) -> Where:
    """A date range and a camera, offered when some photo of the collection has a date or a
    camera (EXIF); filters inside Qdrant, for every tab."""
    after = before = None
    if library.get("first_taken"):
        first, last = (dt.date.fromisoformat(library[key]) for key in ("first_taken", "last_taken"))
        days = st.date_input(
            "Taken between",
            value=(),  # type: ignore[arg-type]  # no range chosen yet: Streamlit takes (), its annotation omits it
            min_value=first,
            max_value=last,
            key=TAKEN,
            on_change=_narrowed,
            help="Both days included, on the camera's clock. Photos whose file records no date are left out.",
        )
        if days:
            after = days[0].isoformat() + "T00:00:00"
            before = (days[-1] + dt.timedelta(days=1)).isoformat() + "T00:00:00"
    cameras = library.get("cameras") or {}
    camera = ALL_CAMERAS
    if cameras:
        camera = st.selectbox(
            "Taken with",
            [ALL_CAMERAS, *cameras],
            key=CAMERA,
            on_change=_narrowed,
            format_func=lambda name: name if name == ALL_CAMERAS else f"{name} ({cameras.get(name, 0):,})",
        )
    return Where(taken_after=after, taken_before=before, cameras=() if camera == ALL_CAMERAS else (camera,))
