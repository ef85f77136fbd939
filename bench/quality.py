"""Retrieval quality on real photos and on thumbnails, and what each idea of the recipe adds: the
tables of docs/benchmarks.md. Prints JSON (one line per finished run on stderr as it goes).

For each zip (`bigcats.zip` and `cifar10-animals.zip` for the ablation; `dogbreeds.zip`
reported), in one run:
- the baselines, computed here on the same photos (bench/baselines.py): raw pixels, centred
  pixels, an 8x8x8 colour histogram;
- training variants: the product's recipe for that zip (`ingest.load.training.recipe`, the side
  chosen from the photos' sizes as `ingest load` chooses it), and variants that change one thing;
  each trains from scratch with the product's code and time budget (labels never seen), embeds
  every photo with the product's `Embedder`, and is scored by `ingest evaluate`'s own function
  through a real embedded store: P@10, mAP@10, and the held-out reconstruction MSE and PSNR;
- embedding variants of the default model: how its latent becomes the stored vector.
With --product it also runs the real `ingest load ZIP` then `ingest evaluate` (wall minutes,
peak memory): the numbers the README quotes. --subset N keeps N photos of each label.

    python -m bench.quality --zip bigcats --variants default,flatten,... [--budget-s 540]
    python -m bench.quality --zip bigcats --product
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench import ROOT, datasets
from bench.baselines import baseline_features
from bench.child_memory import PeakMemory
from bench.machine import machine
from bench.variants import VARIANTS, variant
from encoder.checkpoint import TransformSpec
from encoder.embed import Embedder, latents
from encoder.fit import fit
from encoder.recipe import choose_side, for_collection
from encoder.transforms import fixed_transform
from ingest.images import decode
from ingest.load.records import point_id
from ingest.query.evaluate import evaluate
from ingest.store import Point
from ingest.store.collections import CollectionState
from ingest.store.edge import EdgeStore

# How the default model's latent becomes the stored vector, and that with one step left out.
EMBEDDINGS = (
    "as stored: mirror-averaged, centred, whitened",
    "not mirror-averaged (centred, whitened)",
    "not whitened (mirror-averaged, centred)",
    "neither centred nor whitened (mirror-averaged)",
)


COLOUR_HISTOGRAM = "colour histogram (8x8x8, square root)"


def read_photos(path: Path, per_label: int | None) -> tuple[list[Image.Image], list[str], list[tuple[int, int]]]:
    """Every photo decoded (JPEG at a reduced scale, as the load's training read does), its
    label, and its size; --subset keeps `per_label` photos of each label (seeded)."""
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        if per_label:
            by_label: dict[str, list[str]] = {}
            for name in names:
                by_label.setdefault(Path(name).parent.name, []).append(name)
            rng = random.Random(0)
            names = sorted(n for group in by_label.values() for n in rng.sample(group, min(per_label, len(group))))
        decoded = [decode(zf.read(name), target_side=256) for name in names]
    return [d.image for d in decoded], [Path(n).parent.name for n in names], [(d.width, d.height) for d in decoded]


def score(vectors: np.ndarray, labels: list[str], scratch: Path) -> dict:
    """P@10 and mAP@10 by `ingest evaluate`, through a real embedded store."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    with EdgeStore(folder) as store:
        store.create_collection("bench", vectors.shape[1], {})
        for start in range(0, len(vectors), 512):
            store.upsert(
                "bench",
                [
                    Point(point_id(str(i)), vectors[i], {"label": labels[i]})
                    for i in range(start, min(len(vectors), start + 512))
                ],
            )
        result = evaluate(store, CollectionState("bench", "bench", None, {}), 10, show_progress=False)
    return {"precision_at_10": round(result["precision_at_k"], 4), "map_at_10": round(result["map_at_k"], 4)}


def tensors(images: list[Image.Image], side: int) -> torch.Tensor:
    spec = TransformSpec(image_size=side)
    return torch.stack([fixed_transform(image, spec) for image in images])


def run_variant(name: str, images, labels, sizes, budget_s: float, scratch: Path) -> dict:
    what, model_over, train_over, augment_over, other = variant(name)
    side = other.get("train_side") or choose_side([min(s) for s in sizes]).side
    chosen = for_collection(side, len(images))
    model_cfg, train_cfg, embed_side = chosen.model, chosen.training, chosen.embed_side
    if "train_side" in other:
        embed_side = other["embed_side"]
    if other.get("embed_side") == "train":
        embed_side = model_cfg.image_size
    model_cfg = replace(model_cfg, **model_over)
    augment = replace(train_cfg.augment, **augment_over) if augment_over else train_cfg.augment
    train_cfg = replace(train_cfg, time_budget_s=budget_s, augment=augment, **train_over)
    data = tensors(images, embed_side)
    started = time.perf_counter()
    path = fit(data, scratch / "models", model_cfg, train_cfg, {"source": "bench"}, whiten=chosen.whiten)
    embedder = Embedder.from_file(path)
    vectors = np.concatenate([embedder.embed(data[i : i + 256])[0] for i in range(0, len(data), 256)])
    summary = embedder.checkpoint.summary
    mse = summary["held_out_recon_mse"]
    out = {
        "what": what,
        "recipe": chosen.name,
        "train_side": model_cfg.image_size,
        "embed_side": embed_side,
        "epochs": summary["epochs_run"],
        "seconds_per_epoch": round(summary["seconds_per_epoch"], 1),
        **score(vectors, labels, scratch),
        "held_out_recon_mse": round(mse, 4),
        "held_out_recon_psnr_db": round(10 * math.log10(1 / mse), 2),
        "train_seconds": round(time.perf_counter() - started),
    }
    if name == "default":
        out["embeddings"] = embedding_variants(embedder, data, labels, out, scratch)
        out["reconstructions"] = str(path.parent / "reconstructions.png")
    print(json.dumps({name: out}), file=sys.stderr, flush=True)
    return out


def embedding_variants(embedder: Embedder, data: torch.Tensor, labels: list[str], stored: dict, scratch: Path) -> dict:
    model, device = embedder.model, embedder.device
    mirrored = torch.cat([latents(model, data[i : i + 256], device, True) for i in range(0, len(data), 256)]).numpy()
    plain = torch.cat([latents(model, data[i : i + 256], device, False) for i in range(0, len(data), 256)]).numpy()
    mean = embedder.mean.cpu().numpy()
    whitening = embedder.whitening.cpu().numpy() if embedder.whitening is not None else np.eye(mean.shape[-1])
    return {
        EMBEDDINGS[0]: {k: stored[k] for k in ("precision_at_10", "map_at_10")},
        EMBEDDINGS[1]: score(((plain - mean) @ whitening).astype(np.float32), labels, scratch),
        EMBEDDINGS[2]: score(mirrored - mean, labels, scratch),
        EMBEDDINGS[3]: score(mirrored, labels, scratch),
    }


def product(zip_path: Path, scratch: Path, epochs: int | None = None) -> dict:
    """The real `ingest load ZIP` (training included), then `ingest evaluate`; with `epochs`,
    `ingest load ZIP --epochs N`: what training longer than the budget buys."""
    home = scratch / "product-home"
    env = {**os.environ, "CBIR_HOME": str(home)}
    env.pop("QDRANT_URL", None)

    def cli(*args: str) -> tuple[dict, str, int]:
        """One `ingest` command, as a user runs it; its JSON output, what it said on stderr, which
        is passed on as it comes (a long load's epochs show in this script's log), and its peak MB."""
        command = [sys.executable, "-m", "ingest.cli", *args, "--json"]
        with tempfile.TemporaryFile("w+") as stdout:
            done = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
            said = []
            with PeakMemory(done.pid) as peak:
                for line in done.stderr:
                    said.append(line)
                    print(f"  {line}", end="", file=sys.stderr, flush=True)
                if done.wait():
                    raise SystemExit(f"ingest {args[0]} failed: {''.join(said)[-2000:]}")
            stdout.seek(0)
            return json.load(stdout), "".join(said), peak.mb

    started = time.perf_counter()
    loaded, said, peak_mb = cli("load", str(zip_path), *(["--epochs", str(epochs)] if epochs else []))
    wall = time.perf_counter() - started
    (evaluated, _, _), (info, _, _) = cli("evaluate"), cli("info")
    return {
        "load_minutes": round(wall / 60, 2),
        "training_budget": next((line for line in said.splitlines() if line.startswith("training for ")), None),
        "train_seconds": round(loaded["train_seconds"]),
        "peak_rss_mb": peak_mb,
        "points": info["points"],
        "input_side": info["model"]["trained_on"]["input_side"],
        "recipe": info["model"]["trained_on"].get("recipe"),
        "epochs": info["model"]["epochs_run"],
        "precision_at_10": round(evaluated["precision_at_k"], 4),
        "map_at_10": round(evaluated["map_at_k"], 4),
        "chance_precision_at_10": round(evaluated["chance_precision_at_k"], 4),
        "held_out_recon_mse": round(info["model"]["held_out_recon_mse"], 4),
        "reconstructions": info["pictures"]["reconstructions"],
        "model_id": info["model_id"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", default="bigcats", help="a data set by name (bench/datasets.py), or the path of a zip")
    parser.add_argument("--variants", default="", help=f"comma-separated, of: {', '.join(VARIANTS)}; a+b combines two")
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--subset", type=int, default=None, help="keep this many photos of each label")
    parser.add_argument("--product", action="store_true", help="also the real ingest load + ingest evaluate")
    parser.add_argument("--keep", type=Path, default=None, help="keep models and stores here")
    parser.add_argument("--epochs", type=int, default=None, help="--product trains exactly this many epochs")
    args = parser.parse_args()
    zip_path = datasets.zip_path(args.zip)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="cbir-quality-"))
    scratch.mkdir(parents=True, exist_ok=True)
    images, labels, sizes = read_photos(zip_path, args.subset)
    report: dict = {
        "zip": zip_path.name,
        "photos": len(images),
        "labels": len(set(labels)),
        "subset_per_label": args.subset,
        "budget_s": args.budget_s,
        "input_side": choose_side([min(s) for s in sizes]).reason,
        "device": str(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
    }
    report["baselines"] = {
        name: score(features, labels, scratch) for name, features in baseline_features(images).items()
    }
    print(json.dumps({"baselines": report["baselines"]}), file=sys.stderr, flush=True)
    report["variants"] = {
        name: run_variant(name, images, labels, sizes, args.budget_s, scratch)
        for name in filter(None, args.variants.split(","))
    }
    if args.product:
        report["product"] = product(
            zip_path if not args.subset else subset_zip(zip_path, images, labels, scratch), scratch, args.epochs
        )
    histogram = report["baselines"][COLOUR_HISTOGRAM]["precision_at_10"]
    for run in [*report["variants"].values(), report.get("product")]:
        if run:  # what the model finds beyond the colours: the baseline real photos must beat
            run["lift_over_colour_histogram"] = round(run["precision_at_10"] - histogram, 4)
    print(json.dumps(report, indent=2))


def subset_zip(zip_path: Path, images: list[Image.Image], labels: list[str], scratch: Path) -> Path:
    """The subset as a zip of its own, for the real `ingest load`."""
    path = scratch / f"{zip_path.stem}-subset.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i, (image, label) in enumerate(zip(images, labels)):
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=92)
            zf.writestr(f"{zip_path.stem}/{label}/{i:05d}.jpg", buffer.getvalue())
    return path


if __name__ == "__main__":
    main()
