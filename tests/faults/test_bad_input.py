"""Bad input never crashes the product and never loses data."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ingest.store.media import MediaStore

from conftest import run_cli, start_cli, store_at
from images_for_tests import UNSAFE_REASONS, bad_entries, good_images, write_zip


def assert_one_line_error(result, *words: str) -> None:
    """Exit 2 and one `error:` line that says it all; only `skipped ...` lines may precede it."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), result.stderr
    assert all(line.startswith("skipped ") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]


def test_a_zip_with_bad_entries_indexes_exactly_its_good_images(home_copy, tmp_path):
    good, bad = good_images(), bad_entries()
    archive = tmp_path / "mixed.zip"
    write_zip(archive, {**good, **{name: data for name, (data, _) in bad.items()}}, unsafe=True)

    result = run_cli(home_copy, "load", str(archive), "--json")

    assert result.returncode == 0, result.stderr  # good images indexed: success despite skips
    report = json.loads(result.stdout)
    assert report["indexed"] == len(good)
    assert len(report["skipped"]) == len(bad) + len(UNSAFE_REASONS)
    skipped = {
        line.split(": ", 1)[0].removeprefix("skipped "): line.split(": ", 1)[1]
        for line in result.stderr.splitlines()
        if line.startswith("skipped ")
    }
    expected = {name: reason for name, (_, reason) in bad.items()} | UNSAFE_REASONS
    assert set(skipped) == set(expected)
    for name, words in expected.items():
        assert words in skipped[name], (name, skipped[name])
    assert "Traceback" not in result.stderr
    # Nothing escaped the data directory.
    assert not Path("/tmp/cbir-escape-absolute.png").exists()
    assert not (tmp_path.parent / "cbir-escape-dotdot.png").exists()

    facts = json.loads(run_cli(home_copy, "info", "--json").stdout)
    with store_at(home_copy) as store:
        points = list(store.points(facts["physical_collection"]))
    by_path = {p.payload["path"]: p.payload for p in points if p.payload["source"] == str(archive.resolve())}
    assert set(by_path) == set(good)
    assert (by_path["modes/rotated.jpg"]["width"], by_path["modes/rotated.jpg"]["height"]) == (20, 40)
    assert by_path["modes/png-named.jpg"]["format"] == "PNG"
    heic = by_path["modes/phone.heic"]  # an iPhone's format, turned as its EXIF says
    assert (heic["format"], heic["width"], heic["height"]) == ("HEIF", 20, 40)
    assert by_path["modes/photo.avif"]["format"] == "AVIF"
    assert by_path["modes/portrait.jpg"]["format"] == "MPO"  # a JPEG with a depth map after it
    # The page shows the stored copy in a browser, which cannot show a HEIC: a JPEG is kept.
    assert Image.open(MediaStore(home_copy / "media").path_for(heic["sha256"])).format == "JPEG"
    assert by_path["top-level.png"]["label"] is None
    assert facts["points"] == 300 + len(good)  # what was stored before is intact


@pytest.mark.parametrize(
    "case, words",
    [
        ("missing", ("does not exist",)),
        ("not_a_zip", ("is not a zip archive",)),
        ("empty_zip", ("empty zip",)),
        ("no_images", ("no usable images", "not an image")),
    ],
)
def test_user_errors_say_one_line_exit_2_and_write_nothing(tmp_path, case, words):
    path = tmp_path / f"{case}.zip"
    if case == "not_a_zip":
        path.write_text("hello")
    elif case == "empty_zip":
        zipfile.ZipFile(path, "w").close()
    elif case == "no_images":
        write_zip(path, {"a.txt": b"text", "b/c.csv": b"1,2,3"})
    home = tmp_path / "home"

    result = run_cli(home, "load", str(path))

    assert_one_line_error(result, *words)
    assert not home.exists(), "a failed load must not write anything"


def test_a_zip_with_no_images_leaves_an_existing_collection_intact(home_copy, tmp_path):
    path = tmp_path / "texts.zip"
    write_zip(path, {"a.txt": b"text"})
    assert_one_line_error(run_cli(home_copy, "load", str(path)), "no usable images")
    assert json.loads(run_cli(home_copy, "info", "--json").stdout)["points"] == 300


def test_too_few_images_to_train_is_a_clear_error(tmp_path):
    path = tmp_path / "few.zip"
    write_zip(path, dict(list(good_images().items())[:3]))
    assert_one_line_error(run_cli(tmp_path / "home", "load", str(path)), "at least 16")


def test_search_and_info_errors(loaded_home, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    assert_one_line_error(run_cli(loaded_home, "search", str(text)), "not an image")
    assert_one_line_error(run_cli(loaded_home, "search", str(tmp_path / "nope.jpg")), "is not a file")
    assert_one_line_error(
        run_cli(loaded_home, "info", "--collection", "zebras"), "no collection 'zebras'", "ingest load"
    )
    assert_one_line_error(
        run_cli(loaded_home, "load", "x.zip", "--image-size", "30"), "must be one of 32, 48, 64, 96, 128"
    )


def test_the_help_of_image_size_lists_the_sides_a_load_accepts(tmp_path):
    from encoder.recipe import SIDES

    done = run_cli(tmp_path / "home", "load", "--help")  # 200 columns: the help on one line
    assert done.returncode == 0
    assert f"({', '.join(map(str, SIDES[:-1]))} or {SIDES[-1]};" in done.stdout


def test_a_missing_checkpoint_is_named_with_what_to_do(home_copy, tmp_path, mini_zip):
    for checkpoint in (home_copy / "models").glob("*/model.pt"):
        checkpoint.rename(checkpoint.with_suffix(".moved"))
    query = tmp_path / "q.png"
    write_zip(tmp_path / "unused.zip", {})  # harmless; keeps the folder non-empty
    from images_for_tests import photo

    photo(1).save(query)
    assert_one_line_error(run_cli(home_copy, "search", str(query)), "checkpoint", "CBIR_HOME")
    assert_one_line_error(run_cli(home_copy, "load", str(mini_zip)), "checkpoint", "--retrain")


def test_a_phone_librarys_many_non_photos_are_counted_not_listed_on_a_terminal(home_copy, tmp_path):
    import os

    from ingest.cli.loading import TERMINAL_SKIP_LINES

    quicktime = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "  # how a phone's video begins
    videos = {f"2024/IMG_{n:04d}.MOV": quicktime + os.urandom(2000) for n in range(TERMINAL_SKIP_LINES + 10)}
    archive = tmp_path / "library.zip"
    write_zip(
        archive,
        {**dict(list(good_images().items())[:3]), **videos, "2024/bad.jpg": bad_entries()["bad/truncated.jpg"][0]},
    )

    # stderr to a log file: every skipped file has its line.
    logged = run_cli(home_copy, "load", str(archive))
    assert logged.returncode == 0, logged.stderr
    assert sum(line.startswith("skipped ") for line in logged.stderr.splitlines()) == len(videos) + 1
    summary = next(line for line in logged.stdout.splitlines() if line.strip().startswith("skipped"))
    assert " ".join(summary.split()) == "skipped 31 (a video, not a photo: 30; corrupt or truncated image: 1)"

    # stderr on a terminal: the first lines, then one line saying the rest are only counted.
    main, terminal = os.openpty()
    with start_cli(home_copy, "load", str(archive), "--json", stderr=terminal, text=False) as again:
        os.close(terminal)
        shown = b""
        while chunk := _read_or_nothing(main):
            shown += chunk
        report = json.loads(again.stdout.read())
    os.close(main)
    # What a terminal shows: the bar's colours and redrawing taken out.
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode()).replace("\r", "\n").splitlines()
    assert sum(line.startswith("skipped ") for line in lines) == TERMINAL_SKIP_LINES
    assert sum("counted, not listed" in line for line in lines) == 1
    assert len(report["skipped"]) == len(videos) + 1  # --json still lists every one


def _read_or_nothing(fd: int) -> bytes:
    import os

    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed: Linux says EIO
        return b""
