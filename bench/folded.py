"""Does folding the batch norms into the convolutions (`encoder.embed.fold_batch_norms`) change
what a trained model retrieves? Embeds a zip's photos with a model both ways, the model as
trained and folded, and scores each with `ingest evaluate`'s P@10 beside the colour histogram of
the same photos, in the same run. Needs no training: give it the model a load made. Prints JSON.

    python -m bench.folded --model cbir-data/models/<id>/model.pt --zip bigcats
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench import datasets
from bench.baselines import baseline_features
from bench.quality import read_photos, score, tensors
from encoder import checkpoint as ckpt
from encoder.embed import Embedder

HISTOGRAM = "colour histogram (8x8x8, square root)"


def embedded(embedder: Embedder, data) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed(data[i : i + 128])[0] for i in range(0, len(data), 128)])
    return vectors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--zip", default="bigcats", help="a data set by name (bench/datasets.py), or the path of a zip")
    args = parser.parse_args()
    zip_path = datasets.zip_path(args.zip)
    images, labels, _ = read_photos(zip_path, None)
    folded = Embedder.from_file(args.model)
    as_trained = Embedder.from_file(args.model)
    as_trained.model = ckpt.load(args.model).build_model().to(as_trained.device).to(memory_format=torch.channels_last)
    data = tensors(images, folded.checkpoint.transform.image_size)
    scratch = Path(tempfile.mkdtemp(prefix="cbir-folded-"))
    trained_vectors, trained_s = embedded(as_trained, data)
    folded_vectors, folded_s = embedded(folded, data)
    print(
        json.dumps(
            {
                "zip": zip_path.name,
                "photos": len(images),
                "model": str(args.model),
                "as trained": {**score(trained_vectors, labels, scratch), "embed_s": round(trained_s, 1)},
                "batch norms folded": {**score(folded_vectors, labels, scratch), "embed_s": round(folded_s, 1)},
                "min cosine, folded vs as trained": float((trained_vectors * folded_vectors).sum(1).min()),
                HISTOGRAM: score(baseline_features(images)[HISTOGRAM], labels, scratch),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
