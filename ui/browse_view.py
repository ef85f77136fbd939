"""The Browse tab: the collection a page at a time, filtered by label and by words of the path
(both filters run inside Qdrant); any image can become the query."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ingest.query.search import Hit, Index
from ingest.store.media import MediaStore
from ui import pictures, query
from ui.sidebar import ALL_LABELS
from ui.untrusted import plain

PAGE_SIZE = 24
COLUMNS = 8
OFFSETS = "browse_offsets"  # the offset of every page seen so far; the last one is shown


@dataclass
class Page:
    hits: list[Hit]
    number: int  # 1 for the first page
    next_offset: str | None  # None on the last page


def _restart() -> None:
    st.session_state[OFFSETS] = [None]


def _next(offset: str) -> None:
    st.session_state[OFFSETS].append(offset)


def _previous() -> None:
    if len(st.session_state[OFFSETS]) > 1:
        st.session_state[OFFSETS].pop()


def load(index: Index, labels: dict[str, int]) -> Page:
    """The filter widgets, then the page they select (Qdrant work: one scroll)."""
    st.session_state.setdefault(OFFSETS, [None])
    label_col, words_col = st.columns([1, 2])
    label = label_col.selectbox(
        "Label",
        [ALL_LABELS, *labels],
        key="browse_label",
        on_change=_restart,
        format_func=lambda name: name if name == ALL_LABELS else f"{name} ({labels.get(name, 0):,})",
    )
    words = words_col.text_input(
        "Words of the path",
        key="browse_words",
        on_change=_restart,
        placeholder="e.g. cat 0042",
        help="Every word must be a whole word of the image's path inside its zip.",
    )
    offsets = st.session_state[OFFSETS]
    hits, next_offset = index.browse(None if label == ALL_LABELS else label, words, PAGE_SIZE, offsets[-1])
    return Page(hits, len(offsets), next_offset)


def show(page: Page, media: MediaStore) -> None:
    if not page.hits:
        st.warning("No image matches: clear the words, or choose another label.")
        return
    images = pictures.stored_pictures(media, page.hits)
    with st.container(key="browse"):
        for start in range(0, len(page.hits), COLUMNS):
            for column, hit, image in zip(st.columns(COLUMNS), page.hits[start:], images[start:]):
                with column:
                    st.image(
                        pictures.sized(image, pictures.BROWSE_SIDE),
                        caption=f"{plain(hit.label or '-')} · {plain(hit.path.rsplit('/', 1)[-1])}",
                    )
                    st.button(
                        "Search",
                        key=f"browse-{hit.id}",
                        on_click=query.pick_point,
                        args=(hit.id,),
                        width="stretch",
                        help=plain(hit.path),
                    )
    previous_col, where_col, next_col = st.columns([1, 2, 1])
    previous_col.button("← Previous", key="browse-previous", on_click=_previous, disabled=page.number == 1)
    where_col.caption(f"page {page.number}")
    next_col.button(
        "Next →", key="browse-next", on_click=_next, args=(page.next_offset,), disabled=page.next_offset is None
    )
