"""Turning images into vectors with a trained checkpoint: the one way ingest, search and the
page all embed, so a query and the collection it searches are always treated alike.

Inference runs in bfloat16 where the hardware has it natively (as training does): 2.4x faster
on 2 AVX512-BF16 cores, with vectors within cosine 0.9997 of float32's and the same P@10
(README, "Speed and memory"). On the same machine one image always gives one vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from encoder import checkpoint as ckpt
from encoder.device import autocast, bf16_is_fast, pick_device
from encoder.model import Autoencoder
from encoder.transforms import fixed_transform, to_float

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def fold_batch_norms(model: ModuleT) -> ModuleT:
    """The model for inference, each convolution followed by a batch norm made one convolution
    (the norm's statistics are fixed once trained, so it is a per-channel scale and shift that
    the convolution's weights can carry). The same outputs to about 1e-7, and a fifth less time
    on a CPU for every photo a load embeds and every query (docs/decisions.md)."""
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(sequence) - 1):
            conv, norm = sequence[i], sequence[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                sequence[i], sequence[i + 1] = fuse_conv_bn_eval(conv, norm), nn.Identity()
    return model


def mirror_averaged(model: Autoencoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The latent of x averaged with that of its mirror image: a left-facing and a
    right-facing cat get one vector, as training (random flips) meant them to."""
    return (z.float() + model.encoder(torch.flip(x, dims=[3])).float()) / 2


@torch.inference_mode()
def latents(
    model: Autoencoder, batch: torch.Tensor, device: torch.device, flip_average: bool = False, bf16: bool | None = None
) -> torch.Tensor:
    """The encoder's latents of a uint8 batch, in bfloat16 where it is fast unless bf16 says."""
    x = to_float(batch.to(device))
    with autocast(device, bf16_is_fast(device) if bf16 is None else bf16):
        z = model.encoder(x)
        return (mirror_averaged(model, x, z) if flip_average else z).float()


def at_side(x: torch.Tensor, side: int) -> torch.Tensor:
    """x resized to side x side: the decoder draws at the side the model was trained at, which
    can be smaller than the side photos are embedded at (see `fit`)."""
    if x.shape[-1] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


def whitening_matrix(centred: torch.Tensor, shrinkage: float = 1e-3) -> torch.Tensor:
    """[D, D] PCA whitening of centred latents [N, D]: each principal direction scaled to unit
    variance, the eigenvalues shrunk towards the largest so that directions with almost no
    variance (or none, with fewer images than dimensions) are not blown up."""
    cov = torch.cov(centred.double().T)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    scale = torch.sqrt(eigenvalues.clamp(min=0) + shrinkage * eigenvalues.max())
    return (eigenvectors / scale).float()


# Photos per embedding batch at 80 px; larger sides take fewer, so memory stays bounded.
BATCH_AT_80 = 256


def batch_size_for(side: int) -> int:
    """Photos per embedding batch at this side: about the memory of 256 photos at 80 px."""
    return min(BATCH_AT_80, max(16, BATCH_AT_80 * 80**2 // side**2))


class Embedder:
    def __init__(self, checkpoint: ckpt.Checkpoint, device: torch.device | None = None) -> None:
        self.checkpoint = checkpoint
        self.device = device or pick_device()
        model = fold_batch_norms(checkpoint.build_model())
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.mean = checkpoint.embedding_mean.to(self.device)
        whitening = checkpoint.embedding_whitening
        self.whitening = whitening.to(self.device) if whitening is not None else None
        self.bf16 = bf16_is_fast(self.device)

    @classmethod
    def from_file(cls, path: Path, device: torch.device | None = None) -> Embedder:
        return cls(ckpt.load(path), device)

    @property
    def model_id(self) -> str:
        return self.checkpoint.model_id

    @property
    def dim(self) -> int:
        return self.checkpoint.model_config.latent_dim

    @property
    def batch_size(self) -> int:
        return batch_size_for(self.checkpoint.transform.image_size)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return fixed_transform(image, self.checkpoint.transform)

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [B, 3, S, S] -> (unit vectors [B, D], reconstruction MSE [B]).

        A latent (averaged with its mirror image's, when the checkpoint says so) is centred on
        the training images' mean before it is normalised: raw latents share a large common
        component, and cosine between centred vectors ranks by what differs between photos.
        Whitening, when the checkpoint has it, then gives every direction of variation an equal
        say (docs/decisions.md).
        """
        x = to_float(batch.to(self.device))
        with autocast(self.device, self.bf16):
            z, recon = self.model(x)
            if self.checkpoint.embedding_flip_average:
                z = mirror_averaged(self.model, x, z)
        z = z.float() - self.mean
        if self.whitening is not None:
            z = z @ self.whitening
        vectors = F.normalize(z, dim=1)
        errors = ((recon.float() - at_side(x, recon.shape[-1])) ** 2).mean(dim=(1, 2, 3))
        return vectors.cpu().numpy(), errors.cpu().numpy()

    @torch.inference_mode()
    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> the decoder's uint8 reconstructions."""
        with autocast(self.device, self.bf16):
            _, recon = self.model(to_float(batch.to(self.device)))
        return (recon.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()

    def embed_images(self, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        return self.embed(torch.stack([self.preprocess(im) for im in images]))
