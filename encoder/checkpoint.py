"""The checkpoint file: everything needed to rebuild the encoder, and nothing that needs code
to unpickle (it loads with `weights_only=True`).

Contents: format tag, model id, the model config, the fixed transform's parameters, the
training config, weights, the embedding statistics (mirror averaging, mean, whitening), the training
history and summary, what data it was trained on, and library versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from encoder.model import Autoencoder, ModelConfig

FORMAT = "cbir-autoencoder/1"

# The fixed transform's parameters live here, beside the checkpoint that records them, and
# `encoder.transforms` applies them: reading a checkpoint then needs no torchvision (~2 s to
# import). The resize is recorded so that a collection embedded before torchvision did the
# resizing is still queried exactly as it was embedded.
RESIZE_PILLOW = "shorter side, bicubic"
RESIZE_TORCHVISION = "shorter side, bicubic, antialiased (torchvision)"


@dataclass(frozen=True)
class TransformSpec:
    """Parameters of the fixed transform, stored in the checkpoint."""

    image_size: int = 32
    resize: str = RESIZE_TORCHVISION
    crop: str = "centre"

    def to_dict(self) -> dict:
        return asdict(self)


class CheckpointError(ValueError):
    pass


def compute_model_id(model_config: dict, state_dict: dict[str, torch.Tensor]) -> str:
    """A hash of what determines the embeddings: the architecture and every weight."""
    h = hashlib.sha256(json.dumps(model_config, sort_keys=True).encode())
    for name in sorted(state_dict):
        h.update(name.encode())
        h.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class Checkpoint:
    model_id: str
    model_config: ModelConfig
    transform: TransformSpec
    state_dict: dict[str, torch.Tensor]
    embedding_mean: torch.Tensor  # [D]: subtracted from every latent
    embedding_flip_average: bool  # a latent is the mean of the image's and its mirror image's
    train_config: dict
    history: list[dict]
    summary: dict
    data: dict
    # [D, D], applied to the centred latent: PCA whitening estimated on the training images, so
    # that no few directions (colour, brightness) dominate the cosine. None in checkpoints made
    # before it, and then the latent is only centred.
    embedding_whitening: torch.Tensor | None = None

    def build_model(self) -> Autoencoder:
        model = Autoencoder(self.model_config)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "model_id": self.model_id,
            "model_config": self.model_config.to_dict(),
            "transform": self.transform.to_dict(),
            "train_config": self.train_config,
            "state_dict": self.state_dict,
            "embedding_mean": self.embedding_mean,
            "embedding_flip_average": self.embedding_flip_average,
            "embedding_whitening": self.embedding_whitening,
            "history": self.history,
            "summary": self.summary,
            "data": self.data,
            "versions": {"torch": str(torch.__version__)},
        }


def save(checkpoint: Checkpoint, path: Path) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(checkpoint.to_dict(), tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the page may run as another user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: Path) -> Checkpoint:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint")
    model_config = ModelConfig(**raw["model_config"])
    # Proves that weights and config are the ones the id names: the config as it was written, since
    # a field added later (with its default) is not part of an earlier checkpoint's id.
    if compute_model_id(raw["model_config"], raw["state_dict"]) != raw["model_id"]:
        raise CheckpointError(f"{path}: weights do not match model id {raw['model_id']}")
    return Checkpoint(
        model_id=raw["model_id"],
        model_config=model_config,
        transform=TransformSpec(**raw["transform"]),
        state_dict=raw["state_dict"],
        embedding_mean=raw["embedding_mean"],
        embedding_flip_average=raw["embedding_flip_average"],
        train_config=raw["train_config"],
        history=raw["history"],
        summary=raw["summary"],
        data=raw["data"],
        embedding_whitening=raw.get("embedding_whitening"),
    )
