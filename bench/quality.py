"""Retrieval quality of the encoder, and what each idea adds: the README's ablation. Prints JSON.

Every variant trains from scratch on ../shared/datasets/cifar10-animals.zip with the product's
own training code and time budget (labels never seen), embeds all 6,000 photos with the fixed
transform, stores the vectors with their labels in a Qdrant collection (embedded, in memory)
and scores it with `ingest evaluate`'s own function: each photo queries all the others through
Qdrant; P@10 is the share of the 10 nearest that carry its label (chance 0.167).

Training variants differ from the default in one setting each; embedding variants reuse the
default model and change only how a latent becomes the stored vector.

    python bench/quality.py [--variants default,plain_autoencoder,...] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from qdrant_client import QdrantClient, models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encoder.embed import latents  # noqa: E402
from encoder.model import ModelConfig  # noqa: E402
from encoder.train import TrainConfig, pick_device, split, train  # noqa: E402
from encoder.transforms import AugmentConfig, TransformSpec, fixed_transform  # noqa: E402
from ingest.evaluate import evaluate  # noqa: E402
from ingest.store import CollectionState  # noqa: E402

DEFAULT_ZIP = ROOT.parent / "shared" / "datasets" / "cifar10-animals.zip"

# name -> (what it tests, ModelConfig overrides, TrainConfig overrides, AugmentConfig overrides)
TRAINING_VARIANTS: dict[str, tuple[str, dict, dict, dict]] = {
    "default": ("the product's default", {}, {}, {}),
    "plain_autoencoder": ("reconstruction loss only: no contrastive term", {}, {"contrastive_weight": 0.0}, {}),
    "two_views": ("contrastive on two views, without the small multi-crop views", {}, {}, {"small_views": 0}),
    "reconstruction_weight_1": ("reconstruction weighted 1 instead of 5", {}, {"recon_weight": 1.0}, {}),
    "denoising": ("plus denoising: the encoder sees Gaussian noise (std 0.1)", {}, {"noise_std": 0.1}, {}),
    "avg_pooling": ("average-pooled last map instead of flattened", {"pooling": "avg"}, {}, {}),
    "wider": ("encoder width 24 instead of 16 (fewer epochs fit)", {"width": 24}, {}, {}),
    "image_size_64": ("64 px input, photos upscaled (fewer epochs fit)", {"image_size": 64}, {}, {}),
    "float32": ("training in float32, not bfloat16 (fewer epochs fit)", {}, {"bf16": False}, {}),
}
# Embedding variants of the default model: how a latent becomes the stored vector.
EMBEDDING_VARIANTS = (
    "as stored: mirror-averaged, centred",
    "not mirror-averaged",
    "not centred",
    "whitened as well (PCA, shrinkage 0.01)",
    "projection head output",
)


def read_zip(path: Path, size: int) -> tuple[torch.Tensor, list[str]]:
    spec, images, labels = TransformSpec(image_size=size), [], []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            images.append(fixed_transform(Image.open(io.BytesIO(zf.read(info))).convert("RGB"), spec))
            labels.append(Path(info.filename).parent.name)
    return torch.stack(images), labels


def precision_through_qdrant(vectors: np.ndarray, labels: list[str], k: int = 10) -> dict:
    """The vectors and labels as a Qdrant collection, scored by `ingest evaluate`."""
    client = QdrantClient(":memory:")
    client.create_collection(
        "bench", vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE)
    )
    for i in range(0, len(vectors), 1000):
        client.upload_points(
            "bench",
            [
                models.PointStruct(id=j, vector=vectors[j].tolist(), payload={"label": labels[j]})
                for j in range(i, min(i + 1000, len(vectors)))
            ],
        )
    result = evaluate(client, CollectionState("bench", "bench", None, {}), k, show_progress=False)
    return {"precision_at_10": round(result["precision_at_k"], 4), "map_at_10": round(result["map_at_k"], 4)}


def all_latents(model, images: torch.Tensor, device, flip_average: bool = True) -> np.ndarray:
    return (
        torch.cat([latents(model, images[i : i + 512], device, flip_average) for i in range(0, len(images), 512)])
        .cpu()
        .numpy()
    )


def centred(z: np.ndarray, train_indices: torch.Tensor) -> np.ndarray:
    """Centred on the training images' mean, as `Embedder.embed` does."""
    return z - z[train_indices.numpy()].mean(0)


def whitened(z: np.ndarray, train_indices: torch.Tensor, shrinkage: float = 1e-2) -> np.ndarray:
    """PCA-whitened by the training images' statistics, with shrinkage (a share of the largest
    eigenvalue added to each, so near-empty directions are not blown up). Tried, not kept."""
    train = z[train_indices.numpy()].astype(np.float64)
    mean = train.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov((train - mean).T))
    eigenvalues = eigenvalues.clip(min=0)
    return (z - mean) @ (eigenvectors / np.sqrt(eigenvalues + shrinkage * eigenvalues.max()))


def run_variant(name: str, zip_path: Path, images_by_size: dict, labels: list[str], budget_s: float, device) -> dict:
    what, model_over, train_over, augment_over = TRAINING_VARIANTS[name]
    model_cfg = ModelConfig(**model_over)
    cfg = replace(TrainConfig(time_budget_s=budget_s, augment=AugmentConfig(**augment_over)), **train_over)
    if model_cfg.image_size not in images_by_size:
        images_by_size[model_cfg.image_size] = read_zip(zip_path, model_cfg.image_size)[0]
    images = images_by_size[model_cfg.image_size]
    curve: list[dict] = []
    split_indices = split(len(images), cfg)  # the same split train() makes

    def every_fifth_epoch(record: dict, model) -> None:
        if name == "default" and record["epoch"] % 5 == 0:
            model.eval()
            z = all_latents(model, images, device)
            curve.append({"epoch": record["epoch"], **precision_through_qdrant(centred(z, split_indices[0]), labels)})
            model.train()

    started = time.perf_counter()
    result = train(images, model_cfg, cfg, device=device, on_epoch=every_fifth_epoch)
    model = result.model.to(device)
    z = all_latents(model, images, device)
    out = {
        "what": what,
        "epochs": len(result.history),
        "seconds_per_epoch": round(result.seconds / len(result.history), 1),
        "val_recon_mse": round(result.history[result.best_epoch - 1]["val_recon"], 4),
        **precision_through_qdrant(centred(z, result.train_indices), labels),
        "train_seconds": round(time.perf_counter() - started),
    }
    if name == "default":
        out["curve"] = curve
        plain = all_latents(model, images, device, flip_average=False)
        with torch.inference_mode():
            projected = model.projection(torch.from_numpy(z).to(device)).cpu().numpy()
        out["embeddings"] = {
            EMBEDDING_VARIANTS[0]: {k: out[k] for k in ("precision_at_10", "map_at_10")},
            EMBEDDING_VARIANTS[1]: precision_through_qdrant(centred(plain, result.train_indices), labels),
            EMBEDDING_VARIANTS[2]: precision_through_qdrant(z, labels),
            EMBEDDING_VARIANTS[3]: precision_through_qdrant(whitened(z, result.train_indices), labels),
            EMBEDDING_VARIANTS[4]: precision_through_qdrant(projected - projected.mean(0), labels),
        }
    print(json.dumps({name: out}), file=sys.stderr, flush=True)  # progress, one line per variant
    return out


def raw_pixels(images: torch.Tensor, labels: list[str]) -> dict:
    flat = images.reshape(len(images), -1).float().numpy()
    return {
        "what": "raw pixels (3,072 values), mean-centred: no model",
        **precision_through_qdrant(flat - flat.mean(0), labels),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--variants", default=",".join(TRAINING_VARIANTS))
    parser.add_argument("--budget-s", type=float, default=TrainConfig().time_budget_s)
    args = parser.parse_args()
    device = pick_device()
    images, labels = read_zip(args.zip, ModelConfig().image_size)
    images_by_size = {ModelConfig().image_size: images}
    results = {
        "zip": str(args.zip),
        "images": len(labels),
        "device": device.type,
        "budget_s": args.budget_s,
        "raw_pixels": raw_pixels(images, labels),
    }
    for name in args.variants.split(","):
        results[name] = run_variant(name, args.zip, images_by_size, labels, args.budget_s, device)
    print(json.dumps(results, indent=2))
