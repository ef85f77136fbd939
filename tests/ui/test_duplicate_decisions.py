"""Duplicates a user decides about once: a burst of five frames told from a JPEG re-encode of one
of them (by their EXIF times), "keep this one" and "not duplicates" from the command line and on
the page, kept in the data directory across a restart of the page, and the files to delete taken
from decided groups only. Real files with EXIF written by Pillow, the real CLI, the real page
(AppTest), the real store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from streamlit.testing.v1 import AppTest

from ingest.query.decisions import FILE_NAME, FORMAT

from conftest import copy_home, run_cli
from exif_library import exif_block, saved
from test_ui_apptest import APP, point_page_at

FRAMES = [f"burst/IMG_{n:04d}.jpg" for n in range(5)]
SHARP = 2  # the one frame in focus; the others shake a little
COPY = "shared/IMG_0002-small.jpg"  # frame 2 re-encoded by a messaging app, EXIF kept
ALONE = "other/lake.jpg"


def scene(shift: int) -> Image.Image:
    """A bird crossing a plain sky, `shift` pixels along: a burst's frames differ that little."""
    sky = np.zeros((48, 64, 3), np.uint8)
    sky[...] = np.linspace(90, 200, 64, dtype=np.uint8)[None, :, None] * np.array([0.6, 0.8, 1.0])[None, None]
    sky[30:, :, :] = (60, 110, 40)  # the ground
    bird = slice(14, 24), slice(18 + shift, 30 + shift)
    sky[bird] = (30, 30, 35)
    return Image.fromarray(sky)


def burst_files() -> dict[str, bytes]:
    files = {}
    for n, path in enumerate(FRAMES):
        exif = exif_block("2024:06:01 14:30:05", "Canon", "Canon EOS R5", more={0x9291: f"{n * 200:03d}"})
        frame = scene(n) if n == SHARP else scene(n).filter(ImageFilter.GaussianBlur(1.2))
        files[path] = saved(frame, "JPEG", exif, quality=95)
        if n == SHARP:
            files[COPY] = saved(scene(n), "JPEG", exif, quality=70)
    # A photo of the same camera, a minute later, of something else.
    other = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    files[ALONE] = saved(Image.fromarray(other), "JPEG", exif_block("2024:06:01 14:31:05", "Canon", "Canon EOS R5"))
    return files


@pytest.fixture(scope="module")
def burst_home(loaded_home, tmp_path_factory) -> Path:
    """The loaded sample with the burst, its copy and another photo loaded as the folder `library`."""
    folder = tmp_path_factory.mktemp("burst") / "library"
    for path, data in burst_files().items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    home = folder.parent / "cbir-data"
    copy_home(loaded_home, home)
    loaded = run_cli(home, "load", str(folder), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["indexed"] == len(FRAMES) + 2
    return home


@pytest.fixture
def home(burst_home, tmp_path) -> Path:
    """A private copy: decisions change it."""
    target = tmp_path / "cbir-data"
    copy_home(burst_home, target)
    return target


def duplicates(home: Path, *args: str) -> dict:
    result = run_cli(home, "duplicates", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def paths(group: dict) -> list[str]:
    return [m["path"] for m in group["members"]]


def library_groups(result: dict) -> list[dict]:
    return [g for g in result["groups"] if all(Path(m["source"]).name == "library" for m in g["members"])]


def test_a_burst_of_five_frames_is_a_burst_and_a_re_encode_of_one_frame_a_copy(burst_home):
    groups = library_groups(duplicates(burst_home))
    (burst,) = [g for g in groups if g["kind"] == "burst"]
    assert paths(burst) == FRAMES  # in the order taken, the frame itself rather than its smaller copy
    assert burst["camera"] == "Canon EOS R5"
    assert burst["taken"] == ["2024-06-01T14:30:05", "2024-06-01T14:30:05.800"]
    sharpness = [m["sharpness"] for m in burst["members"]]
    assert max(range(5), key=lambda n: sharpness[n]) == SHARP and burst["keep"] == SHARP  # keep the best
    (copies,) = [g for g in groups if g["kind"] == "copies"]
    assert sorted(paths(copies)) == sorted([FRAMES[SHARP], COPY])  # the same moment: one photo, twice
    assert copies["members"][copies["keep"]]["path"] == FRAMES[SHARP]  # the larger file
    assert not any(ALONE in paths(g) for g in groups)

    table = run_cli(burst_home, "duplicates")
    assert "a burst of 5 photos, Canon EOS R5, 2024-06-01 14:30:05 to 2024-06-01 14:30:05.800" in table.stdout


def test_decisions_on_the_command_line_hide_their_groups_and_list_only_their_files(home, burst_home):
    library = str(burst_home.parent / "library")  # a file is named by its source's full path
    said = run_cli(home, "duplicates", "--keep", f"{library}:{FRAMES[1]}")
    assert said.returncode == 0, said.stderr
    assert f"recorded: keep {library}:{FRAMES[1]}, the other 4 files of its group may be deleted" in said.stderr
    result = duplicates(home)
    assert not [g for g in library_groups(result) if g["kind"] == "burst"]  # decided: hidden
    assert result["reviewed"] == 1
    assert sorted(row["path"] for row in result["to_delete"]) == sorted(set(FRAMES) - {FRAMES[1]})
    listed = run_cli(home, "duplicates", "--to-delete").stdout.split()
    assert sorted(listed) == sorted(f"{library}:{p}" for p in set(FRAMES) - {FRAMES[1]})

    assert run_cli(home, "duplicates", "--undo", f"{library}:{FRAMES[0]}").returncode == 0
    result = duplicates(home)
    assert [g["kind"] for g in library_groups(result)] == ["burst", "copies"] and result["to_delete"] == []

    # The five frames are five photos worth keeping: the burst goes, deleting nothing; its frame
    # and that frame's copy are still a group to decide.
    assert run_cli(home, "duplicates", "--not-duplicates", f"{library}:{FRAMES[0]}").returncode == 0
    result = duplicates(home)
    assert [g["kind"] for g in library_groups(result)] == ["copies"] and result["to_delete"] == []
    assert run_cli(home, "duplicates", "--keep", f"{library}:{FRAMES[SHARP]}").returncode == 0
    result = duplicates(home)
    assert library_groups(result) == [] and result["reviewed"] == 2
    assert [row["path"] for row in result["to_delete"]] == [COPY]
    shown = duplicates(home, "--reviewed")
    statuses = {g["status"]: paths(g) for g in library_groups(shown)}
    assert sorted(statuses["not duplicates"]) == FRAMES and statuses["kept"] == [FRAMES[SHARP], COPY]

    decisions = json.loads((home / FILE_NAME).read_text())
    assert decisions["format"] == FORMAT and set(decisions["collections"]) == {"animals"}
    # Loading the folder again changes nothing that was decided.
    assert run_cli(home, "load", str(burst_home.parent / "library")).returncode == 0
    assert library_groups(duplicates(home)) == [] and len(duplicates(home)["to_delete"]) == 1

    wrong = run_cli(home, "duplicates", "--keep", f"{library}:nowhere.jpg")
    assert wrong.returncode == 2 and "is in no group of duplicates" in wrong.stderr


def duplicates_page(monkeypatch, home: Path) -> AppTest:
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["view"] = "Duplicates"
    at.run()
    assert not at.exception, at.exception
    return at


def shown_paths(at: AppTest) -> set[str]:
    """The files whose pictures the tab shows (their captions name them `<folder>/library:path`)."""
    return {c.value.split("/library:")[1].rstrip("`") for c in at.caption if "/library:" in c.value}


def test_not_duplicates_on_the_page_survives_a_restart_of_the_page(monkeypatch, home):
    page = duplicates_page(monkeypatch, home)
    assert {*FRAMES, COPY} <= shown_paths(page)
    (burst,) = [g for g in library_groups(duplicates(home)) if g["kind"] == "burst"]
    page.button(key=f"dup-apart-{_key(burst)}").click().run()  # five photos worth keeping
    assert not page.exception, page.exception
    others = set(FRAMES) - {FRAMES[SHARP]}
    assert not others & shown_paths(page) and {FRAMES[SHARP], COPY} <= shown_paths(page)  # still a copy

    restarted = duplicates_page(monkeypatch, home)  # a new session: nothing of the old one is left
    assert not others & shown_paths(restarted) and {FRAMES[SHARP], COPY} <= shown_paths(restarted)
    assert "1 decided groups hidden" in next(m.value for m in restarted.markdown if "groups**" in m.value)
    restarted.toggle(key="dup_reviewed").set_value(True).run()
    assert set(FRAMES) <= shown_paths(restarted)
    assert any("decided: not duplicates" in m.value for m in restarted.markdown)
    restarted.button(key=f"dup-undo-{_key(burst)}").click().run()  # review it again
    assert any(m.value.startswith("**Group 1** · burst of 5 photos") for m in restarted.markdown)


def _key(group: dict) -> str:
    """How the page keys a group: by its first file."""
    first = group["members"][0]
    return hashlib.sha1(f"{first['source']}:{first['path']}".encode()).hexdigest()[:12]
