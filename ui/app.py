"""The page: search the collection by image. `streamlit run ui/app.py` (or `make ui`).

Each interaction reruns this script. It takes the store for the Qdrant part only (state,
labels, the search or the browsed page, the model facts), then draws outside it: reading
pictures from the media store and enlarging them needs no store. The footer says what the
interaction cost.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from ingest.errors import UserError, filesystem_problem
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import StoreBusy
from ingest.store import collections as cols
from ingest.store.media import MediaStore
from ui import browse_view, duplicates_view, model_view, notices, query, resources, search_view, sidebar
from ui.training_view import training_panel
from ui.untrusted import plain

st.set_page_config(page_title="Animal image search", layout="wide")
# Streamlit leaves 6rem above the page for a header this page does not have: on a laptop
# screen that is a row of results.
st.html('<style>[data-testid="stMainBlockContainer"] { padding-top: 3.25rem; }</style>')
started = time.perf_counter()
settings = Settings.from_env()
access = resources.access_for(settings)
media = MediaStore(settings.media_dir)
wanted = st.session_state.get(sidebar.COLLECTION) or os.environ.get("CBIR_COLLECTION") or DEFAULT_COLLECTION
names: list[str] = []  # known once the store answers: a damaged collection leaves the others to open
upload_problem = query.decode_upload()  # before the store's lock: a picture's decoding waits for no one

try:
    with access.session() as store:
        names = sorted(store.aliases()) if store is not None else []
        state = cols.state(store, wanted) if store is not None and wanted in names else None
        index = resources.open_index(store, settings, state) if store is not None and state is not None else None
        points = index.count() if index is not None else 0
        if store is None or state is None or index is None or points == 0:
            notices.empty(settings, wanted, [n for n in names if n != wanted])
            st.stop()
        opened_ms = access.last_open_ms
        labels = resources.label_counts(index, settings.describe_store(), state.physical, points)
        library = resources.library_facts(index, settings.describe_store(), state.physical, points)
        controls = sidebar.controls(state.name, points, labels, names, library)
        search_tab, browse_tab, duplicates_tab, model_tab = st.tabs(
            [query.SEARCH_TAB, query.BROWSE_TAB, query.DUPLICATES_TAB, query.MODEL_TAB],
            key=query.VIEW,
            on_change="rerun",
        )
        outcome = page = facts = duplicates = None
        rejected = upload_problem
        if search_tab.open:
            wanted_query = query.current_query(index, controls.where)
            try:
                outcome = query.run(index, wanted_query, controls) if wanted_query else None
            except UserError as exc:  # an unusable upload, or a picked image gone since
                rejected = str(exc)
                st.session_state[query.QUERY] = None
        elif browse_tab.open:
            with browse_tab:
                page = browse_view.load(index, labels, controls.where, dated=library["first_taken"] is not None)
        elif duplicates_tab.open:
            with duplicates_tab:
                duplicates = duplicates_view.load(store, state, points, controls.where)
        elif model_tab.open:
            facts = resources.collection_facts(
                store, settings, state.name, settings.describe_store(), state.physical, points, repr(state.metadata)
            )
    store_ms = (time.perf_counter() - started) * 1000
except StoreBusy:
    notices.store_busy(settings)
    st.stop()
except UserError as exc:  # a mistake, or a damaged file (named, with the command that recovers)
    notices.problem(settings, str(exc), wanted, [n for n in names if n != wanted])
    st.stop()
except OSError as exc:  # the machine's fault: a read-only or foreign-owned data directory, a full disk
    notices.problem(settings, filesystem_problem(exc))
    st.stop()

# Drawing: no store needed from here on.
assert state is not None  # the store's part stopped the page without one
draw_started = time.perf_counter()
if search_tab.open:
    with search_tab:
        if rejected:
            st.error(plain(rejected))
        if outcome is None:
            search_view.prompt()
        else:
            search_view.show(outcome, controls, index.embedder, media)
elif browse_tab.open:
    with browse_tab:
        assert page is not None  # loaded above, the tab being open
        browse_view.show(page, media)
elif duplicates_tab.open:
    with duplicates_tab:
        assert duplicates is not None  # loaded above, the tab being open
        duplicates_view.show(duplicates, media)
elif model_tab.open:
    with model_tab:
        training_panel(settings, state.name, controls=True)
        assert facts is not None  # read above, the tab being open
        model_view.show(facts)

with st.sidebar:
    st.divider()
    search_ms = f" · search {outcome.search_ms:.0f} ms" if outcome else ""
    st.caption(
        f"**{state.name}**: {points:,} images in the {settings.describe_store()}, model `{state.model_id}`.  \n"
        f"This interaction: store {f'opened in {opened_ms:.0f} ms' if opened_ms else 'kept open'}{search_ms} · "
        f"Qdrant part {store_ms:.0f} ms · drawing {(time.perf_counter() - draw_started) * 1000:.0f} ms"
    )
