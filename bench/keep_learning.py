"""A model that keeps learning: P@10 after the default load of a zip, then after `ingest train
--minutes 10` and another `--minutes 20`; the control, one training of the same total epochs
(`ingest load --epochs N`); and a client searching in a loop meanwhile, its queries and failures
counted (an error, or fewer than K results). Prints JSON; each step's line goes to stderr as it ends.

    python -m bench.keep_learning --zip bigcats                 # about 10 + 10 + 20 + 40 minutes on 2 cores
    python -m bench.keep_learning --zip dogbreeds --out bench/results/keep-learning-dogbreeds.json
    python -m bench.keep_learning --zip cifar10-animals-mini --load-epochs 2 --step-epochs 1,1   # a check, minutes

Every step is the product's own command, run as a user runs it (`python -m ingest.cli`), on a
fresh data directory; P@10 is `ingest evaluate`'s. The searcher is a thread of this process that
opens the store for each query, as `ingest search` and the page do, twice a second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench import ROOT, datasets, print_report
from bench.machine import machine
from encoder.embed import Embedder
from ingest.query.search import Index
from ingest.settings import Settings
from ingest.store import collections as cols
from ingest.store import open_store
from ingest.store.media import MediaStore

SEARCH_EVERY_S = 0.5
K = 10


def cli(home: Path, *args: str) -> dict:
    """`ingest ARGS --json` in its own process; its JSON, its wall time, and the last lines it said."""
    env = {**os.environ, "CBIR_HOME": str(home), "PYTHONPATH": str(ROOT), "CBIR_WAIT": "300"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"ingest {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"json": json.loads(done.stdout), "seconds": time.perf_counter() - started, "said": done.stderr}


class Searcher:
    """Searches the collection in a loop, as a client does, until stopped; counts what it gets."""

    def __init__(self, home: Path, collection: str = "animals") -> None:
        self.settings = Settings(home, wait_s=300)
        self.collection = collection
        self.queries, self.failures, self.errors = 0, 0, []
        self.answered_by: Counter[str] = Counter()
        self._stop = threading.Event()
        self._embedders: dict[str, Embedder] = {}  # by model id: a query loads none from disk
        self._thread = threading.Thread(target=self._loop, name="searcher")

    def __enter__(self) -> Searcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        query = None
        while not self._stop.is_set():
            try:
                with open_store(self.settings) as store:
                    state = cols.require(store, self.collection)
                    if state.model_id not in self._embedders:
                        self._embedders[state.model_id] = Embedder.from_file(cols.checkpoint_path(self.settings, state))
                    index = Index(store, state, self._embedders[state.model_id])
                    if query is None:  # a photo of the collection, as a user would upload it
                        query = MediaStore(self.settings.media_dir).open(index.sample().sha256)
                    hits = index.by_image(query, k=K)
                self.queries += 1
                self.answered_by[state.model_id] += 1
                if len(hits) < K:
                    self.failures += 1
                    self.errors.append(f"{len(hits)} results")
            except Exception as exc:  # noqa: BLE001  (every failure is counted, none ends the loop)
                self.queries += 1
                self.failures += 1
                self.errors.append(repr(exc)[:300])
            self._stop.wait(SEARCH_EVERY_S)

    def counts(self) -> dict:
        return {
            "queries": self.queries,
            "failures": self.failures,
            "errors": self.errors[:10],
            "answered_by_model": dict(self.answered_by),
        }


def say(step: dict) -> None:
    print(json.dumps(step), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", default="bigcats", help="a data set by name (bench/datasets.py), or the path of a zip")
    parser.add_argument("--steps", default="10,20", help="minutes of each `ingest train` after the load")
    parser.add_argument("--step-epochs", help="epochs of each `ingest train` instead of minutes (a quick check)")
    parser.add_argument("--load-epochs", type=int, help="the load trains exactly N epochs (a quick check)")
    parser.add_argument("--no-control", action="store_true", help="skip the single training of the same epochs")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    zip_path = datasets.zip_path(args.zip)
    steps = (
        [("--epochs", e) for e in args.step_epochs.split(",")]
        if args.step_epochs
        else [("--minutes", m) for m in args.steps.split(",")]
    )

    report: dict = {"benchmark": "keep_learning", "zip": zip_path.name, "machine": machine(), "steps": []}
    with tempfile.TemporaryDirectory(prefix="keep-learning-") as tmp:
        chain = Path(tmp) / "chain"
        load_args = ["load", str(zip_path)] + (["--epochs", str(args.load_epochs)] if args.load_epochs else [])
        loaded = cli(chain, *load_args)
        evaluated = cli(chain, "evaluate")["json"]
        facts = cli(chain, "info")["json"]["model"]
        step = {
            "step": " ".join(["ingest load", *load_args[2:]]) or "ingest load",
            "seconds": round(loaded["seconds"], 1),
            "epochs_total": facts["epochs_total"] if "epochs_total" in facts else facts["epochs_run"],
            "p_at_10": round(evaluated["precision_at_k"], 4),
            "map_at_10": round(evaluated["map_at_k"], 4),
        }
        report["steps"].append(step)
        say(step)
        searches = []
        for option, value in steps:
            with Searcher(chain) as searcher:
                trained = cli(chain, "train", option, value)
                time.sleep(3 * SEARCH_EVERY_S)  # a few answers from the new model
            result = trained["json"]
            step = {
                "step": f"ingest train {option} {value}",
                "seconds": round(trained["seconds"], 1),
                "train_seconds": round(result["train_seconds"], 1),
                "epochs_run": result["epochs_run"],
                "epochs_total": result["after"]["epochs_total"],
                "p_at_10": round(result["after"]["precision_at_10"], 4),
                "p_at_10_before": round(result["before"]["precision_at_10"], 4),
                "held_out_loss": [result["before"]["val_loss"], result["after"]["val_loss"]],
                "searches": searcher.counts(),
            }
            report["steps"].append(step)
            searches.append(step["searches"])
            say(step)
        report["searches"] = {
            "queries": sum(s["queries"] for s in searches),
            "failures": sum(s["failures"] for s in searches),
        }
        total = report["steps"][-1]["epochs_total"]
        if not args.no_control:
            control = Path(tmp) / "control"
            trained = cli(control, "load", str(zip_path), "--epochs", str(total))
            evaluated = cli(control, "evaluate")["json"]
            report["control"] = {
                "step": f"ingest load --epochs {total}",
                "seconds": round(trained["seconds"], 1),
                "p_at_10": round(evaluated["precision_at_k"], 4),
                "map_at_10": round(evaluated["map_at_k"], 4),
            }
            say(report["control"])
            report["chain_minus_control_p_at_10"] = round(
                report["steps"][-1]["p_at_10"] - report["control"]["p_at_10"], 4
            )
    print_report(report, args.out)


if __name__ == "__main__":
    main()
