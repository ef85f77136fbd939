"""The convolutional autoencoder: modules only. Training lives in `encoder.train`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelConfig:
    # The defaults are the thumbnail recipe's; encoder/recipe.py says what photos change, and why.
    image_size: int = 32  # the square side it trains at: bottleneck_side times a power of two
    width: int = 16  # channels of the first stage; each downsampling stage doubles them
    latent_dim: int = 256  # the embedding stored in Qdrant
    projection_dim: int = 128  # the contrastive head's output, used only in training
    bottleneck_side: int = 4  # the encoder stops downsampling at this spatial side
    blocks_per_stage: int = 1  # extra 3x3 convolutions after each downsampling
    decoder_width: int = 128  # the decoder's channels at its smallest map; halved per stage
    pooling: str = "flatten"  # how the last map becomes a vector: "flatten" or "avg"
    # What the decoder redraws from: "latent", the embedding itself; or "map", one of the encoder's
    # feature maps, which keeps where things are in the picture (the embedding averages it away).
    decoder_input: str = "latent"
    # With "map": the side of that map at image_size, one the encoder passes through on the way
    # down (a larger one keeps more of the picture); 0, the last map, before pooling.
    decoder_map_side: int = 0
    # True: the reconstruction loss trains the decoder only, and the encoder learns from the
    # contrastive term alone (the decoder shows what the encoder's features keep).
    decoder_detached: bool = False

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
        if self.decoder_map_side:
            up = math.log2(self.decoder_map_side / self.bottleneck_side)
            if self.decoder_input != "map" or up != int(up) or not 0 <= up < self.stages:
                raise ValueError(
                    "decoder_map_side needs decoder_input 'map' and must be one of the encoder's sides below "
                    f"image_size: bottleneck_side ({self.bottleneck_side}) times a power of two (got "
                    f"{self.decoder_map_side})"
                )

    @property
    def stages(self) -> int:
        return int(math.log2(self.image_size / self.bottleneck_side))

    @property
    def decoder_stages(self) -> int:
        """Upsampling stages of the decoder: from the side it starts at to image_size."""
        return int(math.log2(self.image_size / (self.decoder_map_side or self.bottleneck_side)))

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
        # The decoder's map is the output of layer `tap`, the last of the stage that brings the
        # side down to where the decoder starts, with `tap_channels`.
        self.tap = cfg.decoder_stages * (1 + cfg.blocks_per_stage)
        self.tap_channels = cfg.width * 2**cfg.decoder_stages

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the map the decoder redraws from, with decoder_input "map"; the last map,
        bottleneck_side square)"""
        # Centre inputs on 0.5 so the first convolution sees a zero-mean signal.
        x = x - 0.5
        tapped = x
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == self.tap:
                tapped = x
        # A photo embedded larger than training's side gives a larger map, and the decoder, all
        # convolutions, redraws it at that side: averaged down to training's map, it was a blur.
        return tapped, self._to_bottleneck(x)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last map, bottleneck_side square."""
        return self.maps(x)[1]

    def _to_bottleneck(self, features: torch.Tensor) -> torch.Tensor:
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
    """Latent vector (or, with decoder_input "map", one of the encoder's maps) -> image in [0, 1],
    mirroring the encoder with upsampling stages. From the latent it draws at the model's side;
    from a map, at the side of the picture the map was made from.

    Narrower than the encoder: it only has to make the reconstruction recognisable, and at
    ingest it runs for every image (the reconstruction error), so its cost is ingest speed.
    """

    def __init__(self, cfg: ModelConfig, map_channels: int) -> None:
        super().__init__()
        # From a larger map it is the same decoder without its first stages.
        channels = cfg.decoder_width // 2 ** (cfg.stages - cfg.decoder_stages)
        self.channels, self.side = channels, cfg.bottleneck_side
        if cfg.decoder_input == "map":
            self.from_map = nn.Conv2d(map_channels, channels, 1)
        else:
            self.from_latent = nn.Linear(cfg.latent_dim, channels * cfg.bottleneck_side**2)
        layers: list[nn.Module] = []
        for _ in range(cfg.decoder_stages):
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
        self.decoder = Decoder(cfg, self.encoder.tap_channels)
        self.projection = ProjectionHead(cfg)

    def forward(self, x: torch.Tensor, redrawn: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(latent of every image, reconstruction of the first `redrawn` images; of all by default)"""
        if self.cfg.decoder_input == "map":
            drawn, features = self.encoder.maps(x)
            z = self.encoder.latent(features)
        else:
            z = drawn = self.encoder(x)
        drawn = drawn[:redrawn]
        return z, self.decoder(drawn.detach() if self.cfg.decoder_detached else drawn)
