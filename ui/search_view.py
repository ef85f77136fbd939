"""The Search tab: the query, then its top-K as a grid. Each result shows its picture, score,
label and path, and two buttons that add it to the query's examples: "more like this" and
"less like this". With more than one example, they show above the grid as thumbnails, each
removable. The results download as CSV and the grid as a PNG."""

from __future__ import annotations

import math

import streamlit as st
from PIL import Image

from encoder.embed import Embedder
from ingest.store.media import MediaStore
from ui import downloads, pictures, query
from ui.query import Controls, Outcome
from ui.untrusted import code, plain

COLUMNS = 6
COLUMNS_WITH_RECONSTRUCTIONS = 4
EXAMPLE_COLUMNS = 10


def prompt() -> None:
    st.info("Upload a photo in the sidebar, pick a random image, or choose one under **Browse**.")
    st.button("Search with a random image", key="random-main", type="primary", on_click=query.pick_random)


def show(outcome: Outcome, controls: Controls, embedder: Embedder, media: MediaStore) -> None:
    """Draws the query and the grid; returns after reading and enlarging every picture."""
    query_image = outcome.query_image
    if query_image is None and outcome.query_point is not None:
        query_image = pictures.stored_pictures(media, [outcome.query_point])[0]
    images = pictures.stored_pictures(media, outcome.hits)
    recons: list[Image.Image | None] = []
    if controls.show_reconstructions:
        recons = pictures.with_reconstructions(embedder, [query_image, *images])
    if outcome.single:
        _query_panel(outcome, query_image, recons[0] if recons else None, embedder, controls.show_reconstructions)
    else:
        _examples_panel(outcome, media)
    for note in outcome.notes:
        st.caption(plain(note))
    if not outcome.hits:
        st.warning("No result: lower the minimum score, or choose another label.")
        return
    _grid(outcome, images, recons[1:] if recons else [])
    downloads.results(outcome.hits, images, COLUMNS)


def _query_panel(
    outcome: Outcome,
    image: Image.Image | None,
    recon: Image.Image | None,
    embedder: Embedder,
    show_reconstructions: bool,
) -> None:
    with st.container(key="query"):
        picture_col, text_col = st.columns([2, 3] if show_reconstructions else [1, 3], vertical_alignment="center")
        side = pictures.QUERY_PAIR_SIDE if show_reconstructions else pictures.QUERY_SIDE
        picture = pictures.sized(image, side)
        if show_reconstructions:
            picture = pictures.side_by_side(picture, pictures.sized(recon, side))
        picture_col.image(picture, caption="query" + (" · reconstruction" if show_reconstructions else ""))
        with text_col:
            st.subheader("Query")
            st.markdown(code(outcome.title))
            point = outcome.query_point
            if point is not None:
                st.caption(f"label **{plain(point.label or '-')}** · from {plain(point.payload.get('source', '?'))}")
            if show_reconstructions and image is not None:
                error = point.payload.get("recon_error") if point is not None else None
                if error is None:
                    error = pictures.reconstruction_error(embedder, image)
                st.caption(f"reconstruction error (MSE) {error:.4f}")
            how = "embedding + Qdrant" if outcome.query_image is not None else "Qdrant, with the stored vector"
            st.caption(f"{len(outcome.hits)} results in {outcome.search_ms:.0f} ms ({how})")


def _examples_panel(outcome: Outcome, media: MediaStore) -> None:
    """The query's examples as thumbnails, photos to look like first, each with a button
    that takes it out; "Clear" starts over."""
    stored = pictures.stored_pictures(media, [s.point for s in outcome.examples if s.point is not None])
    pictures_of = iter(stored)
    with st.container(key="examples"):
        title_col, clear_col = st.columns([5, 1], vertical_alignment="center")
        title_col.subheader("Examples", anchor=False)
        clear_col.button("Clear", key="clear-examples", on_click=query.clear_examples, width="stretch")
        for start in range(0, len(outcome.examples), EXAMPLE_COLUMNS):
            row = outcome.examples[start : start + EXAMPLE_COLUMNS]
            for column, shown in zip(st.columns(EXAMPLE_COLUMNS), row):
                picture = shown.image if shown.point is None else next(pictures_of)
                label = shown.point.label if shown.point is not None else shown.name
                with column:
                    st.image(
                        pictures.sized(picture, pictures.EXAMPLE_SIDE),
                        caption=f"{'more like' if shown.positive else 'less like'} · {plain(label or '-')}",
                    )
                    st.button(
                        "Remove",
                        key=f"drop-{shown.example.point_id or shown.example.upload_id}",
                        on_click=query.drop_example,
                        args=(shown.example,),
                        width="stretch",
                        # The last photo to look like stays: "Clear" starts over instead.
                        disabled=shown.positive and sum(s.positive for s in outcome.examples) == 1,
                    )
        how = "Qdrant's recommendation query"
        st.caption(f"{plain(outcome.title)} · {len(outcome.hits)} results in {outcome.search_ms:.0f} ms ({how})")


def _grid(outcome: Outcome, images: list[Image.Image | None], recons: list[Image.Image | None]) -> None:
    per_row = COLUMNS_WITH_RECONSTRUCTIONS if recons else COLUMNS
    side = pictures.RESULT_PAIR_SIDE if recons else pictures.RESULT_SIDE
    with st.container(key="results"):
        for start in range(0, len(outcome.hits), per_row):
            columns = st.columns(per_row)
            for offset, column in enumerate(columns):
                rank = start + offset
                if rank >= len(outcome.hits):
                    break
                hit = outcome.hits[rank]
                picture = pictures.sized(images[rank], side)
                if recons:
                    picture = pictures.side_by_side(picture, pictures.sized(recons[rank], side))
                with column:
                    st.image(picture, caption=f"#{rank + 1} · {hit.score:.3f} · {plain(hit.label or '-')}")
                    detail = plain(hit.path)
                    error = hit.payload.get("recon_error")
                    if recons and isinstance(error, float) and not math.isnan(error):
                        detail += f" · recon. error {error:.4f}"
                    if images[rank] is None:
                        detail += " · picture missing from the media store"
                    st.caption(detail)
                    st.button(
                        "More like this",
                        key=f"more-{hit.id}",
                        on_click=query.add_example,
                        args=(hit.id, True),
                        width="stretch",
                    )
                    st.button(
                        "Less like this",
                        key=f"less-{hit.id}",
                        on_click=query.add_example,
                        args=(hit.id, False),
                        width="stretch",
                    )
