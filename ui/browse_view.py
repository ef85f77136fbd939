"""The Browse tab: the collection a page at a time, filtered by label and by words of the path
(and the sidebar's date range and camera; every filter runs inside Qdrant), in the store's order
or by the date the photos were taken; any image can become the query."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from ingest.query.search import Hit, Index, narrowed_by
from ingest.store import Where
from ingest.store.media import MediaStore
from ui import pictures, query
from ui.sidebar import ALL_LABELS
from ui.untrusted import plain

PAGE_SIZE = 24
COLUMNS = 8
OFFSETS = "browse_offsets"  # the offset of every page seen so far; the last one is shown


STORED, NEWEST, OLDEST = "as stored", "date taken, newest first", "date taken, oldest first"


@dataclass
class Page:
    hits: list[Hit]
    number: int  # 1 for the first page
    next_offset: object  # where the next page starts (an offset, or a DateCursor); None on the last page
    undated: int = 0  # photos left out of an order by date: their files record none
    by_date: bool = False


def _restart() -> None:
    st.session_state[OFFSETS] = [None]


def _next(offset: object) -> None:
    st.session_state[OFFSETS].append(offset)


def _previous() -> None:
    if len(st.session_state[OFFSETS]) > 1:
        st.session_state[OFFSETS].pop()


def load(index: Index, labels: dict[str, int], where: Where | None = None, dated: bool = False) -> Page:
    """The filter widgets, then the page they select (Qdrant work: one scroll). `where` holds the
    sidebar's date range and camera; `dated`: some photo has a date to sort by."""
    st.session_state.setdefault(OFFSETS, [None])
    label_col, words_col, *order_col = st.columns([1, 2, 1] if dated else [1, 2])
    label: str | None = label_col.selectbox(
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
    order = STORED
    if dated:
        order = order_col[0].selectbox("Order", [STORED, NEWEST, OLDEST], key="browse_order", on_change=_restart)
    offsets = st.session_state[OFFSETS]
    label = None if label == ALL_LABELS else label
    if order == STORED:
        hits, next_offset = index.browse(label, words, PAGE_SIZE, offsets[-1], where)
        return Page(hits, len(offsets), next_offset)
    within = replace(narrowed_by(where, label), path_words=words)
    hits, next_cursor = index.by_date_taken(PAGE_SIZE, offsets[-1], order == NEWEST, within)
    undated = index.store.count(index.physical, within) - index.store.count(
        index.physical, replace(within, taken_after=within.taken_after or "1000-01-01T00:00:00")
    )
    return Page(hits, len(offsets), next_cursor, undated, by_date=True)


def show(page: Page, media: MediaStore) -> None:
    if page.undated:
        st.caption(f"{page.undated:,} photos whose files record no date are not in this order.")
    if not page.hits:
        st.warning("No image matches: clear the words, choose another label, or widen the dates.")
        return
    images = pictures.stored_pictures(media, page.hits)
    with st.container(key="browse"):
        for start in range(0, len(page.hits), COLUMNS):
            for column, hit, image in zip(st.columns(COLUMNS), page.hits[start:], images[start:]):
                with column:
                    st.image(
                        pictures.sized(image, pictures.BROWSE_SIDE),
                        caption=f"{_when(hit) if page.by_date else plain(hit.label or '-')} · "
                        f"{plain(hit.path.rsplit('/', 1)[-1])}",
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


def _when(hit: Hit) -> str:
    """2024-06-01 14:30, as the camera's clock showed it."""
    return hit.payload.get("taken_at", "")[:16].replace("T", " ")
