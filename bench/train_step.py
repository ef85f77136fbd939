"""What one training step costs on this machine (the GPU where there is one): the product's own
training loop (`encoder.train`) with the recipe `ingest load` picks for thumbnails (32 px) and for
photos (48 px crops), on random pixels of the size the load keeps (a step's cost does not depend
on what the pixels show). Prints JSON: milliseconds a step (median of several epochs) and the
operations PyTorch dispatches in a step, which is what bounds a GPU's step when its kernels are
small (docs/decisions.md, "The views of one side in one batch").

    python -m bench.train_step [--sides 32,48] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.profiler import profile

from encoder.device import bf16_is_fast, pick_device
from encoder.recipe import for_collection
from encoder.training_run import TrainingRun


def measure(side: int, steps: int, device: torch.device) -> dict:
    chosen = for_collection(side, photo_count=10_000)  # the recipe of a collection of thousands
    model_cfg, cfg = chosen.model, chosen.training
    kept = cfg.view_source_side or side
    # The training split holds `steps` batches; the validation split is not trained on.
    images = torch.randint(0, 256, (round(steps * cfg.batch_size / (1 - cfg.val_fraction)) + 1, 3, kept, kept))
    run = TrainingRun(images.to(torch.uint8), model_cfg, cfg, device)
    epoch = lambda: run.train_epoch(lambda _: None, lambda: None)  # noqa: E731
    epoch()  # warm-up: kernels chosen, memory allocated
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        epoch()
        seconds.append((time.perf_counter() - start) / run.steps_per_epoch)
    with profile() as prof:
        epoch()
    ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::")) / run.steps_per_epoch
    return {
        "batch": run.batch,
        "steps_per_epoch": run.steps_per_epoch,
        "ms_per_step": round(1000 * statistics.median(seconds), 1),
        "ms_per_step_each_epoch": [round(1000 * s, 1) for s in seconds],
        "aten_ops_per_step": round(ops),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="32,48", help="training sides, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="steps in an epoch")
    args = parser.parse_args()
    device = pick_device()
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "bf16": bf16_is_fast(device),
        "torch": torch.__version__,
    }
    for side in (int(s) for s in args.sides.split(",")):
        report[f"side_{side}"] = measure(side, args.steps, device)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
