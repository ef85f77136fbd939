"""Taking results away: the search results as CSV and the grid as a PNG, built from what the
page already read (no second search), handed to the browser by `st.download_button`."""

from __future__ import annotations

import csv
import io

import streamlit as st
from PIL import Image

from encoder.plots import image_grid
from ingest.query.search import Hit
from ui.untrusted import cell

RESULT_COLUMNS = ["rank", "score", "label", "path", "source"]


def results_csv(hits: list[Hit]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for rank, hit in enumerate(hits, 1):
        names = [hit.label or "", hit.path, hit.payload.get("source", "")]
        writer.writerow([rank, f"{hit.score:.6f}", *map(cell, names)])
    return buffer.getvalue()


def grid_png(hits: list[Hit], images: list[Image.Image | None], per_row: int) -> bytes:
    """The grid as the page shows it, captions `#rank score label`, `per_row` to a row."""
    captions = [f"#{rank} {hit.score:.3f} {hit.label or ''}" for rank, hit in enumerate(hits, 1)]
    rows = [images[i : i + per_row] for i in range(0, len(images), per_row)] or [[]]
    caption_rows = [captions[i : i + per_row] for i in range(0, len(captions), per_row)] or [[]]
    buffer = io.BytesIO()
    image_grid(rows, caption_rows).save(buffer, format="PNG")
    return buffer.getvalue()


def results(hits: list[Hit], images: list[Image.Image | None], per_row: int) -> None:
    csv_col, png_col, _ = st.columns([1, 1, 2])
    csv_col.download_button(
        "Download results (CSV)",
        results_csv(hits),
        file_name="search-results.csv",
        mime="text/csv",
        key="download-results-csv",
        on_click="ignore",
        width="stretch",
    )
    png_col.download_button(
        "Download the grid (PNG)",
        grid_png(hits, images, per_row),
        file_name="search-results.png",
        mime="image/png",
        key="download-results-png",
        on_click="ignore",
        width="stretch",
    )
