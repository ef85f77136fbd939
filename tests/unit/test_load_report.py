"""`ingest load`'s report speaks the names of its JSON: each field of `LoadReport` is named as its key
in `ingest load --json`, from the pipeline to the JSON and the summary the command prints. No load
runs here: a report is made by hand and given to the command (the CLI tests load for real)."""

from __future__ import annotations

import json
from dataclasses import fields

from typer.testing import CliRunner

from ingest.cli import app
from ingest.load import pipeline
from ingest.load.pipeline import LoadReport
from ingest.load.reader import Skipped
from ingest.load.sync import Applied


def a_report() -> LoadReport:
    return LoadReport(
        collection="animals",
        physical_collection="animals-8d9804adef403f78",
        model_id="8d9804adef403f78",
        trained=False,
        indexed=12,
        already_present=300,
        re_embedded=7,
        copies=[("old/cat.jpg", "cat/1.jpg")],
        skipped=[Skipped("notes.txt", "not an image")],
        seconds=12.3456,
        train_seconds=0.0,
        index_seconds=1.25,
        sync=Applied(added=12, moved=3, removed=2, dropped_copies=1),
        exif_filled=5,
    )


def test_each_field_is_named_as_its_json_key():
    assert {f.name for f in fields(LoadReport)} == set(a_report().to_json())


def test_the_json_is_the_reports_fields():
    assert a_report().to_json() == {
        "collection": "animals",
        "physical_collection": "animals-8d9804adef403f78",
        "model_id": "8d9804adef403f78",
        "trained": False,
        "indexed": 12,
        "already_present": 300,
        "exif_filled": 5,
        "re_embedded": 7,
        "copies": [{"path": "old/cat.jpg", "copy_of": "cat/1.jpg"}],
        "skipped": [{"path": "notes.txt", "reason": "not an image"}],
        "seconds": 12.346,
        "train_seconds": 0.0,
        "index_seconds": 1.25,
        "sync": {
            "added": 12,
            "moved": 3,
            "removed": 2,
            "copies_dropped": 1,
            "media_deleted": 0,
            "media_kept_because": None,
        },
    }


def test_the_command_prints_and_writes_the_report_it_was_given(tmp_path, monkeypatch):
    monkeypatch.setenv("CBIR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QDRANT_URL", raising=False)
    monkeypatch.setattr(pipeline, "load", lambda *args, **kwargs: a_report())
    album = tmp_path / "album"
    album.mkdir()
    runner = CliRunner()

    printed = runner.invoke(app, ["load", str(album)])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert "  indexed          12" in lines
    assert "  already present  300 (1 new copies recorded)" in lines
    assert "  dates, cameras   5 photos loaded before given theirs from EXIF (not re-embedded)" in lines
    assert "  re-embedded      7 (from the previous model's collection)" in lines
    assert "  sync             added 12, moved 3, removed 2, 1 copies forgotten (files gone from album)" in lines

    written = runner.invoke(app, ["load", str(album), "--json"])
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout) == a_report().to_json()
