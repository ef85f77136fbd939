"""The page end to end in a real Chromium: `streamlit run` as a user starts it, against a data
directory filled from the mini sample; Playwright uploads photos as a person would."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.hostile_corpus import thin_png
from ingest import store
from ingest.load import training_job
from ingest.settings import Settings

from conftest import ROOT, cli_env, run_cli
from images_for_tests import photo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
K = 10
RESULT_IMAGES = ".st-key-results [data-testid='stImage'] img"
RESULT_CAPTIONS = ".st-key-results [data-testid='stImageCaption']"
EXAMPLE_IMAGES = ".st-key-examples [data-testid='stImage'] img"
EXAMPLE_CAPTIONS = ".st-key-examples [data-testid='stImageCaption']"
# While a rerun is under way, what it has not drawn again yet is still on the page, marked stale.
STALE_OR_RUNNING = (
    "[data-testid='stElementContainer'][data-stale='true'], "
    "[data-testid='stStatusWidgetRunningIcon'], [data-testid='stStatusWidgetRunningManIcon']"
)

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); in CI this fails instead", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


def wait_for_the_rerun(page: Page) -> None:
    """A button clicked on a grid that a rerun is about to replace can be lost: wait it out."""
    expect(page.locator(STALE_OR_RUNNING)).to_have_count(0, timeout=30_000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(home_copy, tmp_path) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free port; its log is shown if the test fails."""
    port = free_port()
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "ui/app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=cli_env(home_copy),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"streamlit did not start within 60 s:\n{log.read_text()}"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        print(log.read_text())


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 900})  # a laptop screen
        finally:
            browser.close()


def upload(page: Page, path: Path) -> None:
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))


def test_upload_a_photo_and_see_its_top_k(app_url, browser_page, mini_images, tmp_path, artifacts_dir):
    page = browser_page
    page.goto(app_url)
    expect(page.get_by_text("Search with a photo")).to_be_visible(timeout=60_000)

    name, data = sorted(mini_images.items())[7]
    photo = tmp_path / "my photo.jpg"
    photo.write_bytes(data)
    upload(page, photo)
    # By default each result shows beside its reconstruction: the picture, a gap, what the decoder redraws.
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=60_000)
    expect(page.get_by_text(re.compile(r"^reconstruction error \(MSE\) 0\.\d{4}$"))).to_be_visible(timeout=30_000)
    for i in range(K):
        expect(page.locator(RESULT_IMAGES).nth(i)).to_be_visible()
        expect(page.locator(RESULT_IMAGES).nth(i)).to_have_js_property("naturalWidth", 2 * 96 + 4, timeout=30_000)
    captions = page.locator(RESULT_CAPTIONS).all_inner_texts()
    scores = [float(re.fullmatch(r"#\d+ · (-?\d\.\d{3}) · \S+", c)[1]) for c in captions]
    assert len(scores) == K and scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0, abs=1e-3)  # the photo is in the collection: found first
    under_first = re.compile(rf"^{re.escape(name)} · recon\. error 0\.\d{{4}}$")
    expect(page.get_by_text(under_first)).to_be_visible()  # its path and reconstruction error, under the first result
    expect(page.get_by_text("uploaded my photo.jpg")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-reconstructions.png"))

    page.get_by_text("Show reconstructions").click()  # off: the pictures alone, larger
    expect(page.get_by_text(re.compile(r"^reconstruction error \(MSE\)"))).to_have_count(0, timeout=30_000)
    pictures = page.locator(RESULT_IMAGES)  # the page re-runs to draw them: slow on a busy machine
    expect(pictures).to_have_count(K, timeout=30_000)
    for i in range(K):  # 32 px enlarged 4x on the server, no blur (by index: while the page
        # re-runs, the old grid's images can still be in the page beside the new ones)
        expect(pictures.nth(i)).to_have_js_property("naturalWidth", 128, timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "ui-search.png"))

    bad = tmp_path / "notes.png"
    bad.write_text("not a picture at all")
    upload(page, bad)
    expect(page.get_by_text("notes.png cannot be used as a query: not an image")).to_be_visible(timeout=30_000)
    expect(page.locator(RESULT_IMAGES)).to_have_count(0)
    expect(page.get_by_text("Upload a photo in the sidebar")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-bad-upload.png"))

    page.get_by_role("button", name="Random image from the collection").click()
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=30_000)
    expect(page.get_by_text("notes.png cannot be used")).to_have_count(0)


def test_the_page_waits_out_an_ingest_and_comes_back_by_itself(app_url, browser_page, home_copy):
    page = browser_page
    page.goto(app_url)
    page.get_by_role("button", name="Random image from the collection").click()
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=60_000)

    settings = Settings(home_copy)
    # What `ingest load` does: wait for the page to let go (at the end of an interaction),
    # then hold the store while it writes.
    with store.open_store(settings, wait_s=30):
        page.get_by_role("button", name="Random image from the collection").click()
        expect(page.get_by_text("An ingest load is writing to the embedded store")).to_be_visible(timeout=30_000)
        expect(page.locator(RESULT_IMAGES)).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)
    # No click, no reload: the page checks again by itself and shows results.
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=30_000)


def test_more_and_less_like_this_in_a_real_browser(app_url, browser_page, artifacts_dir):
    page = browser_page
    page.goto(app_url)
    page.get_by_role("button", name="Random image from the collection").click()
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=60_000)
    wait_for_the_rerun(page)
    before = page.locator(RESULT_CAPTIONS).all_inner_texts()
    grid = page.locator(".st-key-results")

    # Each click adds the photo to the examples above the grid, and the grid follows.
    for clicks, button in enumerate(["More like this", "More like this", "Less like this"], 2):
        results = grid.get_by_role("button", name=button)
        (results.first if button.startswith("More") else results.last).click()
        expect(page.locator(EXAMPLE_IMAGES)).to_have_count(clicks, timeout=30_000)
        wait_for_the_rerun(page)
        expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=30_000)
    kinds = [c.split(" · ")[0] for c in page.locator(EXAMPLE_CAPTIONS).all_inner_texts()]
    assert kinds == ["more like", "more like", "more like", "less like"]
    assert page.locator(RESULT_CAPTIONS).all_inner_texts() != before
    for i in range(4):  # each example's own picture, drawn
        expect(page.locator(EXAMPLE_IMAGES).nth(i)).to_have_js_property("naturalWidth", 64, timeout=30_000)
    page.locator(".st-key-examples").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "ui-feedback.png"))

    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "rank,score,label,path,source" and len(lines) == K + 1

    page.locator(".st-key-examples").get_by_role("button", name="Remove").last.click()  # the counter-example
    expect(page.locator(EXAMPLE_IMAGES)).to_have_count(3, timeout=30_000)
    wait_for_the_rerun(page)
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_text("Upload a photo in the sidebar")).to_be_visible(timeout=30_000)
    expect(page.locator(RESULT_IMAGES)).to_have_count(0)


@pytest.fixture
def counted_host() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request: a host a file's name points at."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()


def test_names_are_text_and_no_request_leaves_for_a_host_they_name(
    app_url, browser_page, home_copy, counted_host, tmp_path, artifacts_dir
):
    host, hits = counted_host
    label = f"**bold** :cat: $x^2$ <img src=http:{host}>"  # a folder's name: no '/' in it
    named = f"names/![pixel](http://{host}/pixel.png) [link](http://{host}/link).png"
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for seed, name in ((41, f"{label}/photo.png"), (42, named)):
            photo(seed, (96, 72)).save(tmp_path / f"{seed}.png")
            zf.writestr(name, (tmp_path / f"{seed}.png").read_bytes())  # the name as it is ('//' too)
    assert run_cli(home_copy, "load", str(archive)).returncode == 0  # the page sees it at its next run
    page = browser_page
    page.goto(app_url)
    upload(page, tmp_path / "42.png")
    expect(page.locator(RESULT_IMAGES)).to_have_count(K, timeout=60_000)
    wait_for_the_rerun(page)
    page.wait_for_timeout(1000)
    assert hits == [] and page.locator(f"a[href*='{host}'], img[src*='{host}']").count() == 0
    captions = page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
    shown = [c.replace("\u200b", "").split(" · ")[0] for c in captions]  # then its reconstruction error
    assert named in shown  # its path, as it is (no link)
    upload(page, tmp_path / "41.png")
    shown = label.replace(":cat:", ":\u200bcat:")  # a zero-width space keeps the shortcode from an emoji
    expect(page.locator(RESULT_CAPTIONS).first).to_have_text(f"#1 · 1.000 · {shown}", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "ui-names-as-text.png"))
    assert hits == []


def test_the_thin_png_upload_is_one_line_while_another_viewer_searches(app_url, browser_page, tmp_path):
    thin = tmp_path / "thin.png"
    thin.write_bytes(thin_png())
    page = browser_page
    page.goto(app_url)
    upload(page, thin)
    expect(page.get_by_text("thin.png cannot be used as a query: extreme shape")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-testid='stAlertContentError']")).to_have_count(1)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    other = page.context.browser.new_page()  # another viewer of the same page
    other.goto(app_url)
    other.get_by_role("button", name="Random image from the collection").click()
    expect(other.locator(RESULT_IMAGES)).to_have_count(K, timeout=60_000)


def test_keep_training_from_the_model_tab_then_stop_it(app_url, browser_page, home_copy, artifacts_dir):
    page = browser_page
    page.goto(app_url)
    page.get_by_role("tab", name="Model").click()
    start = page.get_by_role("button", name=re.compile(r"^Keep training for \d+ minutes$"))
    expect(start).to_be_enabled(timeout=60_000)
    start.click()
    training = page.locator(".st-key-training-animals-continue")
    try:
        # The page follows the training by itself: its epochs, curves and latest reconstructions.
        expect(training.get_by_text(re.compile(r"^epoch \d+ of \d+"))).to_be_visible(timeout=300_000)
        expect(training.locator("[data-testid='stImage'] img")).to_be_visible(timeout=30_000)
        expect(start).to_be_disabled()
        page.screenshot(path=str(artifacts_dir / "ui-training.png"), full_page=True)
        training.get_by_role("button", name="Stop training").click()
        # It finishes with what it learnt: the collection moves to the new model, the button comes back.
        expect(start).to_be_enabled(timeout=300_000)
        expect(page.get_by_text("continues model")).to_be_visible(timeout=60_000)
        expect(training).to_have_count(0)
    finally:
        training_job.stop(home_copy / "models")
    page.screenshot(path=str(artifacts_dir / "ui-trained.png"), full_page=True)
