"""Reconstruction error of trained models on one footing. A model stores its error at the side it
redraws at: 48 px from the embedding, the embedding side (112 px) from a map. This redraws every
photo of a zip with each model, shrinks what is larger than `--side` to it, and compares it with
the photo at that side. Most photos were seen in training (all but the held-out tenth), alike for
every model. Prints JSON.

    python -m bench.recon_at_side --zip bigcats --models DATA/models/<id>/model.pt ... [--side 48]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from bench import datasets
from bench.quality import read_photos, tensors
from encoder.embed import Embedder, at_side
from encoder.transforms import to_float


def errors_at_side(embedder: Embedder, photos: torch.Tensor, side: int) -> dict:
    """Mean squared error on [0, 1] pixels, at the model's own side and at `side`."""
    own, common = [], []
    for batch in photos.split(embedder.batch_size):
        x, recon = to_float(batch), to_float(embedder.reconstruct(batch))
        own.append(((recon - at_side(x, recon.shape[-1])) ** 2).mean(dim=(1, 2, 3)))
        common.append(((at_side(recon, side) - at_side(x, side)) ** 2).mean(dim=(1, 2, 3)))
    own_mse, common_mse = torch.cat(own).mean().item(), torch.cat(common).mean().item()
    return {
        "redrawn_at": recon.shape[-1],
        "mse": round(own_mse, 4),
        "psnr_db": round(10 * math.log10(1 / own_mse), 2),
        f"mse_at_{side}": round(common_mse, 4),
        f"psnr_db_at_{side}": round(10 * math.log10(1 / common_mse), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", default="bigcats", help="a data set by name (bench/datasets.py), or the path of a zip")
    parser.add_argument("--models", type=Path, nargs="+", required=True, help="model.pt files")
    parser.add_argument("--side", type=int, default=48)
    args = parser.parse_args()
    zip_path = datasets.zip_path(args.zip)
    images, _, _ = read_photos(zip_path, None)
    report: dict = {"zip": zip_path.name, "photos": len(images), "side": args.side, "models": {}}
    for path in args.models:
        embedder = Embedder.from_file(path)
        photos = tensors(images, embedder.checkpoint.transform.image_size)
        cfg = embedder.checkpoint.model_config
        report["models"][str(path)] = {
            "decoder_input": cfg.decoder_input,
            "decoder_map_side": cfg.decoder_map_side,
            **errors_at_side(embedder, photos, args.side),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
