"""How close a re-encoded copy of a photo stays to it, against how close distinct photos come:
the numbers behind `ingest duplicates`' default threshold (0.98). Prints JSON.

Every photo of the zip is re-encoded as JPEG at a few qualities and embedded exactly as
`ingest load` embeds (the collection's own model, `Embedder.embed_images`); each copy's
cosine to its original is reported, with the share of photos whose nearest *other* photo
lies above the threshold (false duplicates, or real near-duplicates inside the zip).

    python -m bench.recompression --home DIR    # a data directory loaded from the zip
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench import datasets
from encoder.embed import Embedder
from ingest import store
from ingest.images import decode
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols

QUALITIES = (90, 75, 60)
THRESHOLD = 0.98  # `ingest duplicates --threshold`'s default


def reencoded(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return decode(buffer.getvalue()).image


def embed_all(embedder: Embedder, images: list[Image.Image], batch: int = 256) -> np.ndarray:
    return np.concatenate([embedder.embed_images(images[i : i + batch])[0] for i in range(0, len(images), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument(
        "--zip",
        type=datasets.zip_path,
        default="cifar10-animals",
        help="a data set by name (bench/datasets.py), or the path of a zip",
    )
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    args = parser.parse_args()
    settings = Settings(args.home)
    with store.open_store(settings) as db:
        embedder = Embedder.from_file(cols.checkpoint_path(settings, cols.require(db, args.collection)))
    with zipfile.ZipFile(args.zip) as zf:
        originals = [decode(zf.read(i)).image for i in zf.infolist() if not i.is_dir()]
    vectors = embed_all(embedder, originals)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    nearest_other = similarity.max(axis=1)
    copies = {}
    for quality in QUALITIES:
        cosine = (embed_all(embedder, [reencoded(im, quality) for im in originals]) * vectors).sum(axis=1)
        copies[f"jpeg_quality_{quality}"] = {
            "median": round(float(np.median(cosine)), 4),
            "p5": round(float(np.percentile(cosine, 5)), 4),
            "min": round(float(cosine.min()), 4),
            "share_above_threshold": round(float((cosine > THRESHOLD).mean()), 4),
        }
    print(
        json.dumps(
            {
                "zip": str(args.zip),
                "photos": len(originals),
                "model_id": embedder.model_id,
                "threshold": THRESHOLD,
                "copy_vs_original": copies,
                "distinct_photos": {
                    "nearest_other_median": round(float(np.median(nearest_other)), 4),
                    "share_with_a_neighbour_above_threshold": round(float((nearest_other > THRESHOLD).mean()), 4),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
