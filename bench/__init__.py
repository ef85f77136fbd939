"""The benchmarks behind docs/benchmarks.md, each a module run from the repository root:

    python -m bench.quality --zip bigcats --product

Each prints JSON; bench/results/ keeps the runs the docs quote. The data sets they read are named
(`--zip bigcats`) and found by bench/datasets.py."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: the checkout whose code a benchmark runs


def print_report(report: dict, out: Path | None = None) -> None:
    """A benchmark's JSON on stdout, and in `out` when given (bench/results/ keeps those the docs quote)."""
    text = json.dumps(report, indent=2)
    if out:
        out.write_text(text + "\n")
    print(text)
