"""What training minimises: the reconstruction of a view, plus a contrastive term that makes
all the views of one photo land close together and away from the other photos'."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from encoder.model import Autoencoder
from encoder.transforms import BatchAugment


def nt_xent(*views: torch.Tensor, temperature: float, anchors: int | None = None) -> torch.Tensor:
    """NT-Xent over V views of the same B images ([B, d] each): every view must pick out the
    other views of its image among the V*B - 1 others. With two views it is SimCLR's loss;
    with more, each positive pair counts once per anchor (as in SupCon). With `anchors` = A,
    only pairs that include one of the first A views are positives: the later (small) views
    are matched to those, not to each other (multi-crop as in SwAV and DINO)."""
    n, v = len(views[0]), len(views)
    p = F.normalize(torch.cat(views).float(), dim=1)
    logits = p @ p.T / temperature
    logits.fill_diagonal_(float("-inf"))
    log_prob = F.log_softmax(logits, dim=1)
    image = torch.arange(n, device=p.device).repeat(v)
    positive = (image[:, None] == image[None, :]) & ~torch.eye(n * v, dtype=torch.bool, device=p.device)
    if anchors is not None:
        is_anchor = torch.arange(n * v, device=p.device) < anchors * n
        positive &= is_anchor[:, None] | is_anchor[None, :]
    return -(log_prob.masked_fill(~positive, 0).sum(1) / positive.sum(1)).mean()


def training_losses(model: Autoencoder, x: torch.Tensor, augment: BatchAugment, cfg) -> tuple[torch.Tensor, ...]:
    """(total, reconstruction, contrastive) for a batch x in [0, 1]; cfg is a TrainConfig.
    Two views at the model's side and `small_views` small ones; the first view is also
    reconstructed. x may be larger than the model's side: a crop of it keeps more detail.

    Views of one side go through the model as one batch (as DINO groups its crops by resolution):
    two encoder passes a step instead of one per view, half the operations, which is what a GPU's
    step costs (docs/decisions.md, "The views of one side in one batch"); batch norm then normalises over every
    view of the side together, as in SimCLR."""
    side = model.cfg.image_size
    source = cfg.view_source_side
    if source and x.shape[-1] > source:
        x = F.interpolate(x, size=(source, source), mode="bilinear", antialias=True, align_corners=False)
    n, full_views, small_views = len(x), 2, cfg.augment.small_views
    full = augment(x.repeat(full_views, 1, 1, 1), side)  # rows [0, n): each image's first view; then its second
    first = full[:n]
    if cfg.noise_std > 0:
        full = torch.cat([first + cfg.noise_std * torch.randn_like(first), full[n:]])
    z_full, recon = model(full, redrawn=n)
    latents = [z_full]
    if small_views:
        latents.append(model.encoder(augment.small(x.repeat(small_views, 1, 1, 1))))
    recon_loss = F.mse_loss(recon.float(), first)
    anchors = None if cfg.small_views_match_each_other else full_views
    views = model.projection(torch.cat(latents)).split(n)
    contrastive = nt_xent(*views, temperature=cfg.temperature, anchors=anchors)
    total = cfg.recon_weight * recon_loss + cfg.contrastive_weight * contrastive
    return total, recon_loss, contrastive
