"""A data directory that meets damage: each fault is made for real on a copy of a loaded data
directory (a truncated vector file, a manifest that is not JSON, a truncated checkpoint, a
garbled media copy, a planted payload), then told by the real CLI in one line, found by
`ingest check`, and undone by `ingest repair` or `ingest restore`, with the same search results
as before the damage."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from PIL import Image
from test_faults import many_photos, one_line_error

from ingest.settings import Settings
from ingest.store import Point, space
from ingest.store import collections as cols
from ingest.store.media import decode_picture

from conftest import ROOT, copy_home, run_cli, start_cli, store_at
from test_ui_apptest import as_read

QUERIES = 20


@pytest.fixture
def query_file(mini_images, tmp_path) -> str:
    """A photo of the sample as a file, for `ingest search`."""
    name, data = sorted(mini_images.items())[7]
    path = tmp_path / Path(name).name
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def query_images(mini_images) -> list[Image.Image]:
    """Twenty photos of the sample, one in every fifteen, decoded as a query is."""
    return [decode_picture(data).image for _, data in sorted(mini_images.items())[::15][:QUERIES]]


def top10(home: Path, images: list[Image.Image], collection: str = "animals") -> list[list[tuple[str, float]]]:
    """Each query's ten nearest (id, score), through the search the CLI and the page share."""
    from ingest.query.search import Index

    with store_at(home) as store:
        index = Index.open(store, Settings(home), collection)
        return [[(h.id, round(h.score, 5)) for h in index.by_image(image, 10)] for image in images]


def physical_folder(home: Path) -> Path:
    (folder,) = (home / "qdrant-edge" / "collections").iterdir()
    return folder


def checked(home: Path, *args: str) -> dict:
    result = run_cli(home, "check", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["whole"] == (result.returncode == 0)
    return report


def truncate_vectors(home: Path) -> tuple[str, ...]:
    (chunk,) = physical_folder(home).glob("segments/*/vector_storage/vectors/chunk_0.mmap")
    os.truncate(chunk, 1000)
    return (str(physical_folder(home)), "is damaged", "ingest repair")


def garble_manifest(home: Path) -> tuple[str, ...]:
    path = home / "qdrant-edge" / "manifest.json"
    path.write_bytes(path.read_bytes()[:40])  # a copy cut short
    return (str(path), "not valid JSON", "ingest repair")


def delete_manifest(home: Path) -> tuple[str, ...]:
    path = home / "qdrant-edge" / "manifest.json"
    path.unlink()  # never an empty store: a load would then start the collection over
    return (str(path), "missing", "ingest repair")


@pytest.mark.parametrize("damage", [truncate_vectors, garble_manifest, delete_manifest])
def test_a_damaged_store_is_one_line_then_check_finds_it_and_repair_restores_the_same_results(
    home_copy, query_images, query_file, damage
):
    before = top10(home_copy, query_images)
    words = damage(home_copy)

    one_line_error(run_cli(home_copy, "search", query_file), *words)
    report = checked(home_copy)
    assert not report["whole"] and {p["kind"] for p in report["problems"]} <= {"manifest", "collection"}
    assert all(p["fix"] and "ingest repair" in p["fix"] for p in report["problems"])

    repaired = run_cli(home_copy, "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr + repaired.stdout
    assert json.loads(repaired.stdout)["not_recovered"] == []
    assert top10(home_copy, query_images) == before  # the same ten photos, the same scores
    assert checked(home_copy)["whole"]


def test_a_truncated_checkpoint_is_one_line_and_comes_back_from_a_backup(home_copy, query_images, query_file, tmp_path):
    before = top10(home_copy, query_images)
    assert run_cli(home_copy, "backup", str(tmp_path / "backup")).returncode == 0
    (checkpoint,) = (home_copy / "models").glob("*/model.pt")
    os.truncate(checkpoint, checkpoint.stat().st_size // 2)

    line = one_line_error(run_cli(home_copy, "search", query_file), str(checkpoint))
    assert "is damaged (not a readable checkpoint" in line and "ingest restore" in line
    report = checked(home_copy)
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [("checkpoint", str(checkpoint))]
    repaired = run_cli(home_copy, "repair")
    assert repaired.returncode == 1 and str(checkpoint) in repaired.stdout  # said, not hidden

    restored = run_cli(home_copy, "restore", str(tmp_path / "backup"), "--replace")
    assert restored.returncode == 0, restored.stderr
    assert top10(home_copy, query_images) == before
    aside = list(home_copy.parent.glob("cbir-data.before-restore-*"))
    assert len(aside) == 1 and (aside[0] / "models").is_dir()  # nothing deleted


def test_a_garbled_media_copy_shows_a_placeholder_and_loading_the_source_again_brings_it_back(
    home_copy, mini_zip, tmp_path
):
    with store_at(home_copy) as store:
        hit = next(store.points(cols.state(store, "animals").physical, payload=["sha256"]))
    copy = home_copy / "media" / hit.payload["sha256"][:2] / hit.payload["sha256"]
    copy.write_bytes(copy.read_bytes()[:200])  # cut short by a sync tool

    montage = tmp_path / "grid.png"
    found = run_cli(home_copy, "search", hit.id, "-k", "3", "--out", str(montage))
    assert found.returncode == 0, found.stderr  # the search still answers, its picture left blank
    assert Image.open(montage).size[0] > 0
    report = checked(home_copy, "--full")
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [("media-damaged", str(copy))]
    repaired = run_cli(home_copy, "repair")
    assert repaired.returncode == 1 and "cifar10-animals-mini.zip again" in repaired.stdout  # its full path
    assert not copy.exists() and list((home_copy / "damaged").glob(f"*/media/{copy.name}"))
    assert run_cli(home_copy, "load", str(mini_zip)).returncode == 0
    assert checked(home_copy, "--full")["whole"]


def test_a_damaged_collection_leaves_the_others_working(home_copy, mini_zip, query_file):
    model_id = next(p.name for p in (home_copy / "models").iterdir() if (p / "model.pt").exists())
    other = run_cli(home_copy, "load", str(mini_zip), "--collection", "pets", "--model", model_id)
    assert other.returncode == 0, other.stderr
    with store_at(home_copy) as store:
        animals = cols.state(store, "animals").physical
    (chunk,) = (home_copy / "qdrant-edge" / "collections" / animals).glob("segments/*/vector_storage/vectors/*.mmap")
    os.truncate(chunk, 1000)

    one_line_error(run_cli(home_copy, "search", query_file), animals, "ingest repair")
    pets = run_cli(home_copy, "search", query_file, "--collection", "pets", "--json")
    assert pets.returncode == 0 and len(json.loads(pets.stdout)) == 10
    problems = checked(home_copy)["problems"]
    assert [p["path"] for p in problems] == [str(home_copy / "qdrant-edge" / "collections" / animals)]


def test_a_planted_path_in_a_payload_is_never_read_or_deleted(loaded_home, tmp_path, monkeypatch):
    """A point written by someone else (a shared server, a damaged store) with sha256 =
    `../../outside`: MediaStore would have joined it to the media folder, two levels up from it.
    There stands a FIFO: reading it would hang, deleting it would remove it."""
    home = tmp_path / "deep" / "cbir-data"
    copy_home(loaded_home, home)
    outside = home / "media" / ".." / ".." / ".." / "outside"  # where root / sha[:2] / sha would point
    os.mkfifo(outside)
    with store_at(home) as store:
        physical = cols.state(store, "animals").physical
        model = next(store.points(physical, vectors=True))
        planted = {**model.payload, "sha256": "../../outside", "path": "planted/intruder.jpg", "source": "elsewhere"}
        store.upsert(physical, [Point("00000000-0000-4000-8000-000000000001", model.vector, planted)])

    found = run_cli(home, "search", model.id, "-k", "3", "--out", str(tmp_path / "grid.png"), timeout=120)
    assert found.returncode == 0 and "planted/intruder.jpg" in found.stdout  # found, its picture left blank
    report = checked(home)
    (problem,) = [p for p in report["problems"] if p["kind"] == "payload"]
    assert "'../../outside'" in problem["what"] and "not a SHA-256" in problem["what"]
    _page_shows_it_without_reading(home, monkeypatch, f"{planted['label']} · intruder.jpg")
    removed = run_cli(home, "remove", "--path", "planted/*", "--yes", "--json", timeout=120)
    assert removed.returncode == 0 and json.loads(removed.stdout)["removed"] == 1
    assert stat.S_ISFIFO(os.stat(outside).st_mode)  # still there, never opened


def _page_shows_it_without_reading(home: Path, monkeypatch, caption: str) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CBIR_HOME", str(home))
    for name in ("QDRANT_URL", "CBIR_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=60).run()
    at.session_state["view"] = "Browse"
    at.run()
    at.text_input(key="browse_words").set_value("intruder").run()
    assert not at.exception
    assert [as_read(c) for image in at.image for c in image.captions] == [caption]  # a placeholder, drawn
    # As the query: its picture is asked of the media store (refused: a grey square), its vector found.
    next(b for b in at.button if b.key and b.key.startswith("browse-") and b.label == "Search").click().run()
    assert not at.exception
    assert any(c.startswith("#1 · 1.000 · ") for image in at.image for c in image.captions)  # its twin


def test_check_says_whole_on_a_loaded_data_directory_and_lists_no_problem(loaded_home, tmp_path):
    home = tmp_path / "cbir-data"
    copy_home(loaded_home, home)
    result = run_cli(home, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("the data directory is whole")
    report = checked(home, "--full")
    assert report["media_verified"] == report["media_files"] == 300 and report["collections"]


def test_a_backup_taken_while_a_load_runs_is_whole_and_holds_a_count_the_load_reached(home_copy, mini_images, tmp_path):
    source = tmp_path / "more.zip"
    added = many_photos(source, mini_images, 8)
    model_id = next(p.name for p in (home_copy / "models").iterdir() if (p / "model.pt").exists())
    load = start_cli(home_copy, "load", str(source), "--model", model_id)
    media, writing = home_copy / "media", False
    deadline = time.monotonic() + 600  # a busy host starts a process slowly
    while load.poll() is None and time.monotonic() < deadline and not writing:
        writing = sum(1 for _ in media.glob("*/*")) > 400  # copies before points: it holds the store
        time.sleep(0.1)
    overlapped = writing and load.poll() is None
    backup = run_cli(home_copy, "backup", str(tmp_path / "backup"), "--json", CBIR_WAIT="600")
    _, err = load.communicate(timeout=600)
    assert load.returncode == 0, err
    assert backup.returncode == 0, backup.stderr
    assert overlapped, "the load ended before the backup began: nothing was tested"
    assert "waiting for the embedded store" in backup.stderr  # it waited for the load's writes

    restored_home = tmp_path / "restored"
    restored = run_cli(restored_home, "restore", str(tmp_path / "backup"), "--json")
    assert restored.returncode == 0, restored.stderr
    report = checked(restored_home, "--full")
    assert report["whole"], report["problems"]
    (count,) = report["collections"].values()
    assert count in (300, 300 + added)  # before the load or after it: never part of a batch


def test_backup_and_restore_refuse_what_would_lose_data(home_copy, loaded_home, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    one_line_error(run_cli(home_copy, "backup", str(occupied)), "is not empty")
    assert run_cli(home_copy, "backup", str(tmp_path / "b")).returncode == 0
    one_line_error(run_cli(home_copy, "restore", str(tmp_path / "b")), "already holds a data directory", "--replace")
    one_line_error(run_cli(tmp_path / "new", "restore", str(occupied)), "not a backup made by `ingest backup`")
    # Edge's files are sparse (those of a store Edge wrote, not of a plain copy like home_copy's):
    # a backup takes what the store takes, not their apparent size.
    assert run_cli(loaded_home, "backup", str(tmp_path / "sparse")).returncode == 0
    apparent = sum(p.stat().st_size for p in (tmp_path / "sparse" / "qdrant-edge").rglob("*") if p.is_file())
    allocated = space.allocated_bytes(tmp_path / "sparse" / "qdrant-edge")
    assert allocated < apparent / 4
    assert allocated <= space.allocated_bytes(loaded_home / "qdrant-edge")


def test_backup_of_a_server_that_does_not_answer_is_one_line(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        line = one_line_error(run_cli(tmp_path / "home", "backup", str(tmp_path / "b"), QDRANT_URL=url), url)
    assert "cannot reach Qdrant" in line and not (tmp_path / "b").exists()


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="needs a Qdrant server: set QDRANT_URL")
def test_a_server_backup_restores_its_collections_from_snapshots(home_copy, tmp_path):
    url = os.environ["QDRANT_URL"]
    assert run_cli(home_copy, "migrate", "--to", url).returncode == 0
    backup = run_cli(home_copy, "backup", str(tmp_path / "b"), "--json", QDRANT_URL=url)
    assert backup.returncode == 0, backup.stderr
    assert list((tmp_path / "b" / "snapshots").glob("*.snapshot"))
    restored = run_cli(home_copy, "restore", str(tmp_path / "b"), "--json", QDRANT_URL=url)
    assert restored.returncode == 0, restored.stderr
    assert set(json.loads(restored.stdout)["collections"].values()) == {300}


def test_repair_says_what_it_could_not_recover(home_copy):
    """A collection damaged beyond its catalog: no catalog (as an earlier version made it)."""
    folder = physical_folder(home_copy)
    shutil.rmtree(home_copy / "qdrant-edge" / "catalog")
    (chunk,) = folder.glob("segments/*/vector_storage/vectors/chunk_0.mmap")
    os.truncate(chunk, 1000)
    repaired = run_cli(home_copy, "repair")
    assert repaired.returncode == 1
    assert str(folder) in repaired.stdout and "no catalog to rebuild it from" in repaired.stdout
    assert folder.exists()  # left as it was


def test_a_collection_without_a_catalog_gets_one_from_repair(home_copy):
    """As an earlier version left it: the collection is whole, but could not be rebuilt."""
    shutil.rmtree(home_copy / "qdrant-edge" / "catalog")
    assert [p["kind"] for p in checked(home_copy)["problems"]] == ["catalog"]
    repaired = run_cli(home_copy, "repair", "--json")
    assert repaired.returncode == 0 and list(json.loads(repaired.stdout)["catalogs_written"].values()) == [300]
    assert checked(home_copy)["whole"]
