"""Pictures of a model: the training curve, and captioned image grids (reconstructions here,
search montages in `ingest.montage`)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont


def save_training_plot(history: list[dict], best_epoch: int, path: Path) -> None:
    import matplotlib  # here: only training draws a curve, and pyplot takes 0.3 s to import

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_total, ax_recon) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for ax, key, title in ((ax_total, "loss", "total loss"), (ax_recon, "recon", "reconstruction MSE")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], marker="o", ms=3, label="train")
        if history and history[0][f"val_{key}"] is not None:
            ax.plot(epochs, [h[f"val_{key}"] for h in history], marker="o", ms=3, label="validation")
        ax.axvline(best_epoch, color="grey", ls=":", lw=1, label=f"kept: epoch {best_epoch}")
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 [3, H, W] -> PIL."""
    return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())


def upscale(image: Image.Image, side: int) -> Image.Image:
    """Fit into side x side; small images grow by nearest neighbour so pixels stay crisp."""
    w, h = image.size
    scale = side / max(w, h)
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)


def image_grid(
    rows: list[list[Image.Image | None]],
    captions: list[list[str]] | None = None,
    row_titles: list[str] | None = None,
    cell: int = 96,
) -> Image.Image:
    """Rows of images on white, each cell `cell` px, an optional caption under each image and
    an optional title left of each row. None leaves a cell empty."""
    font = ImageFont.load_default()
    pad, caption_h = 4, (14 if captions else 0)
    title_w = 110 if row_titles else 0
    n_cols = max(len(r) for r in rows)
    width = title_w + n_cols * (cell + pad) + pad
    height = len(rows) * (cell + caption_h + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        top = pad + r * (cell + caption_h + pad)
        if row_titles:
            draw.text((pad, top + cell // 2 - 6), row_titles[r], fill="black", font=font)
        for c, image in enumerate(row):
            if image is None:
                continue
            left = title_w + pad + c * (cell + pad)
            thumb = upscale(image.convert("RGB"), cell)
            canvas.paste(thumb, (left + (cell - thumb.width) // 2, top + (cell - thumb.height) // 2))
            if captions and captions[r][c]:
                draw.text((left, top + cell + 1), captions[r][c][: cell // 6], fill="black", font=font)
    return canvas


def save_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor, path: Path) -> None:
    """Two rows: originals above, what the decoder makes of them below."""
    grid = image_grid(
        [[to_pil(x) for x in originals], [to_pil(x) for x in reconstructions]],
        row_titles=["original", "reconstructed"],
        cell=64,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
