"""The convolutional autoencoder: modules only. Training lives in `encoder.train`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 32  # the square side it trains at: bottleneck_side times a power of two
    width: int = 16  # channels of the first stage; each downsampling stage doubles them
    latent_dim: int = 256  # the embedding stored in Qdrant
    projection_dim: int = 128  # the contrastive head's output, used only in training
    bottleneck_side: int = 4  # the encoder stops downsampling at this spatial side
    blocks_per_stage: int = 1  # extra 3x3 convolutions after each downsampling
    decoder_width: int = 128  # the decoder's channels at its smallest map; halved per stage
    pooling: str = "flatten"  # how the last map becomes a vector: "flatten" or "avg"
    # What the decoder redraws from: "latent", the embedding itself; or "map", the encoder's last
    # feature map before pooling, which keeps where things are in the picture.
    decoder_input: str = "latent"

    def __post_init__(self) -> None:
        stages = math.log2(self.image_size / self.bottleneck_side)
        if self.image_size < 8 or stages != int(stages):
            raise ValueError(
                f"image_size must be bottleneck_side ({self.bottleneck_side}) times a power of two "
                f"(got {self.image_size})"
            )
        if self.pooling not in ("flatten", "avg"):
            raise ValueError(f"pooling must be 'flatten' or 'avg' (got {self.pooling!r})")
        if self.decoder_input not in ("latent", "map"):
            raise ValueError(f"decoder_input must be 'latent' or 'map' (got {self.decoder_input!r})")

    @property
    def stages(self) -> int:
        return int(math.log2(self.image_size / self.bottleneck_side))

    def to_dict(self) -> dict:
        return asdict(self)


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Image in [0, 1] -> latent vector: halves the side `stages` times, then flattens (or
    averages) the small map and projects it to the latent size."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(3, cfg.width)]
        channels = cfg.width
        for _ in range(cfg.stages):
            channels *= 2
            layers.append(conv_bn_relu(channels // 2, channels, stride=2))
            layers += [conv_bn_relu(channels, channels) for _ in range(cfg.blocks_per_stage)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.Flatten() if cfg.pooling == "flatten" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        pooled = channels * cfg.bottleneck_side**2 if cfg.pooling == "flatten" else channels
        self.to_latent = nn.Linear(pooled, cfg.latent_dim)
        self.side, self.channels = cfg.bottleneck_side, channels

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last map, bottleneck_side square."""
        # Centre inputs on 0.5 so the first convolution sees a zero-mean signal.
        features = self.features(x - 0.5)
        if features.shape[-1] != self.side:
            # A smaller input (a multi-crop view in training) ends on a smaller map: spread it
            # over the bottleneck's grid so that the same projection applies.
            features = F.adaptive_avg_pool2d(features, self.side)
        return features

    def latent(self, features: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.pool(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent(self.feature_map(x))


class Decoder(nn.Module):
    """Latent vector (or, with decoder_input "map", the encoder's last map) -> image in [0, 1],
    mirroring the encoder with upsampling stages.

    Narrower than the encoder: it only has to make the reconstruction recognisable, and at
    ingest it runs for every image (the reconstruction error), so its cost is ingest speed.
    """

    def __init__(self, cfg: ModelConfig, map_channels: int) -> None:
        super().__init__()
        channels = cfg.decoder_width
        self.channels, self.side = channels, cfg.bottleneck_side
        if cfg.decoder_input == "map":
            self.from_map = nn.Conv2d(map_channels, channels, 1)
        else:
            self.from_latent = nn.Linear(cfg.latent_dim, channels * cfg.bottleneck_side**2)
        layers: list[nn.Module] = []
        for _ in range(cfg.stages):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                conv_bn_relu(channels, channels // 2),
            ]
            channels //= 2
        layers.append(nn.Conv2d(channels, 3, 3, 1, 1))  # RGB out
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: the latent [B, D], or the encoder's last map [B, C, side, side]."""
        if z.dim() == 4:
            x = F.relu(self.from_map(z))
        else:
            x = F.relu(self.from_latent(z)).view(-1, self.channels, self.side, self.side)
        return torch.sigmoid(self.body(x))


class ProjectionHead(nn.Module):
    """The MLP the contrastive loss sees; the embedding is taken before it (SimCLR)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.latent_dim),
            nn.BatchNorm1d(cfg.latent_dim),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.latent_dim, cfg.projection_dim),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class Autoencoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg, self.encoder.channels)
        self.projection = ProjectionHead(cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(latent, reconstruction)"""
        features = self.encoder.feature_map(x)
        z = self.encoder.latent(features)
        return z, self.decoder(features if self.cfg.decoder_input == "map" else z)
