"""What embedding in bfloat16 changes, on a CPU with it native (or a GPU): the same photos
embedded in float32 and in bfloat16 by one model, a photo embedded alone against in a batch, and
a JPEG copy (quality 90) against its original, which is what `ingest duplicates` relies on.
Prints JSON; where bfloat16 is not native it is emulated (slow, but the vectors are the same).

    python -m bench.bf16_embedding --model cbir-data/models/<id>/model.pt --zip bigcats
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench import datasets
from encoder.device import bf16_is_fast
from encoder.embed import Embedder


def photos(zip_path: Path, count: int) -> list[Image.Image]:
    with zipfile.ZipFile(zip_path) as archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        picked = names[:: max(1, len(names) // count)][:count]
        return [Image.open(io.BytesIO(archive.read(name))).convert("RGB") for name in picked]


def jpeg_copy(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def embed(embedder: Embedder, batch: torch.Tensor, bf16: bool, size: int) -> tuple[np.ndarray, float]:
    embedder.bf16 = bf16
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed(batch[i : i + size])[0] for i in range(0, len(batch), size)])
    return vectors, time.perf_counter() - started


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit vectors."""
    return (a * b).sum(1)


def summary(cosines: np.ndarray) -> dict:
    return {
        "median": round(float(np.median(cosines)), 5),
        "p5": round(float(np.percentile(cosines, 5)), 5),
        "min": round(float(cosines.min()), 5),
        "share_above_0_98": round(float((cosines > 0.98).mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument(
        "--zip",
        type=datasets.zip_path,
        required=True,
        help="a data set by name (bench/datasets.py), or the path of a zip",
    )
    parser.add_argument("--photos", type=int, default=400)
    args = parser.parse_args()
    embedder = Embedder.from_file(args.model)
    images = photos(args.zip, args.photos)
    batch = torch.stack([embedder.preprocess(im) for im in images])
    copies = torch.stack([embedder.preprocess(jpeg_copy(im)) for im in images[:100]])
    f32, f32_s = embed(embedder, batch, False, 64)
    b16, b16_s = embed(embedder, batch, True, 64)
    b16_alone, _ = embed(embedder, batch[:100], True, 1)
    report = {
        "model": str(args.model),
        "zip": args.zip.name,
        "photos": len(images),
        "native_bf16": bf16_is_fast(embedder.device),
        "seconds": {"float32": round(f32_s, 2), "bfloat16": round(b16_s, 2)},
        "bfloat16_vs_float32": summary(cos(b16, f32)),
        "bfloat16_alone_vs_in_a_batch": summary(cos(b16_alone, b16[:100])),
        "jpeg_copy_vs_original_float32": summary(cos(embed(embedder, copies, False, 64)[0], f32[:100])),
        "jpeg_copy_vs_original_bfloat16": summary(cos(embed(embedder, copies, True, 64)[0], b16[:100])),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
