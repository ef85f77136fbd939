"""What images look like to the model.

`fixed_transform` is the only transform used to embed: resize the shorter side, centre
crop, so one image always gives one vector. `BatchAugment` is used only in training: it
draws crop, flip and colour parameters per image but applies them to a whole batch of
tensors at once, 3x faster on a CPU than torchvision's per-image transforms
(docs/architecture.md, "torchvision").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torchvision.transforms.v2 import functional as TF

from encoder.checkpoint import RESIZE_PILLOW, TransformSpec


def fixed_transform(image: Image.Image, spec: TransformSpec) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor [3, S, S]."""
    if spec.resize == RESIZE_PILLOW:
        return _pillow_transform(image, spec.image_size)
    side = spec.image_size
    pixels = TF.pil_to_tensor(image.convert("RGB"))
    if min(pixels.shape[-2:]) != side:
        pixels = TF.resize(pixels, side, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
    return TF.center_crop(pixels, side).contiguous()


def _pillow_transform(image: Image.Image, side: int) -> torch.Tensor:
    """The fixed transform of checkpoints made before torchvision: Pillow's bicubic resize."""
    w, h = image.size
    scale = side / min(w, h)
    new_w, new_h = max(side, round(w * scale)), max(side, round(h * scale))
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - side) // 2, (new_h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, S, S] -> float in [0, 1], in the memory layout convolutions run fastest on."""
    return (batch.float() / 255.0).contiguous(memory_format=torch.channels_last)


# ITU-R BT.601 luma weights, as torchvision's rgb_to_grayscale uses.
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (0.25, 1.0)  # share of the image area a crop keeps
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    # Multi-crop (as in SwAV): extra small views of each image, tighter crops at 24 px, each at
    # about half a view's cost. Every view of an image is a positive for every other.
    small_views: int = 4
    small_side: int = 24
    small_crop_scale: tuple[float, float] = (0.1, 0.4)


class BatchAugment:
    def __init__(self, cfg: AugmentConfig, generator: torch.Generator) -> None:
        self.cfg, self.gen = cfg, generator

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        return torch.rand(n, generator=self.gen).to(device) * (high - low) + low

    def _bernoulli(self, n: int, p: float, device: torch.device) -> torch.Tensor:
        return (torch.rand(n, generator=self.gen) < p).to(device)

    def __call__(
        self, x: torch.Tensor, side: int | None = None, crop_scale: tuple[float, float] | None = None
    ) -> torch.Tensor:
        """x: float [B, 3, S, S] in [0, 1] -> an augmented copy, side x side (default S)."""
        x = self._crop_and_flip(x, side or x.shape[-1], crop_scale or self.cfg.crop_scale)
        x = self._jitter(x)
        gray = self._bernoulli(len(x), self.cfg.grayscale_p, x.device).view(-1, 1, 1, 1)
        x = torch.where(gray, (x * _LUMA.to(x.device)).sum(1, keepdim=True).expand_as(x), x)
        return x.clamp(0, 1).contiguous(memory_format=torch.channels_last)

    def small(self, x: torch.Tensor) -> torch.Tensor:
        """A small multi-crop view: a tighter crop, at small_side pixels."""
        return self(x, self.cfg.small_side, self.cfg.small_crop_scale)

    def _crop_and_flip(self, x: torch.Tensor, side: int, crop_scale: tuple[float, float]) -> torch.Tensor:
        n, dev, c = len(x), x.device, self.cfg
        area = self._uniform(n, *crop_scale, dev)
        log_ratio = self._uniform(n, math.log(c.crop_ratio[0]), math.log(c.crop_ratio[1]), dev)
        ratio = torch.exp(log_ratio)
        # Width and height of the crop as fractions of the image (affine_grid's scale).
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (self._uniform(n, -1, 1, dev)) * (1 - w)
        cy = (self._uniform(n, -1, 1, dev)) * (1 - h)
        flip = torch.where(self._bernoulli(n, c.flip_p, dev), -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta, [n, x.shape[1], side, side], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        n, dev, c = len(x), x.device, self.cfg
        apply = self._bernoulli(n, c.jitter_p, dev).view(-1, 1, 1, 1)
        luma = _LUMA.to(dev)
        b = self._uniform(n, 1 - c.brightness, 1 + c.brightness, dev).view(-1, 1, 1, 1)
        s = self._uniform(n, 1 - c.saturation, 1 + c.saturation, dev).view(-1, 1, 1, 1)
        k = self._uniform(n, 1 - c.contrast, 1 + c.contrast, dev).view(-1, 1, 1, 1)
        out = (x * b).clamp(0, 1)
        mean = (out * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        out = ((out - mean) * k + mean).clamp(0, 1)
        gray = (out * luma).sum(1, keepdim=True)
        out = ((out - gray) * s + gray).clamp(0, 1)
        out = self._hue_shift(out, self._uniform(n, -c.hue, c.hue, dev))
        return torch.where(apply, out, x)

    @staticmethod
    def _hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Rotate chroma in YIQ space by shift * 360 degrees: a hue change without HSV's branches."""
        to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=x.device)
        to_rgb = torch.linalg.inv(to_yiq)
        cos, sin = torch.cos(shift * 2 * math.pi), torch.sin(shift * 2 * math.pi)
        rot = torch.zeros(len(x), 3, 3, device=x.device)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
        m = to_rgb @ rot @ to_yiq  # [B, 3, 3]
        return torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)
