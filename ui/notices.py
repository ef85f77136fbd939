"""What the page says when it has nothing to search: no collection yet, the embedded store
held by an ingest, or a Qdrant server that does not answer. Each state checks again by
itself (a timed fragment reruns the page), so the page recovers without a reload."""

from __future__ import annotations

import time

import streamlit as st

from ingest.settings import Settings
from ui.sidebar import COLLECTION
from ui.training_view import loading, training_panel
from ui.untrusted import plain

EMPTY_RECHECK_S = 5.0
BUSY_RECHECK_S = 2.0
PROBLEM_RECHECK_S = 5.0
_SHOWN_AT = "_notice_shown_at"


def _recheck_every(seconds: float) -> None:
    """Reruns the whole page every `seconds` while this notice is what it shows. The fragment
    also runs inside the page run that draws the notice: that run must not rerun at once."""
    st.session_state[_SHOWN_AT] = time.monotonic()

    @st.fragment(run_every=seconds)
    def recheck() -> None:
        if time.monotonic() - st.session_state.get(_SHOWN_AT, 0.0) >= seconds * 0.8:
            st.rerun()

    recheck()


def empty(settings: Settings, collection: str, other_collections: list[str]) -> None:
    st.title("Animal image search")
    if loading(settings, collection):  # `make run`'s first load: the page opens while it trains
        st.info(
            f"A load is filling collection {collection!r}: its progress is below, and this page offers "
            "search by itself as soon as its photos are in."
        )
    else:
        st.warning(f"There is no collection {collection!r} in the {settings.describe_store()} yet.")
        st.markdown("Fill it from a zip of photos (one folder per label), then this page shows it by itself:")
        command = f"ingest load PATH.zip{'' if collection == 'animals' else f' --collection {collection}'}"
        st.code(command, language="bash")
        st.markdown("or, from the project folder, ingest and open the page in one go:")
        st.code("make run ZIP=PATH.zip", language="bash")
    training_panel(settings, None, controls=False, refresh=False)
    if other_collections:
        st.selectbox(
            "Or open a collection that is here",
            [collection, *other_collections],
            key=COLLECTION,
            format_func=lambda name: f"{name} (empty)" if name == collection else name,
        )
    _recheck_every(EMPTY_RECHECK_S)


def store_busy(settings: Settings) -> None:
    st.title("Animal image search")
    st.info(
        f"An `ingest load` is writing to the embedded store at `{settings.store_dir}` (only one process "
        f"at a time may open it). The page tries again every {BUSY_RECHECK_S:.0f} s and comes back by "
        "itself when the ingest is done, with the new images."
    )
    training_panel(settings, None, controls=False, refresh=False)
    _recheck_every(BUSY_RECHECK_S)


def problem(settings: Settings, message: str, collection: str = "", other_collections: list[str] | None = None) -> None:
    st.title("Animal image search")
    st.error(plain(message))
    where = settings.qdrant_url or settings.describe_store()
    st.caption(f"Store: {where}. The page tries again every {PROBLEM_RECHECK_S:.0f} s.")
    if other_collections:  # a damaged collection: the others still open
        st.selectbox("Open another collection", [collection, *other_collections], key=COLLECTION)
    _recheck_every(PROBLEM_RECHECK_S)
