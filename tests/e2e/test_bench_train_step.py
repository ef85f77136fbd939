"""bench/train_step.py, run as `python -m bench.train_step`: it drives the product's own training
loop, so a change there that the script no longer fits fails here rather than on a lent GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_step_benchmark_times_the_loads_recipe_and_counts_its_operations():
    done = subprocess.run(
        [sys.executable, "-m", "bench.train_step", "--sides", "32", "--steps", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    step = report["side_32"]
    assert step["batch"] == 64 and step["steps_per_epoch"] == 8  # the load's batch, as asked
    assert step["ms_per_step"] > 0 and len(step["ms_per_step_each_epoch"]) == 3
    assert step["aten_ops_per_step"] > 100
