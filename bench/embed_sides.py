"""How one trained model retrieves when photos are embedded at other sides than the one its
checkpoint records, and with the latent whitened (each eigenvalue shrinkage given) instead of only
centred: the FixRes and whitening tables of docs/decisions.md. Embedding again is cheap, so this
needs no training: give it the model a load made (`ingest info` says where it is). Prints JSON.

    python -m bench.embed_sides --model cbir-data/models/<id>/model.pt --zip bigcats --sides 64,80,96,112,128
    python -m bench.embed_sides --model ... --zip dogbreeds --sides 112 --shrinkages 0.0001,0.001,0.01,0.1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench import datasets
from bench.quality import read_photos, score, tensors
from encoder.embed import Embedder, latents


def whitened(centred: np.ndarray, shrinkage: float) -> np.ndarray:
    """PCA whitening estimated on the collection itself, eigenvalues shrunk towards the largest."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred.T.astype(np.float64)))
    scale = np.sqrt(eigenvalues.clip(min=0) + shrinkage * eigenvalues.max())
    return (centred @ (eigenvectors / scale)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--zip", default="bigcats", help="a data set by name (bench/datasets.py), or the path of a zip")
    parser.add_argument("--subset", type=int, default=None, help="keep this many photos of each label")
    parser.add_argument("--sides", default="64,80,96,112,128")
    parser.add_argument("--shrinkages", default="0.001", help="whitening's eigenvalue shrinkage, comma-separated")
    args = parser.parse_args()
    zip_path = datasets.zip_path(args.zip)
    embedder = Embedder.from_file(args.model)
    images, labels, _ = read_photos(zip_path, args.subset)
    mean = embedder.mean.cpu().numpy()
    flip = embedder.checkpoint.embedding_flip_average
    scratch = Path(tempfile.mkdtemp(prefix="cbir-sides-"))
    report = {
        "zip": zip_path.name,
        "photos": len(images),
        "model": str(args.model),
        "trained_side": embedder.model.cfg.image_size,
        "stored_side": embedder.checkpoint.transform.image_size,
        "by_side": {},
    }
    for side in (int(s) for s in args.sides.split(",")):
        data = tensors(images, side)
        batches = (data[i : i + 256] for i in range(0, len(data), 256))
        z = torch.cat([latents(embedder.model, batch, embedder.device, flip) for batch in batches])
        centred = z.numpy() - mean
        report["by_side"][side] = {"centred": score(centred, labels, scratch)} | {
            f"whitened (shrinkage {shrinkage:g})": score(whitened(centred, shrinkage), labels, scratch)
            for shrinkage in (float(s) for s in args.shrinkages.split(","))
        }
        print(json.dumps({side: report["by_side"][side]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
