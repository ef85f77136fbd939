"""What a training of one long epoch loses when its learning rate never anneals. Prints JSON.

A 50,000-photo load trains one epoch of about 400 steps on 2 cores (`bench/large_load.py`). Its
plan used to be known only at the end of that epoch, and its warm-up lasted the whole epoch, so
the weights kept were those at the peak learning rate. Now the warm-up is capped and a long first
epoch is planned from its first steps (`encoder/schedule.py`). No 50,000-photo labelled set of
real photos is here, so this measures the same situation at a smaller scale: the product's
recipe trained for exactly one epoch on a zip of ../shared/datasets, with the warm-up and the
early plan at their old setting (one epoch, no early plan) and at a setting that lets this
shorter epoch anneal (warm-up and planning after a quarter of the epoch's steps).

    python bench/one_epoch.py --zip cifar10-animals
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from quality import DATASETS, read_photos, score, tensors

import encoder.fit
import encoder.schedule
import encoder.train
from encoder.embed import Embedder
from ingest.load.training import choose_side, recipe


def one_epoch(images, labels, sizes, early_steps: int | None, scratch: Path) -> dict:
    side = choose_side([min(s) for s in sizes]).side
    model_cfg, train_cfg, embed_side = recipe(side)
    # A budget that one epoch always overruns: the plan is one epoch, as for a large collection.
    train_cfg = replace(train_cfg, time_budget_s=1e-3)
    data = tensors(images, embed_side)
    steps = int(len(images) * (1 - train_cfg.val_fraction)) // train_cfg.batch_size
    before = encoder.train.PLAN_AFTER_STEPS, encoder.schedule.WARMUP_STEPS
    if early_steps is not None:
        encoder.train.PLAN_AFTER_STEPS = encoder.schedule.WARMUP_STEPS = early_steps
    else:  # as before: a warm-up of the whole epoch, planned at its end
        encoder.train.PLAN_AFTER_STEPS = encoder.schedule.WARMUP_STEPS = steps + 1
    try:
        path = encoder.fit.fit(data, scratch / "models", model_cfg, train_cfg, {"source": "bench"})
    finally:
        encoder.train.PLAN_AFTER_STEPS, encoder.schedule.WARMUP_STEPS = before
    embedder = Embedder.from_file(path)
    vectors = np.concatenate([embedder.embed(data[i : i + 256])[0] for i in range(0, len(data), 256)])
    last = embedder.checkpoint.history[-1]
    return {
        "steps": steps,
        "last_lr": last["lr"],
        "seconds": round(last["seconds"], 1),
        **score(vectors, labels, scratch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", default="cifar10-animals")
    args = parser.parse_args()
    images, labels, sizes = read_photos(DATASETS / f"{args.zip}.zip", None)
    scratch = Path(tempfile.mkdtemp(prefix="cbir-one-epoch-"))
    steps = int(len(images) * 0.9) // 64
    report = {
        "zip": f"{args.zip}.zip",
        "one epoch at the peak learning rate (as before)": one_epoch(images, labels, sizes, None, scratch),
        "one epoch annealed (warm-up and plan after a quarter)": one_epoch(images, labels, sizes, steps // 4, scratch),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
