"""The page against a Qdrant server: the points live on the server, the models and pictures in
the data directory, and the page keeps one client across interactions.

Runs when QDRANT_URL is set and answers (e.g. `docker compose up -d qdrant` with
QDRANT_URL=http://localhost:6333); skipped otherwise. It copies the loaded sample's points
into a collection of its own and deletes it afterwards, so the server may hold real data.
"""

from __future__ import annotations

import os
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from ingest import store
from ingest.settings import Settings
from ingest.store import Point
from ingest.store import collections as cols
from ui.resources import access_for

from test_ui_apptest import APP, point_page_at, results


@pytest.mark.server
@pytest.mark.skipif(
    not os.environ.get("QDRANT_URL"), reason="needs a Qdrant server: set QDRANT_URL (docker compose up -d qdrant)"
)
def test_the_page_searches_a_qdrant_server_with_one_kept_client(monkeypatch, home_copy):
    local = Settings(home_copy)
    server = Settings(home_copy, os.environ["QDRANT_URL"], os.environ.get("QDRANT_API_KEY") or None)
    collection = f"ui-test-{uuid.uuid4().hex[:8]}"
    with store.open_store(local) as db:
        state = cols.state(db, "animals")
        points = [Point(p.id, p.vector, p.payload) for p in db.points(state.physical, vectors=True)]
    with store.open_store(server) as db:
        physical = cols.create(db, collection, state.model_id, len(points[0].vector))
        db.upsert(physical, points)
        db.set_alias(collection, physical)
    try:
        point_page_at(
            monkeypatch,
            home_copy,
            CBIR_COLLECTION=collection,
            QDRANT_URL=server.qdrant_url,
            **({"QDRANT_API_KEY": server.qdrant_api_key} if server.qdrant_api_key else {}),
        )
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.button(key="random").click().run()
        assert not at.exception and len(results(at)) == 10
        kept = access_for(Settings.from_env())._server
        at.slider(key="k").set_value(3).run()
        assert len(results(at)) == 3
        assert access_for(Settings.from_env())._server is kept  # not reconnected per interaction
    finally:
        with store.open_store(server) as db:
            db.delete_collection(physical)
