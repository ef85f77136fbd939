"""When, with what and where a photo was taken: EXIF written by Pillow (and pillow-heif for a
HEIC) into real files, loaded through the real CLI, read back from the real store; then the
searches narrowed by date and camera, and a collection loaded before EXIF was read, filled by a
reload without re-embedding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.exif import FACT_FIELDS
from ingest.store import collections as cols

from conftest import run_cli, store_at
from exif_library import LIBRARY
from test_ui_apptest import as_read


@pytest.fixture
def library(home_copy, tmp_path) -> tuple[Path, Path]:
    """The sample's data directory with LIBRARY loaded into its collection, by its model."""
    folder = tmp_path / "library"
    for path, (data, _) in LIBRARY.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    loaded = run_cli(home_copy, "load", str(folder), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["indexed"] == len(LIBRARY)
    return home_copy, folder


def stored_payloads(home: Path) -> dict[str, dict]:
    with store_at(home) as store:
        physical = cols.require(store, "animals").physical
        points = store.points(physical)
        return {r.payload["path"]: r.payload for r in points if Path(r.payload["source"]).name == "library"}


def test_a_load_stores_each_photos_date_camera_and_place_exactly(library):
    home, _ = library
    payloads = stored_payloads(home)
    for path, (_, expected) in LIBRARY.items():
        assert {k: v for k, v in payloads[path].items() if k in FACT_FIELDS} == expected, path
    # The sample's thumbnails have no EXIF: each says so, and none has a date made up.
    with store_at(home) as store:
        physical = cols.require(store, "animals").physical
        sample = [r.payload for r in store.points(physical) if Path(r.payload["source"]).name != "library"]
    assert len(sample) == 300 and all(p["taken_from"] == "none" and "taken_at" not in p for p in sample)


def search(home: Path, *args: str) -> list[str]:
    result = run_cli(home, "search", *args, "-k", "400", "--json")
    assert result.returncode == 0, result.stderr
    return sorted(hit["path"] for hit in json.loads(result.stdout))


def test_searches_narrowed_by_date_and_camera_return_exactly_the_photos_in_range(library):
    home, folder = library
    query = str(folder / "winter/scan.png")
    summer = search(home, query, "--taken-after", "2024-06-01", "--taken-before", "2024-09-01")
    assert summer == ["summer/paris.jpg", "summer/rio.heic"]
    assert search(home, query, "--taken-after", "2024-06-01T14:30:05.300") == ["autumn/canon.jpg", "summer/rio.heic"]
    assert search(home, query, "--taken-before", "2024-06") == []
    assert search(home, query, "--camera", "iphone") == ["summer/paris.jpg", "summer/rio.heic"]
    assert search(home, query, "--camera", "canon eos r5", "--taken-after", "2024") == ["autumn/canon.jpg"]
    assert search(home, query, "--near", "48.86,2.29,5") == ["summer/paris.jpg"]

    wrong = run_cli(home, "search", query, "--camera", "leica")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().startswith("error: --camera 'leica' matches no camera of this collection: give one of")
    swapped = run_cli(home, "search", query, "--taken-after", "2024-09-01", "--taken-before", "2024-06-01")
    assert swapped.returncode == 2 and "is not before --taken-before" in swapped.stderr
    assert "not a date" in run_cli(home, "search", query, "--taken-after", "last summer").stderr

    evaluated = run_cli(home, "evaluate", "-k", "1", "--taken-after", "2024-06-01", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["points"] == 3


def test_a_collection_loaded_before_exif_was_read_is_filled_by_a_reload_without_re_embedding(library):
    home, folder = library
    with store_at(home) as store:  # as an earlier version stored them: no facts at all
        physical = cols.require(store, "animals").physical
        before = {r.id: r for r in store.points(physical, vectors=True) if Path(r.payload["source"]).name == "library"}
        from ingest.store import Point

        bare = [
            Point(r.id, r.vector, {k: v for k, v in r.payload.items() if k not in FACT_FIELDS}) for r in before.values()
        ]
        store.upsert(physical, bare)
    assert all("taken_from" not in p for p in stored_payloads(home).values())

    reloaded = run_cli(home, "load", str(folder), "--json")
    assert reloaded.returncode == 0, reloaded.stderr
    report = json.loads(reloaded.stdout)
    assert (report["indexed"], report["already_present"], report["exif_filled"]) == (0, len(LIBRARY), len(LIBRARY))
    payloads = stored_payloads(home)
    for path, (_, expected) in LIBRARY.items():
        assert {k: v for k, v in payloads[path].items() if k in FACT_FIELDS} == expected, path
    with store_at(home) as store:
        after = {r.id: r for r in store.points(physical, vectors=True) if Path(r.payload["source"]).name == "library"}
    assert all(np.array_equal(after[i].vector, before[i].vector) for i in before)  # the same vectors
    assert all(after[i].payload["ingested_at"] == before[i].payload["ingested_at"] for i in before)
    again = json.loads(run_cli(home, "load", str(folder), "--json").stdout)
    assert again["exif_filled"] == 0  # filled once


def browsed(at) -> list[str]:
    """The captions of the Browse tab's pictures, in page order."""
    return [as_read(c) for image in at.image for c in image.captions]


def test_the_page_narrows_by_date_range_and_camera_and_browses_by_date_taken(monkeypatch, library):
    import datetime as dt

    from streamlit.testing.v1 import AppTest

    from test_ui_apptest import APP, point_page_at, results

    home, _ = library
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["view"] = "Browse"
    at.run()
    assert not at.exception, at.exception
    camera = at.sidebar.selectbox(key="camera")
    assert camera.options[:1] == ["(all cameras)"] and len(camera.options) == 5  # 4 cameras
    at.selectbox(key="browse_order").set_value("date taken, newest first").run()
    assert browsed(at) == [
        "2024-09-01 00:00 · canon.jpg",
        "2024-08-31 23:59 · rio.heic",
        "2024-06-01 14:30 · paris.jpg",
    ]
    assert any("302 photos whose files record no date" in c.value for c in at.caption)
    at.sidebar.selectbox(key="camera").set_value("Apple iPhone 13").run()
    assert browsed(at) == ["2024-06-01 14:30 · paris.jpg"]
    at.sidebar.selectbox(key="camera").set_value("(all cameras)").run()
    at.sidebar.date_input(key="taken").set_value((dt.date(2024, 8, 1), dt.date(2024, 9, 1))).run()
    assert browsed(at) == ["2024-09-01 00:00 · canon.jpg", "2024-08-31 23:59 · rio.heic"]  # both days included
    # The search honours the same range: a random pick and its results are photos of those days.
    at.button(key="random").click().run()
    at.session_state["view"] = "Search"
    at.run()
    assert not at.exception, at.exception
    found = results(at)  # one result besides the pick itself: the other photo of those days
    assert len(found) == 1 and found[0][2] in ("summer", "autumn")
    said = [as_read(c.value) for c in at.caption]
    assert any(c.startswith("only 1 photos are taken from 2024-08-01 to before 2024-09-02") for c in said)


def test_a_collection_made_before_dates_and_cameras_keeps_working_until_loaded_again(monkeypatch, library):
    import qdrant_edge as qe
    from streamlit.testing.v1 import AppTest

    from ingest.store import Point

    from test_ui_apptest import APP, point_page_at

    home, folder = library
    with store_at(home) as store:  # as an earlier version left it: no such fields, no such indexes
        physical = cols.require(store, "animals").physical
        points = list(store.points(physical, vectors=True))
        store.upsert(
            physical,
            [Point(r.id, r.vector, {k: v for k, v in r.payload.items() if k not in FACT_FIELDS}) for r in points],
        )
        for field in ("taken_at", "location", "camera"):
            store._shard(physical).update(qe.UpdateOperation.delete_field_index(field))
        assert sorted(store.missing_payload_indexes(physical)) == ["camera", "location", "taken_at"]
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["view"] = "Browse"
    at.run()
    assert not at.exception, at.exception
    assert not at.sidebar.date_input and len(browsed(at)) == 24  # no filters to offer, browsing as before
    query = str(folder / "winter/scan.png")
    assert len(search(home, query)) == 305 and search(home, query, "--taken-after", "2024") == []
    wrong = run_cli(home, "search", query, "--camera", "canon")
    assert wrong.returncode == 2 and "loaded before cameras were read: load its photos again" in wrong.stderr
    assert run_cli(home, "load", str(folder)).returncode == 0  # the library's facts and the indexes come back
    assert search(home, query, "--camera", "canon") == ["autumn/canon.jpg"]
