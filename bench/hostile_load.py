"""`ingest load` of a hostile zip (bench/hostile_corpus.py): how long it takes and how much memory
it holds, and whether each bad entry was reported once and every good photo indexed. Prints JSON.

    python -m bench.hostile_load [--cores 2] [--stop-mb 4000] [--stop-s 900]

Two loads of one zip into a fresh data directory, as the product runs them on 2 cores: the first
trains a model (`--epochs 1`: the passes over the zip, not the training, are measured) and both
end with `--prune` (the third pass). The same two loads of a zip of its good photos alone are the
baseline: what the hostile entries add is the difference. Memory is the load's peak (VmHWM) and
the peak of what it allocated (RssAnon), without the library files it maps (a CUDA build of
torch maps 550 MB of them). A load past --stop-mb of memory or --stop-s is stopped, and the JSON
says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import ROOT
from bench.child_memory import PeakMemory
from bench.hostile_corpus import BZIP2_ENTRIES, HIGH_RATIO_ENTRIES, STORED, entry, hostile_zip, write_raw_zip
from bench.machine import machine
from ingest.cli.app import printable


def timed_load(archive: Path, home: Path, cores: int, stop_mb: int, stop_s: float, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "CBIR_"))} | {"CBIR_HOME": str(home)}
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "load", str(archive), "--prune", "--json", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, allowed),
    )
    stopped = None
    with PeakMemory(child.pid, every_s=0.02) as peak:
        while child.poll() is None:
            if peak.mb > stop_mb:
                stopped = f"over {stop_mb} MB"
            elif time.perf_counter() - started > stop_s:
                stopped = f"over {stop_s:.0f} s"
            if stopped:
                child.kill()
                break
            time.sleep(0.05)
        out, said = child.communicate()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_mb": peak.mb,
        "allocated_peak_mb": peak.anon_mb,
        "exit": child.returncode,
        "stopped": stopped,
        "report": json.loads(out) if child.returncode == 0 else None,
        "said": said,
    }


def summary(run: dict, corpus) -> dict:
    report, said = run.pop("report"), run.pop("said")
    if report is None:
        return run | {"last_lines": said.strip().splitlines()[-5:]}
    told = Counter(line.split(": ", 1)[0].removeprefix("skipped ") for line in said.splitlines() if "skipped " in line)
    listed = Counter(s["path"] for s in report["skipped"])
    return run | {
        "indexed": report["indexed"],
        "already_present": report["already_present"],
        "every_good_photo_stored": report["indexed"] + report["already_present"] == len(corpus.good),
        "skipped": len(report["skipped"]),
        "each_bad_entry_listed_once": listed == Counter(list(corpus.bad)),
        "each_bad_entry_told_once": told == Counter(printable(path) for path in corpus.bad),
        "reasons": dict(Counter(s["reason"].split(" (")[0] for s in report["skipped"]).most_common()),
        "traceback": "Traceback" in said,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--stop-mb", type=int, default=4000)
    parser.add_argument("--stop-s", type=float, default=900)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cbir-hostile-"))
    archive = scratch / "hostile.zip"
    corpus = hostile_zip(archive)
    baseline = scratch / "good.zip"
    write_raw_zip(baseline, [entry(name, data, STORED) for name, data in corpus.good.items()])
    runs: dict[str, dict] = {}
    for zip_name, path in (("hostile.zip", archive), ("its good photos alone", baseline)):
        expected = corpus if path == archive else type(corpus)(corpus.good, {})
        for name, extra in (("first load (trains, --epochs 1)", ("--epochs", "1")), ("same zip again", ())):
            home = scratch / f"home-{path.stem}"
            run = timed_load(path, home, args.cores, args.stop_mb, args.stop_s, *extra)
            runs[f"{zip_name}: {name}"] = summary(run, expected)
            print(json.dumps({f"{zip_name}: {name}": runs[f"{zip_name}: {name}"]}), file=sys.stderr, flush=True)
    report = {
        "zip_kb": archive.stat().st_size // 1024,
        "entries": len(corpus.good) + len(corpus.bad),
        "good_photos": len(corpus.good),
        "bad_entries": len(corpus.bad),
        "high_ratio_entries": HIGH_RATIO_ENTRIES,
        "bzip2_entries": BZIP2_ENTRIES,
        "command": f"ingest load {archive.name} --prune --json, pinned to {args.cores} cores",
        "loads": runs,
        "machine": machine(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
