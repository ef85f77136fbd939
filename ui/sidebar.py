"""The sidebar: where a query comes from, and what the result grid shows."""

from __future__ import annotations

import streamlit as st

from ui import query
from ui.query import Controls

ALL_LABELS = "(all labels)"
MAX_K = 50
COLLECTION = "collection"  # session-state key: the collection chosen on the page


def controls(collection: str, points: int, labels: dict[str, int], collections: list[str]) -> Controls:
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
    )
