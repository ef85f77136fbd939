"""The recipe variants `python -m bench.quality --variants` measures against the product's default, each
changing one thing; "a+b" joins two."""

from __future__ import annotations

# name -> (what it tests, ModelConfig overrides, TrainConfig overrides, AugmentConfig overrides,
#          other recipe changes: {"train_side": px, "embed_side": px})
VARIANTS: dict[str, tuple[str, dict, dict, dict, dict]] = {
    "default": ("the product's recipe for these photos", {}, {}, {}, {}),
    "flatten": (
        "the last map flattened (the 32 px recipe's head) instead of averaged",
        {"pooling": "flatten"},
        {},
        {},
        {},
    ),
    "decoder_map": (
        "the decoder redraws from the encoder's last map, not from the pooled embedding",
        {"decoder_input": "map"},
        {},
        {},
        {},
    ),
    "decoder_map_6": (
        "the decoder redraws from the encoder's 6x6 map (the one before the last, at 48 px)",
        {"decoder_input": "map", "decoder_map_side": 6},
        {},
        {},
        {},
    ),
    "decoder_map_12": (
        "the decoder redraws from the encoder's 12x12 map (two before the last, at 48 px)",
        {"decoder_input": "map", "decoder_map_side": 12},
        {},
        {},
        {},
    ),
    "decoder_detached": (
        "the reconstruction trains the decoder only, not the encoder",
        {"decoder_detached": True},
        {},
        {},
        {},
    ),
    "plain_autoencoder": ("reconstruction loss only, no contrastive term", {}, {"contrastive_weight": 0.0}, {}, {}),
    "two_views": ("contrastive over two views, without the small multi-crop views", {}, {}, {"small_views": 0}, {}),
    "crop_scale_0.08": ("crops of 8% to all of the photo instead of 25%", {}, {}, {"crop_scale": (0.08, 1.0)}, {}),
    "colour_strong": (
        "colour jitter twice as strong (brightness, contrast, saturation 0.8, hue 0.2), as SimCLR's strength 1",
        {},
        {},
        {"brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2},
        {},
    ),
    "recon_weight_1": ("reconstruction weighted 1 instead of 5", {}, {"recon_weight": 1.0}, {}, {}),
    "batch_256": ("batches of 256 instead of 64 (4x fewer steps)", {}, {"batch_size": 256}, {}, {}),
    "batch_128": ("batches of 128 instead of 64", {}, {"batch_size": 128}, {}, {}),
    "batch_32": ("batches of 32 instead of 64", {}, {"batch_size": 32}, {}, {}),
    "temperature_0.05": ("contrastive temperature 0.05 instead of 0.1", {}, {"temperature": 0.05}, {}, {}),
    "temperature_0.2": (
        "contrastive temperature 0.2 (the default until 2026-11-27) instead of 0.1",
        {},
        {"temperature": 0.2},
        {},
        {},
    ),
    "lr_1e-3": ("learning rate 1e-3 instead of 2e-3", {}, {"learning_rate": 1e-3}, {}, {}),
    "weight_decay_0.05": ("AdamW weight decay 0.05 instead of 5e-4", {}, {"weight_decay": 0.05}, {}, {}),
    "small_views_match_each_other": (
        "small views also matched to each other, not only to the two full views (the default until 2026-11-27)",
        {},
        {"small_views_match_each_other": True},
        {},
        {},
    ),
    "lr_4e-3": ("learning rate 4e-3 instead of 2e-3", {}, {"learning_rate": 4e-3}, {}, {}),
    "wider": ("encoder width 24 instead of 16", {"width": 24}, {}, {}, {}),
    "best_val_epoch": (
        "stop on the validation loss and keep its best epoch (the old rule)",
        {},
        {"patience": 10},
        {},
        {},
    ),
    "source_112": (
        "training's views cropped from the photo as embedded (112 px), not from it shrunk to 80 px",
        {},
        {"view_source_side": None},
        {},
        {},
    ),
    "colour_weak": (
        "colour jitter half as strong (brightness, contrast, saturation 0.2, hue 0.05): a breed's coat colour kept",
        {},
        {},
        {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05},
        {},
    ),
    "embed_at_train_side": ("embedded at the side it trained at, not larger", {}, {}, {}, {"embed_side": "train"}),
    "side_32": ("32 px input (the thumbnail recipe)", {}, {}, {}, {"train_side": 32, "embed_side": 32}),
    "side_128": ("128 px input", {}, {}, {}, {"train_side": 128, "embed_side": 160}),
}

# The count of small multi-crop views: photos train with six, thumbnails with four.
VARIANTS |= {
    f"small_views_{n}": (
        f"{n} small multi-crop views (photos train with six, thumbnails four)",
        {},
        {},
        {"small_views": n},
        {},
    )
    for n in (2, 4, 6, 8)
}


def variant(name: str) -> tuple[str, dict, dict, dict, dict]:
    """A variant of VARIANTS, or several joined by "+" (each one's overrides applied in turn)."""
    parts = [VARIANTS[part] for part in name.split("+")]
    merged: list[dict] = [{}, {}, {}, {}]
    for part in parts:
        for into, overrides in zip(merged, part[1:]):
            into.update(overrides)
    return "; ".join(part[0] for part in parts), *merged
