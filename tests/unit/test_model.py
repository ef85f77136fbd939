"""The modules alone (encoder/model.py): what a configuration may build, and what the decoder
redraws from: the embedding, or one of the encoder's maps."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from encoder.model import Autoencoder, ModelConfig


def test_model_config_rejects_sizes_it_cannot_build():
    with pytest.raises(ValueError, match="power of two"):
        ModelConfig(image_size=48)
    with pytest.raises(ValueError, match="decoder_input"):
        ModelConfig(decoder_input="pixels")
    for side in (5, 48, 96):  # not a side the encoder passes through below its input
        with pytest.raises(ValueError, match="decoder_map_side"):
            ModelConfig(image_size=48, bottleneck_side=3, decoder_input="map", decoder_map_side=side)
    with pytest.raises(ValueError, match="decoder_map_side"):
        ModelConfig(image_size=48, bottleneck_side=3, decoder_map_side=6)  # the embedding has no side


def test_a_map_decoder_redraws_where_things_are_which_the_averaged_embedding_forgets():
    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(image_size=48, pooling="avg", bottleneck_side=3, decoder_input="map")).eval()
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        z, recon = model(x)
        features = model.encoder.feature_map(x)
        assert features.shape == (2, 256, 3, 3)
        torch.testing.assert_close(z, model.encoder(x))
        torch.testing.assert_close(model.decoder(features), recon)
        # A map with a layout (an untrained encoder's is almost flat), and the same map upside
        # down: the same average, so the same embedding, but another picture.
        layout = torch.randn(2, 256, 3, 3)
        upside_down = layout.flip(-2)
        torch.testing.assert_close(model.encoder.latent(upside_down), model.encoder.latent(layout))
        # (An untrained decoder damps its input: 4e-3 here, against 1e-7 for one picture twice.)
        assert (model.decoder(upside_down) - model.decoder(layout)).abs().max() > 1e-4


def test_a_decoder_from_a_larger_map_draws_from_that_map_and_detached_trains_only_itself():
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=48, pooling="avg", bottleneck_side=3, decoder_input="map", decoder_map_side=12)
    model = Autoencoder(cfg).eval()
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        z, recon = model(x)
        # Two downsampling stages (each a strided convolution and one block) reach 12x12.
        twelve = model.encoder.features[:5](x - 0.5)
        assert twelve.shape == (2, 64, 12, 12)
        torch.testing.assert_close(model.decoder(twelve), recon)
        torch.testing.assert_close(z, model.encoder(x))
        # A photo embedded larger than training's side is redrawn at its own side, from its larger map.
        assert model(torch.rand(2, 3, 112, 112))[1].shape == (2, 3, 112, 112)

    def encoder_grads(config: ModelConfig) -> list:
        torch.manual_seed(0)
        model = Autoencoder(config)
        model(torch.rand(2, 3, config.image_size, config.image_size))[1].mean().backward()  # the reconstruction alone
        assert all(p.grad is not None for p in model.decoder.parameters())
        return [p.grad for p in model.encoder.features.parameters()]

    assert all(g is not None and g.abs().sum() > 0 for g in encoder_grads(cfg)[:6])
    assert all(g is None for g in encoder_grads(replace(cfg, decoder_detached=True)))
    assert all(g is None for g in encoder_grads(ModelConfig(image_size=32, decoder_detached=True)))
