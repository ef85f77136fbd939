"""Turning images into vectors with a trained checkpoint: the one way ingest, search and the
page all embed, so a query and the collection it searches are always treated alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from encoder import checkpoint as ckpt
from encoder.model import Autoencoder
from encoder.transforms import fixed_transform, to_float
from encoder.train import pick_device


@torch.inference_mode()
def latents(model: Autoencoder, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    return model.encoder(to_float(batch.to(device))).float()


class Embedder:
    def __init__(self, checkpoint: ckpt.Checkpoint, device: torch.device | None = None) -> None:
        self.checkpoint = checkpoint
        self.device = device or pick_device()
        self.model = checkpoint.build_model().to(self.device).to(memory_format=torch.channels_last)
        self.mean = checkpoint.embedding_mean.to(self.device)

    @classmethod
    def from_file(cls, path: Path, device: torch.device | None = None) -> "Embedder":
        return cls(ckpt.load(path), device)

    @property
    def model_id(self) -> str:
        return self.checkpoint.model_id

    @property
    def dim(self) -> int:
        return self.checkpoint.model_config.latent_dim

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return fixed_transform(image, self.checkpoint.transform)

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [B, 3, S, S] -> (unit vectors [B, D], reconstruction MSE [B]).

        Vectors are centred on the training set's mean before normalising: raw latents share
        a large common component, and cosine between centred vectors ranks by what differs.
        """
        x = to_float(batch.to(self.device))
        z, recon = self.model(x)
        vectors = F.normalize(z.float() - self.mean, dim=1)
        errors = ((recon.float() - x) ** 2).mean(dim=(1, 2, 3))
        return vectors.cpu().numpy(), errors.cpu().numpy()

    @torch.inference_mode()
    def reconstruct(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> the decoder's uint8 reconstructions."""
        _, recon = self.model(to_float(batch.to(self.device)))
        return (recon.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()

    def embed_images(self, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        return self.embed(torch.stack([self.preprocess(im) for im in images]))
