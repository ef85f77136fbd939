"""Montages for `--out`: the query and its top-K in one row, each one's reconstruction
below, so a person sees what was found and what the latent vector kept."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from encoder.embed import Embedder
from encoder.plots import image_grid, to_pil
from ingest.query.search import Hit
from ingest.store.media import MediaStore


def reconstructions(embedder: Embedder, images: list[Image.Image]) -> list[Image.Image]:
    batch = torch.stack([embedder.preprocess(im) for im in images])
    return [to_pil(x) for x in embedder.reconstruct(batch)]


def open_hits(media: MediaStore, hits: list[Hit]) -> list[Image.Image | None]:
    """Each hit's stored picture; None where the media file is gone (the cell stays empty)."""
    images: list[Image.Image | None] = []
    for hit in hits:
        try:
            images.append(media.open(hit.sha256))
        except (FileNotFoundError, ValueError):
            images.append(None)
    return images


def search_montage(
    embedder: Embedder, media: MediaStore, query: Image.Image | None, hits: list[Hit], path: Path
) -> None:
    pictures = [query, *open_hits(media, hits)]
    present = [im for im in pictures if im is not None]
    recon_iter = iter(reconstructions(embedder, present))
    recons = [next(recon_iter) if im is not None else None for im in pictures]
    captions = ["query"] + [f"{h.score:.3f} {h.label or ''}" for h in hits]
    grid = image_grid([pictures, recons], [captions, ["" for _ in pictures]], ["images", "reconstructed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def points_montage(media: MediaStore, hits: list[Hit], captions: list[str], path: Path, per_row: int = 10) -> None:
    """A plain grid of points (outliers, duplicate groups), `per_row` to a row."""
    pictures = open_hits(media, hits)
    rows = [pictures[i : i + per_row] for i in range(0, len(pictures), per_row)] or [[]]
    caption_rows = [captions[i : i + per_row] for i in range(0, len(captions), per_row)] or [[]]
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows, caption_rows).save(path)
