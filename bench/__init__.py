"""The benchmarks behind docs/benchmarks.md, each a module run from the repository root:

    python -m bench.quality --zip bigcats --product

Each prints JSON; bench/results/ keeps the runs the docs quote. The data sets they read are named
(`--zip bigcats`) and found by bench/datasets.py."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: the checkout whose code a benchmark runs
