"""What training minimises: NT-Xent against the loss written out by hand, and a training step's
views, batched by side, against the same losses recomputed view by view."""

from __future__ import annotations

import pytest
import torch

from encoder.losses import nt_xent, training_losses
from encoder.model import Autoencoder, ModelConfig
from encoder.train_config import TrainConfig
from encoder.transforms import AugmentConfig, BatchAugment


def test_nt_xent_rewards_matching_views_and_is_simclrs_loss_for_two():
    torch.manual_seed(0)
    p, q = torch.randn(16, 8), torch.randn(16, 8)
    assert nt_xent(p, p + 0.01 * torch.randn(16, 8), temperature=0.2) < nt_xent(p, q, temperature=0.2)
    # Two views: cross-entropy of each view against its partner, as SimCLR writes it.
    z = torch.nn.functional.normalize(torch.cat([p, q]), dim=1)
    logits = (z @ z.T / 0.2).fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(16, 32), torch.arange(0, 16)])
    expected = torch.nn.functional.cross_entropy(logits, partner)
    assert torch.allclose(nt_xent(p, q, temperature=0.2), expected, atol=1e-5)
    assert nt_xent(p, p, p, temperature=0.2) < nt_xent(p, q, torch.randn(16, 8), temperature=0.2)


def test_nt_xent_with_anchors_matches_small_views_to_the_full_views_only():
    torch.manual_seed(0)
    views = [torch.randn(4, 8) for _ in range(4)]  # two full views, then two small ones
    z = torch.nn.functional.normalize(torch.cat(views), dim=1)
    logits = (z @ z.T / 0.1).fill_diagonal_(float("-inf"))
    log_prob = torch.log_softmax(logits, dim=1)
    # Each anchor's mean log-probability of its positives, written out pair by pair.
    per_anchor = []
    for a in range(16):
        image, view = a % 4, a // 4
        partners = [w for w in range(4) if w != view and (view < 2 or w < 2)]
        per_anchor.append(sum(log_prob[a, w * 4 + image] for w in partners) / len(partners))
    expected = -torch.stack(per_anchor).mean()
    assert torch.allclose(nt_xent(*views, temperature=0.1, anchors=2), expected, atol=1e-5)
    assert not torch.allclose(nt_xent(*views, temperature=0.1), expected, atol=1e-3)


@pytest.mark.parametrize("decoder_input", ["latent", "map"])
def test_the_views_of_one_side_go_through_the_model_as_one_batch(decoder_input):
    model_cfg = ModelConfig(image_size=16, bottleneck_side=2, pooling="avg", decoder_input=decoder_input)
    cfg = TrainConfig(augment=AugmentConfig(small_views=3, small_side=8))
    # In eval mode batch norm uses its running statistics: batching then changes no number, and
    # the losses can be recomputed view by view.
    model = Autoencoder(model_cfg).eval()
    batches = []
    model.encoder.features[0].register_forward_pre_hook(lambda _, args: batches.append(tuple(args[0].shape)))
    views = []

    class Recorded(BatchAugment):
        def __call__(self, *args, **kwargs):
            views.append(super().__call__(*args, **kwargs))
            return views[-1]

    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, recon, contrastive = training_losses(model, x, Recorded(cfg.augment, torch.Generator()), cfg)
        assert batches == [(12, 3, 16, 16), (18, 3, 8, 8)]  # one pass for each side, not one per view
        full, small = views
        per_view = [model.projection(model.encoder(v)) for v in (*full.split(6), *small.split(6))]
        expected = nt_xent(*per_view, temperature=cfg.temperature, anchors=2)
        assert torch.allclose(contrastive, expected, atol=1e-5)
        redrawn = model(full[:6])[1]
        assert torch.allclose(recon, torch.nn.functional.mse_loss(redrawn, full[:6]), atol=1e-6)
