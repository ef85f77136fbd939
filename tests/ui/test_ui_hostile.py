"""The page against hostile input, through Streamlit's AppTest on a real store: an upload that
would cost gigabytes is one line and holds no one up, names from a zip show as text, and the
CSV downloads escape what a spreadsheet would run. The real browser's side of it (no request
leaves for a host a name gives) is in tests/ui/test_ui_browser.py."""

from __future__ import annotations

import csv
import io
import time
import zipfile

from streamlit.testing.v1 import AppTest

from bench.hostile_corpus import photo_bytes, thin_png
from ingest.query.search import Hit
from ui import downloads, duplicates_view
from ui.untrusted import cell, code, plain

from conftest import run_cli
from test_ui_apptest import APP, as_read, point_page_at, results

LABEL = "**bold** _it_ :cat: $x^2$ <img src=x onerror=alert(1)> `code`"
LINKED = "names/![pixel](http://127.0.0.1:9/pixel.png) [link](http://127.0.0.1:9/link).png"


def test_the_thin_png_upload_is_one_line_and_the_other_sessions_keep_answering(monkeypatch, home_copy):
    point_page_at(monkeypatch, home_copy)
    uploader = AppTest.from_file(APP, default_timeout=60).run()
    started = time.perf_counter()
    uploader.file_uploader(key="upload").upload("thin.png", thin_png(), "image/png").run()
    assert time.perf_counter() - started < 20  # refused from its header, not scaled to 3 GB
    assert not uploader.exception
    assert [as_read(e.value) for e in uploader.error] == [
        "thin.png cannot be used as a query: extreme shape (2,000,000 x 25 px, 80,000 times as long as wide; "
        "at most 20). Upload a JPEG, PNG, WebP or HEIC photo."
    ]
    assert not results(uploader)

    other = AppTest.from_file(APP, default_timeout=60).run()  # another viewer, the same store
    other.button(key="random").click().run()
    assert not other.exception and len(results(other)) == 10
    uploader.run()  # the upload stays in its widget, but no rerun decodes it again
    assert not uploader.exception and not uploader.error


def test_names_from_a_zip_show_as_text_on_the_page(monkeypatch, home_copy, tmp_path):
    labelled, linked = photo_bytes(41), photo_bytes(42)
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{LABEL}/photo.jpg", labelled)
        zf.writestr(LINKED, linked)
    assert run_cli(home_copy, "load", str(archive)).returncode == 0
    point_page_at(monkeypatch, home_copy)
    page = AppTest.from_file(APP, default_timeout=60).run()

    page.file_uploader(key="upload").upload("q.jpg", linked, "image/jpeg").run()
    paths = [c.value for c in page.main.caption if as_read(c.value).startswith("names/")]
    assert [as_read(p).split(" · ")[0] for p in paths] == [LINKED] and "](" not in paths[0]  # not a link, not an image
    page.file_uploader(key="upload").upload("q2.jpg", labelled, "image/jpeg").run()
    first = next(c for image in page.image for c in image.captions if c.startswith("#1 · "))
    assert as_read(first).endswith(f" · {LABEL}") and "**" not in first
    page.session_state["view"] = "Browse"
    page.run()
    page.selectbox(key="browse_label").set_value(LABEL).run()
    assert [as_read(c) for image in page.image for c in image.captions] == [f"{LABEL} · photo.jpg"]


def test_markdown_is_escaped_and_a_code_span_outlasts_the_backticks_in_it():
    assert plain("![x](http://h/t.png)") == "\\!\\[x\\]\\(http\\:\u200b\\/\\/h\\/t\\.png\\)"
    assert plain(":cat: a\nb") == "\\:\u200bcat\\: a\ufffdb"  # no emoji, no second line
    assert plain("www.x.org a@b.org") == "www\u200b\\.x\\.org a\\@\u200bb\\.org"  # no link
    assert code("a``b") == "```a``b```" and code("`x") == "`` `x ``"


def test_csv_exports_write_a_formula_as_text():
    hits = [
        Hit("1", 0.9, {"path": '=HYPERLINK("http://h","x")', "label": "+cmd", "source": "@s.zip"}),
        Hit("2", -0.25, {"path": "a/b.jpg", "label": "-2+3", "source": "\tz"}),
    ]
    rows = list(csv.reader(io.StringIO(downloads.results_csv(hits))))
    assert rows[1] == ["1", "0.900000", "'+cmd", '\'=HYPERLINK("http://h","x")', "'@s.zip"]
    assert rows[2] == ["2", "-0.250000", "'-2+3", "a/b.jpg", "'\tz"]  # a negative score stays a number
    duplicate = {"group": 1, "source": "=1+1", "path": "a.jpg", "width": 4, "height": 4, "bytes": 9}
    listed = list(csv.DictReader(io.StringIO(duplicates_view.as_csv([{**duplicate, "kept": "-x"}]))))
    assert (listed[0]["source"], listed[0]["kept"], listed[0]["bytes"]) == ("'=1+1", "'-x", "9")
    assert cell(-1.5) == -1.5 and cell("\rx") == "'\rx"
