"""How the encoder is trained: the loss weights, the optimiser and the views (nanoGPT's config,
beside `encoder.model.ModelConfig`). Which values each kind of collection gets is
`encoder.recipe`'s; why each default is what it is, docs/decisions.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from encoder.transforms import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    # The defaults are the thumbnail recipe's (encoder/recipe.py: every recipe, the budget and the cap).
    epochs: int = 300  # at most; with a time budget, as many as fit in it (recipe.EPOCH_CAP)
    time_budget_s: float | None = 540.0  # None: exactly `epochs` epochs (early stop aside)
    batch_size: int = 64  # more optimiser steps in the budget: better than 128 or 256 (docs/decisions.md)
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    # 0.1 rather than 0.2: +0.02 to +0.03 P@10 on real photos in the product's own load (dog breeds,
    # big cats), for about 1 dB of reconstruction (docs/decisions.md, "The contrastive temperature").
    temperature: float = 0.1
    # False: a small multi-crop view is pulled towards the two full views of its photo only, not
    # towards its other small views, which may show other parts of it (as SwAV and DINO match
    # them): +0.011 P@10 on dog breeds in the product's own load (docs/decisions.md).
    small_views_match_each_other: bool = False
    recon_weight: float = 5.0  # recognisable reconstructions at no measured cost to retrieval
    contrastive_weight: float = 1.0
    noise_std: float = 0.0  # > 0: denoising, the encoder sees a noisy view, the loss the clean one
    # The side views are cropped from. Images kept larger (to be embedded at a larger side than
    # training's) are first shrunk to it, so training sees the same detail whatever side they
    # are kept at. None: the images' own side.
    view_source_side: int | None = None
    bf16: bool = True  # mixed precision in training, on a GPU or a CPU with native bfloat16
    val_fraction: float = 0.1
    # Epochs without a better validation loss before stopping and going back to the best epoch.
    # None: train to the end of the schedule and keep the last weights, which retrieve better
    # than the best validation loss's (docs/decisions.md: the contrastive validation loss is
    # noisy, and the learning rate has decayed to zero by the last epoch).
    patience: int | None = None
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)
