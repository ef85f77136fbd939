"""What images look like to the model.

`fixed_transform` is the only transform used to embed: resize the shorter side, centre
crop, so one image always gives one vector. `BatchAugment` is used only in training: it
draws crop, flip and colour parameters per image but applies them to a whole batch of
tensors at once, 3x faster on a CPU than torchvision's per-image transforms
(docs/architecture.md, "torchvision").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
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


# ITU-R BT.601 luma weights, as torchvision's rgb_to_grayscale uses; RGB to YIQ, whose chroma
# plane a hue change rotates.
_LUMA = torch.tensor([0.299, 0.587, 0.114])
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


@dataclass(frozen=True)
class AugmentConfig:
    # The defaults are the thumbnail recipe's; encoder/recipe.py says what photos change, and why.
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
    # about half a view's cost, matched to the image's two full views (TrainConfig). Four for
    # thumbnails; photos train with six (encoder.recipe).
    small_views: int = 4
    small_side: int = 24
    small_crop_scale: tuple[float, float] = (0.1, 0.4)


class BatchAugment:
    # Random numbers drawn per image in a call: crop area, aspect ratio, centre x and y, flip;
    # jitter or not, brightness, saturation, contrast, hue; grey or not.
    DRAWS = 11

    def __init__(self, cfg: AugmentConfig, generator: torch.Generator) -> None:
        self.cfg, self.gen = cfg, generator
        self._colour: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def __call__(
        self, x: torch.Tensor, side: int | None = None, crop_scale: tuple[float, float] | None = None
    ) -> torch.Tensor:
        """x: float [B, 3, S, S] in [0, 1] -> an augmented copy, side x side (default S)."""
        # Drawn from the CPU generator, so that a training resumes and repeats on any device, and
        # in one tensor: each copy to a GPU waits for all the work queued before it.
        draws = iter(torch.rand(self.DRAWS, len(x), generator=self.gen).to(x.device))
        x = self._crop_and_flip(x, side or x.shape[-1], crop_scale or self.cfg.crop_scale, draws)
        x = self._jitter(x, draws)
        luma = self._colour_matrices(x.device)[0]
        gray = (next(draws) < self.cfg.grayscale_p).view(-1, 1, 1, 1)
        x = torch.where(gray, (x * luma).sum(1, keepdim=True).expand_as(x), x)
        return x.clamp(0, 1).contiguous(memory_format=torch.channels_last)

    def small(self, x: torch.Tensor) -> torch.Tensor:
        """A small multi-crop view: a tighter crop, at small_side pixels."""
        return self(x, self.cfg.small_side, self.cfg.small_crop_scale)

    def _colour_matrices(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(luma weights [1, 3, 1, 1], RGB to YIQ, YIQ to RGB) on `device`, moved there once."""
        if device not in self._colour:
            matrices = (_LUMA.view(1, 3, 1, 1), _TO_YIQ, torch.linalg.inv(_TO_YIQ))
            self._colour[device] = tuple(m.to(device) for m in matrices)
        return self._colour[device]

    def _crop_and_flip(
        self, x: torch.Tensor, side: int, crop_scale: tuple[float, float], draws: Iterator[torch.Tensor]
    ) -> torch.Tensor:
        n, dev, c = len(x), x.device, self.cfg
        area = _between(next(draws), *crop_scale)
        ratio = torch.exp(_between(next(draws), math.log(c.crop_ratio[0]), math.log(c.crop_ratio[1])))
        # Width and height of the crop as fractions of the image (affine_grid's scale).
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = _between(next(draws), -1, 1) * (1 - w)
        cy = _between(next(draws), -1, 1) * (1 - h)
        flip = torch.where(next(draws) < c.flip_p, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta, [n, x.shape[1], side, side], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor, draws: Iterator[torch.Tensor]) -> torch.Tensor:
        c = self.cfg
        luma, to_yiq, to_rgb = self._colour_matrices(x.device)
        apply = (next(draws) < c.jitter_p).view(-1, 1, 1, 1)
        b = _between(next(draws), 1 - c.brightness, 1 + c.brightness).view(-1, 1, 1, 1)
        s = _between(next(draws), 1 - c.saturation, 1 + c.saturation).view(-1, 1, 1, 1)
        k = _between(next(draws), 1 - c.contrast, 1 + c.contrast).view(-1, 1, 1, 1)
        out = (x * b).clamp(0, 1)
        mean = (out * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        out = ((out - mean) * k + mean).clamp(0, 1)
        gray = (out * luma).sum(1, keepdim=True)
        out = ((out - gray) * s + gray).clamp(0, 1)
        # A hue change without HSV's branches: rotate chroma in YIQ space by hue * 360 degrees.
        angle = _between(next(draws), -c.hue, c.hue) * 2 * math.pi
        rot = torch.zeros(len(x), 3, 3, device=x.device)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
        out = torch.einsum("bij,bjhw->bihw", to_rgb @ rot @ to_yiq, out).clamp(0, 1)
        return torch.where(apply, out, x)


def _between(uniform: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Uniform draws in [0, 1) spread over [low, high)."""
    return uniform * (high - low) + low
