"""The page's logic through Streamlit's own AppTest: the real script, real widgets, a real
embedded Qdrant store on disk (a private copy of the loaded sample), the real model."""

from __future__ import annotations

import io
import math
import re
import socket
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ingest import store
from ingest.settings import Settings
from ingest.store import collections as cols
from ui.query import UploadRejected, read_upload
from ui.resources import StoreAccess

from conftest import ROOT, run_cli

APP = str(ROOT / "ui" / "app.py")
RESULT_CAPTION = re.compile(r"^#(\d+) · (-?\d\.\d{3}) · (\S+)$")


def point_page_at(monkeypatch, home: Path, **env: str) -> None:
    """The environment the page reads: this data directory, the embedded store unless
    QDRANT_URL is given, the default collection unless CBIR_COLLECTION is."""
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "CBIR_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CBIR_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def page(monkeypatch, home_copy) -> AppTest:
    """The page against a private copy of the loaded sample, first run done."""
    point_page_at(monkeypatch, home_copy)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def results(at: AppTest) -> list[tuple[int, float, str]]:
    """(rank, score, label) of every result picture on the page."""
    found = [RESULT_CAPTION.match(c) for image in at.image for c in image.captions]
    return [(int(m[1]), float(m[2]), m[3]) for m in found if m]


def as_read(markdown: str) -> str:
    """What a viewer reads of Markdown the page wrote: names reach it escaped (ui/untrusted.py)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def footer(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "images in the" in c.value)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: Pillow sees the size before decoding."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_without_a_collection_the_page_shows_the_command_that_fills_it(monkeypatch, tmp_path):
    home = tmp_path / "fresh"
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "no collection 'animals'" in at.warning[0].value
    commands = [c.value for c in at.code]
    assert "ingest load PATH.zip" in commands and "make run ZIP=PATH.zip" in commands
    assert not at.image and not at.file_uploader
    assert not (home / "qdrant").exists()  # looking did not create an empty store


def test_a_random_pick_returns_k_results_and_k_and_the_label_filter_change_them(page):
    assert not results(page)
    page.button(key="random").click().run()
    shown = results(page)
    assert [rank for rank, _, _ in shown] == list(range(1, 11))  # K defaults to 10
    scores = [score for _, score, _ in shown]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    query_path = next(m.value for m in page.markdown if m.value.startswith("`cifar10"))

    page.slider(key="k").set_value(4).run()
    assert len(results(page)) == 4
    # Twenty of the 50 cats: a filter after the top-20 search would find far fewer.
    page.slider(key="k").set_value(20).run()
    page.selectbox(key="label").set_value("cat").run()
    labels = [label for _, _, label in results(page)]
    assert labels == ["cat"] * 20
    # The query stayed the same through all of this.
    assert any(m.value == query_path for m in page.markdown)


def test_more_like_this_searches_with_that_result_as_a_second_example(page):
    page.button(key="random").click().run()
    buttons = [b for b in page.button if b.key and b.key.startswith("more-")]
    paths = [as_read(c.value) for c in page.main.caption if as_read(c.value).startswith("cifar10-animals-mini/")]
    assert len(buttons) == len(paths) == 10
    picked_id = buttons[2].key.removeprefix("more-")
    buttons[2].click().run()
    assert not page.exception
    examples = [c for image in page.image for c in image.captions if c.startswith("more like · ")]
    assert len(examples) == 2  # the random pick and the third result, both searched with now
    assert page.button(key=f"drop-{picked_id}").label == "Remove"
    assert len(results(page)) == 10
    assert all(b.key != f"more-{picked_id}" for b in page.button)  # and not its own result


def test_an_uploaded_photo_finds_itself_first(page, mini_images):
    name, data = sorted(mini_images.items())[5]
    page.file_uploader(key="upload").upload("photo.jpg", data, "image/jpeg").run()
    assert not page.exception and not page.error
    shown = results(page)
    assert len(shown) == 10
    assert shown[0][1] == pytest.approx(1.0, abs=1e-3) and shown[0][2] == name.split("/")[-2]

    # A minimum score just above the 10th result's keeps the same ranking, cut there.
    before = [score for _, score, _ in shown]
    # The slider moves in steps of 0.01 and the page rounds scores to 3 decimals: take a step
    # above the 10th score that no shown score rounds onto.
    steps = (round(i / 100, 2) for i in range(math.ceil(before[-1] * 100), 100))
    threshold = next(t for t in steps if t > before[-1] and all(abs(s - t) > 6e-4 for s in before))
    page.slider(key="min_score").set_value(threshold).run()
    after = [score for _, score, _ in results(page)]
    assert after == [score for score in before if score > threshold] and 1 <= len(after) < 10
    page.slider(key="min_score").set_value(0.0).run()

    # Reconstructions show by default (the product's promise); the switch hides them.
    assert any(c.value.startswith("reconstruction error (MSE) ") for c in page.caption)
    page.toggle(key="reconstructions").set_value(False).run()
    assert not any(c.value.startswith("reconstruction error (MSE) ") for c in page.caption)
    assert len(results(page)) == 10


def test_a_photo_uploaded_from_an_iphone_as_heic_finds_its_jpeg(page, mini_images):
    name, data = sorted(mini_images.items())[7]
    heic = io.BytesIO()
    Image.open(io.BytesIO(data)).save(heic, "HEIF", quality=90)
    page.file_uploader(key="upload").upload("IMG_0001.HEIC", heic.getvalue(), "image/heic").run()
    assert not page.exception and not page.error
    # Each path, then its reconstruction error (reconstructions show by default).
    paths = [
        as_read(c.value).split(" · ")[0]
        for c in page.main.caption
        if as_read(c.value).startswith("cifar10-animals-mini/")
    ]
    assert paths[0] == name and results(page)[0][1] > 0.95  # the same photo, re-encoded


@pytest.mark.parametrize(
    "filename, content, message",
    [
        (
            "notes.png",
            b"these are not the pixels you are looking for",
            "notes.png cannot be used as a query: not an image",
        ),
        ("bomb.png", png_claiming(20_000, 20_000), "bomb.png cannot be used as a query: too many pixels"),
        ("cut.jpg", None, "cut.jpg cannot be used as a query: corrupt or truncated image"),
    ],
    ids=["not-an-image", "decompression-bomb", "truncated-jpeg"],
)
def test_a_bad_upload_shows_why_and_the_page_keeps_working(page, mini_images, filename, content, message):
    if content is None:
        content = sorted(mini_images.values())[0][:300]  # a JPEG cut short
    page.file_uploader(key="upload").upload(filename, content, "image/png").run()
    assert not page.exception
    assert len(page.error) == 1 and as_read(page.error[0].value).startswith(message)
    assert not results(page)
    page.button(key="random").click().run()
    assert not page.error and len(results(page)) == 10


def test_an_upload_over_the_byte_limit_is_refused_before_decoding():
    with pytest.raises(UploadRejected, match=r"big.jpg is too large \(2.0 MB; the limit is 1 MB\)"):
        read_upload("big.jpg", b"\xff" * (2 * 2**20), max_bytes=2**20)


def test_browse_filters_inside_qdrant_and_picks_a_query(page):
    page.session_state["view"] = "Browse"
    page.run()
    page.selectbox(key="browse_label").set_value("dog").run()
    page.text_input(key="browse_words").set_value("0042").run()
    captions = [as_read(c) for image in page.image for c in image.captions]
    assert captions == ["dog · 0042.jpg"]
    next(b for b in page.button if b.key and b.key.startswith("browse-") and b.label == "Search").click().run()
    assert page.tabs[0].label == "Search"
    assert any(m.value == "`cifar10-animals-mini/dog/0042.jpg`" for m in page.markdown)
    assert len(results(page)) == 10


def test_a_second_collection_can_be_opened_from_the_page(page, home_copy):
    with store.open_store(Settings(home_copy)) as db:  # "pets": another name for the same points
        db.set_alias("pets", cols.state(db, "animals").physical)
    page.run()
    assert page.selectbox(key="collection").options == ["animals", "pets"]
    page.selectbox(key="collection").set_value("pets").run()
    assert footer(page).startswith("**pets**: 300 images")
    page.button(key="random").click().run()
    assert len(results(page)) == 10


def test_the_model_tab_shows_training_and_the_evaluation_once_stored(page, home_copy):
    page.session_state["view"] = "Model"
    page.run()
    assert not page.exception
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Images"] == "300" and metrics["Labels"] == "6" and metrics["Epochs"] == "2"
    assert any("ingest evaluate" in i.value for i in page.info)
    assert len(page.get("vega_lite_chart")) == 3  # loss, reconstruction MSE, labels
    assert len(page.image) == 1  # reconstructions.png
    # A thumbnail model redraws from its embedding (a photo model, from a map: tests/e2e/test_input_side.py).
    assert any(m.value.endswith("reconstructions (bottom)**, redrawn from the 256-d embedding") for m in page.markdown)

    with store.open_store(Settings(home_copy)) as db:
        state = cols.state(db, "animals")
        evaluation = {
            "k": 10,
            "queries": 300,
            "precision_at_k": 0.412,
            "map_at_k": 0.301,
            "chance_precision_at_k": 0.167,
            "model_id": state.model_id,
            "per_label": {"cat": {"queries": 50, "precision_at_k": 0.3, "map_at_k": 0.2}},
        }
        db.update_metadata(state.physical, {"evaluation": evaluation})
    page.run()
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Precision@10"] == "0.412" and metrics["mAP@10"] == "0.301"


def test_while_an_ingest_holds_the_store_the_page_says_so_and_comes_back(page, home_copy):
    settings = Settings(home_copy)
    with store.open_store(settings):  # what `ingest load` does while it writes
        page.run()
        assert not page.exception and not page.error
        assert "An `ingest load` is writing to the embedded store" in page.info[0].value
        assert not page.image
    page.run()
    assert not page.info or "writing" not in page.info[0].value
    assert "300 images" in footer(page)


def test_images_ingested_while_the_page_is_open_appear_without_a_restart(page, home_copy, tmp_path, mini_images):
    assert "300 images" in footer(page)  # the page holds the store now; the ingest must wait for it
    extra = tmp_path / "extra.zip"
    with zipfile.ZipFile(extra, "w") as zf:
        for i, data in enumerate(sorted(mini_images.values())[:3]):
            image = Image.open(io.BytesIO(data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")  # new bytes, so new points
            zf.writestr(f"extra/mirrored/{i}.png", buffer.getvalue())
    result = run_cli(home_copy, "load", str(extra), timeout=180)
    assert result.returncode == 0, result.stderr
    assert "indexed          3" in result.stdout
    page.run()
    assert "303 images" in footer(page)
    assert "mirrored" in page.selectbox(key="label").options[-1]


def test_the_page_holds_the_embedded_store_only_during_an_interaction(home_copy):
    settings = Settings(home_copy)
    access = StoreAccess(settings)
    with access.session() as db:
        assert cols.state(db, "animals") is not None
        with pytest.raises(store.StoreBusy):
            store.connect(settings, wait_s=0)  # held while the interaction runs
    store.connect(settings, wait_s=0).close()  # let go as soon as it ends


def test_an_unreachable_server_is_named_on_the_page(monkeypatch, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        point_page_at(monkeypatch, tmp_path / "home", QDRANT_URL=url)
        at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and f"cannot reach Qdrant at {url}" in as_read(at.error[0].value)
    assert "tries again" in at.caption[0].value
