"""bench/child_memory.py: the peak memory the benchmarks report for a load is the load's own, not
the benchmark's that started it (which vfork and exec hand down in `ru_maxrss`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A parent holding 600 MB starts a child that holds 150 MB.
PARENT = """
import json, resource, subprocess, sys
from bench.child_memory import PeakMemory

held = b"\\x01" * (600 << 20)  # written, so resident
child = subprocess.Popen([sys.executable, "-c", "x = b'\\\\x01' * (150 << 20); import time; time.sleep(0.5)"])
with PeakMemory(child.pid) as peak:
    child.wait()
maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10
print(json.dumps({"peak_mb": peak.mb, "anon_mb": peak.anon_mb, "ru_maxrss_mb": maxrss}))
"""


def test_a_childs_peak_is_its_own_not_the_parents():
    done = subprocess.run([sys.executable, "-c", PARENT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    assert 150 <= measured["peak_mb"] < 300, measured  # the child's 150 MB and its interpreter
    assert 150 <= measured["anon_mb"] <= measured["peak_mb"], measured  # allocated, not mapped from files
    # What the benchmarks reported before: the parent's 600 MB counted in the child's maximum.
    assert measured["ru_maxrss_mb"] >= 600, measured
