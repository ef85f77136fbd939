"""The page's library features through Streamlit's AppTest, on a private copy of the loaded
sample: relevance feedback ("more like this", "less like this"), the downloads of the results,
and the Duplicates tab with its keep rules and decisions. What a download holds is read where AppTest's
media storage receives it, byte for byte."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from ingest.query.decisions import DecisionBook
from ingest.query.duplicates import find_duplicates
from ingest.settings import Settings
from ingest.store import Where
from ingest.store import collections as cols

from conftest import run_cli, store_at
from test_ui_apptest import APP, as_read, point_page_at, results

EXACT_ORIGINAL, EXACT_COPY = "cifar10-animals-mini/cat/0001.jpg", "planted/copy-of-cat-0001.jpg"
PNG_ORIGINAL, PNG_COPY = "cifar10-animals-mini/dog/0002.jpg", "planted/dog-0002.png"
JPEG_ORIGINAL, JPEG_COPY = "cifar10-animals-mini/horse/0003.jpg", "planted/horse-0003-q85.jpg"


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """Streamlit file id -> the bytes the page handed to a download button."""
    handed: dict[str, bytes] = {}
    receive = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = receive(self, path_or_data, mimetype, kind, filename)
        handed[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return handed


def downloaded(at: AppTest, handed: dict[str, bytes], key: str) -> bytes:
    data = handed[Path(at.download_button(key=key).proto.url).stem]
    return data.encode() if isinstance(data, str) else data


def page_at(monkeypatch, home: Path, view: str | None = None) -> AppTest:
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    if view:
        at.session_state["view"] = view
    at.run()
    assert not at.exception, at.exception
    return at


def result_ids(at: AppTest) -> list[str]:
    return [b.key.removeprefix("more-") for b in at.button if b.key and b.key.startswith("more-")]


def examples(at: AppTest) -> tuple[list[str], list[str]]:
    """The examples' captions, and their ids (from their "Remove" buttons), in page order."""
    captions = [c for image in at.image for c in image.captions if c.startswith(("more like · ", "less like · "))]
    ids = [b.key.removeprefix("drop-") for b in at.button if b.key and b.key.startswith("drop-")]
    return captions, ids


def recommended(home: Path, positives: list[str], negatives: list[str], k: int = 10) -> list:
    """What the store answers for these examples, asked directly."""
    with store_at(home) as store:
        physical = cols.require(store, "animals").physical
        vectors = {r.id: r.vector for r in store.retrieve(physical, positives + negatives, vectors=True)}
        where = Where(exclude_ids=tuple(positives + negatives))
        return store.recommend(physical, [vectors[i] for i in positives], [vectors[i] for i in negatives], k, where)


def test_more_and_less_like_this_build_the_examples_and_the_grid_follows(
    monkeypatch, home_copy, downloads, mini_images
):
    page = page_at(monkeypatch, home_copy)
    page.button(key="random").click().run()
    first = result_ids(page)
    page.button(key=f"more-{first[0]}").click().run()
    captions, ids = examples(page)
    query = ids[0]  # the random pick, now the first example
    assert len(captions) == 2 and all(c.startswith("more like · ") for c in captions) and ids[1] == first[0]
    second = result_ids(page)
    assert len(second) == 10 and not set(second) & set(ids) and second != first

    page.button(key=f"more-{second[0]}").click().run()
    third = result_ids(page)
    page.button(key=f"less-{third[-1]}").click().run()
    assert not page.exception
    captions, ids = examples(page)
    assert [c.split(" · ")[0] for c in captions] == ["more like"] * 3 + ["less like"]
    assert ids == [query, first[0], second[0], third[-1]]
    shown = result_ids(page)
    expected = recommended(home_copy, ids[:3], ids[3:])
    assert shown == [s.id for s in expected] and not set(shown) & set(ids)

    # The results as CSV, and the grid as a PNG: ten pictures, six to a row.
    table = list(csv.DictReader(io.StringIO(downloaded(page, downloads, "download-results-csv").decode())))
    assert [(int(r["rank"]), float(r["score"]), r["path"]) for r in table] == [
        (rank, round(s.score, 6), s.payload["path"]) for rank, s in enumerate(expected, 1)
    ]
    assert {r["label"] for r in table} <= {"bird", "cat", "deer", "dog", "frog", "horse"}
    assert {r["source"] for r in table} == {expected[0].payload["source"]}
    with Image.open(io.BytesIO(downloaded(page, downloads, "download-results-png"))) as grid:
        assert grid.format == "PNG" and grid.size == (6 * 100 + 4, 2 * (96 + 14 + 4) + 4)

    page.button(key=f"drop-{ids[3]}").click().run()  # no longer a counter-example
    assert examples(page)[1] == ids[:3]
    assert result_ids(page) == [s.id for s in recommended(home_copy, ids[:3], [])]

    # A photo uploaded starts a fresh query: one example, the plain search.
    page.file_uploader(key="upload").upload("photo.jpg", mini_images[PNG_ORIGINAL], "image/jpeg").run()
    assert examples(page) == ([], [])
    assert any(m.value == "`uploaded photo.jpg`" for m in page.markdown) and len(results(page)) == 10
    page.button(key=f"more-{result_ids(page)[1]}").click().run()
    assert as_read(examples(page)[0][0]) == "more like · photo.jpg" and len(examples(page)[1]) == 2
    page.button(key="clear-examples").click().run()
    assert not results(page) and "Upload a photo in the sidebar" in page.info[0].value


def summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " groups** of near-identical photos" in m.value)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def rule_key(group: dict) -> str:
    """The key of a group's rule on the page: a group is keyed by its first file."""
    first = group["members"][0]
    place = f"{first['source']}:{first['path']}"
    return f"dup-rule-{hashlib.sha1(place.encode()).hexdigest()[:12]}"


def test_the_duplicates_tab_groups_copies_and_lists_the_files_a_rule_leaves(
    monkeypatch, home_copy, downloads, mini_images, tmp_path
):
    planted = {
        EXACT_COPY: mini_images[EXACT_ORIGINAL],
        PNG_COPY: encoded(Image.open(io.BytesIO(mini_images[PNG_ORIGINAL])), "PNG"),  # more bytes, same pixels
        JPEG_COPY: encoded(Image.open(io.BytesIO(mini_images[JPEG_ORIGINAL])), "JPEG", quality=85),
    }
    archive = tmp_path / "planted.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in planted.items():
            zf.writestr(name, data)
    assert run_cli(home_copy, "load", str(archive)).returncode == 0
    printed = run_cli(home_copy, "duplicates", "--json")
    assert printed.returncode == 0, printed.stderr
    groups = json.loads(printed.stdout)["groups"]
    assert all({"width", "height", "bytes", "ingested_at"} <= set(m) for g in groups for m in g["members"])

    page = page_at(monkeypatch, home_copy, view="Duplicates")
    assert summary(page).startswith(f"**{len(groups)} groups** of near-identical photos among 302 ")
    number = {m["path"]: n for n, g in enumerate(groups) for m in g["members"]}
    assert number[EXACT_ORIGINAL] == number[EXACT_COPY] and number[PNG_ORIGINAL] == number[PNG_COPY]
    assert number[JPEG_ORIGINAL] == number[JPEG_COPY]
    assert sum(c.startswith("keep · ") for image in page.image for c in image.captions) == len(groups)

    def deletable() -> set[str]:
        rows = csv.DictReader(io.StringIO(downloaded(page, downloads, "dup-csv").decode()))
        listed = {row["path"] for row in rows}
        assert listed == {f["path"] for f in json.loads(downloaded(page, downloads, "dup-json"))["files"]}
        return listed

    # Nothing is decided yet, so nothing is to delete.
    assert deletable() == set()
    rule = rule_key(groups[number[PNG_COPY]])
    page.radio(key=rule).set_value("the first loaded").run()
    page.button(key=rule.replace("dup-rule-", "dup-keep-")).click().run()
    assert deletable() == {PNG_COPY}  # decided: the later file goes
    assert summary(page).startswith(f"**{len(groups) - 1} groups**") and "1 decided groups hidden" in summary(page)
    rule = rule_key(groups[number[JPEG_COPY]])
    page.radio(key=rule).set_value("picked by hand").run()
    members = [m["path"] for m in groups[number[JPEG_COPY]]["members"]]  # in the order of their sources' paths
    page.radio(key=rule.replace("dup-rule-", "dup-pick-")).set_value(members.index(JPEG_COPY)).run()
    page.button(key=rule.replace("dup-rule-", "dup-keep-")).click().run()
    assert JPEG_ORIGINAL in deletable() and JPEG_COPY not in deletable()
    # The rule for every group left (the largest: most pixels, then bytes; the exact copy ties with
    # its original, which stays).
    page.button(key="dup-keep-all").click().run()
    assert EXACT_COPY in deletable() and EXACT_ORIGINAL not in deletable()
    assert len(deletable()) == sum(g["size"] - 1 for g in groups)  # every group keeps exactly one
    assert summary(page).startswith("**0 groups**")

    page.slider(key="dup_threshold").set_value(0.95).run()
    decided = DecisionBook(home_copy, "animals").read()
    with store_at(home_copy) as store:
        wider = find_duplicates(store, cols.require(store, "animals"), 0.95, show_progress=False, decisions=decided)
    assert summary(page).startswith(f"**{len(wider['groups'])} groups** ")
    assert len(wider["groups"]) + wider["reviewed"] >= len(groups)
    assert all(  # the page deleted nothing: every picture is still there
        (Settings(home_copy).media_dir / m["sha256"][:2] / m["sha256"]).exists() for g in groups for m in g["members"]
    )
