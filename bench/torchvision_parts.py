"""torchvision against what the project writes by hand, on real photos: decoding, the fixed
transform, training augmentation. Prints JSON; docs/architecture.md ("torchvision") reads it.

    python -m bench.torchvision_parts [--zip bigcats] [--photos 300]
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile

import torch
from torchvision.io import decode_jpeg
from torchvision.transforms import v2

from bench import datasets
from encoder.checkpoint import RESIZE_PILLOW, TransformSpec
from encoder.transforms import AugmentConfig, BatchAugment, fixed_transform
from ingest.images import decode


def per_item_ms(call, items, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            call(item)
    return round((time.perf_counter() - started) / repeat / len(items) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--zip",
        type=datasets.zip_path,
        default="bigcats",
        help="a data set by name (bench/datasets.py), or the path of a zip",
    )
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--side", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with zipfile.ZipFile(args.zip) as zf:
        files = [zf.read(i) for i in zf.infolist() if not i.is_dir()][: args.photos]
    images = [decode(data, target_side=args.side).image for data in files]
    new, old = TransformSpec(image_size=args.side), TransformSpec(image_size=args.side, resize=RESIZE_PILLOW)
    differences = [
        (fixed_transform(im, new).float() - fixed_transform(im, old).float()).abs().mean().item() for im in images
    ]
    batch = torch.stack([fixed_transform(im, TransformSpec(image_size=64)) for im in images[:256]]).float() / 255
    ours = BatchAugment(AugmentConfig(), torch.Generator().manual_seed(0))
    theirs = v2.Compose(
        [
            v2.RandomResizedCrop(64, scale=(0.25, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(0.2),
        ]
    )
    print(
        json.dumps(
            {
                "photos": len(files),
                "zip": args.zip.name,
                "torch_threads": 1,
                "decode_ms_per_photo": {
                    "pillow (ours: sniffing, bomb check, EXIF, every mode)": per_item_ms(decode, files),
                    "pillow with draft at the model side (ours, training read)": per_item_ms(
                        lambda d: decode(d, target_side=args.side), files
                    ),
                    "torchvision.io.decode_jpeg (JPEG only, no checks)": per_item_ms(
                        lambda d: decode_jpeg(torch.frombuffer(bytearray(d), dtype=torch.uint8)), files
                    ),
                },
                "fixed_transform_ms_per_photo": {
                    "torchvision resize + center_crop (ours now)": per_item_ms(
                        lambda im: fixed_transform(im, new), images
                    ),
                    "pillow resize + crop (ours before; old checkpoints)": per_item_ms(
                        lambda im: fixed_transform(im, old), images
                    ),
                    "mean absolute difference, 0-255": round(sum(differences) / len(differences), 3),
                },
                "augment_ms_per_batch_of_256_at_64px": {
                    "BatchAugment (ours: per-image parameters, whole batch at once)": per_item_ms(ours, [batch], 5),
                    "torchvision.transforms.v2, image by image": per_item_ms(
                        lambda b: torch.stack([theirs(x) for x in b]), [batch], 2
                    ),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
