"""Train a model on images and write its folder: `model.pt`, `training_plot.png`,
`reconstructions.png`. The folder is named by the model id."""

from __future__ import annotations

from pathlib import Path

import torch

from encoder import checkpoint as ckpt
from encoder import training_state
from encoder.checkpoint import TransformSpec
from encoder.device import pick_device
from encoder.embed import Embedder, batch_size_for, latents, whitening_matrix
from encoder.folder import CHECKPOINT_NAME, RECONSTRUCTIONS, TRAINING_PLOT
from encoder.model import ModelConfig
from encoder.plots import save_reconstructions, save_training_plot
from encoder.train import ProgressFactory, Resumable, TrainConfig, quiet, train

# The embedding's mean and whitening are estimated on at most this many training images: 32 per
# dimension of a 256-d latent. A 50,000-photo load then embeds 8,192 photos for them, not its
# whole training sample of up to 14,000 (a minute more on 2 cores), and never copies that sample.
STATS_IMAGES = 8192


def fit(
    images: torch.Tensor,
    models_dir: Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data_info: dict,
    progress: ProgressFactory | None = None,
    flip_average: bool = True,
    whiten: bool = True,
    resumable: Resumable | None = None,
) -> Path:
    """images: uint8 [N, 3, E, E] through the fixed transform, at the side E photos will be
    embedded at; training crops its views from them at the model's side (model_cfg.image_size,
    at most E). Embedding at a larger side than training sees pays: random crops show animals
    larger than a centre crop does (FixRes; docs/measurements.md). Returns the checkpoint's path.
    With `resumable`, an interrupted training resumes; its state is removed once the model is saved."""
    device = pick_device()
    result = train(images, model_cfg, train_cfg, device=device, progress=progress or quiet, resumable=resumable)
    model = result.model.to(device)
    stats_sample = result.train_indices[:STATS_IMAGES]  # the indices are in random order
    train_latents = torch.cat([latents(model, b, device, flip_average) for b in _batches(images, stats_sample)])
    mean = train_latents.mean(0)
    whitening = whitening_matrix(train_latents - mean).cpu() if whiten else None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    history = result.history
    checkpoint = ckpt.Checkpoint(
        model_id=ckpt.compute_model_id(model_cfg.to_dict(), state),
        model_config=model_cfg,
        transform=TransformSpec(image_size=images.shape[-1]),
        state_dict=state,
        embedding_mean=mean.cpu(),
        embedding_whitening=whitening,
        embedding_flip_average=flip_average,
        train_config=train_cfg.to_dict(),
        history=history,
        summary={
            "epochs_run": len(history),
            "planned_epochs": result.planned_epochs,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "seconds_per_epoch": result.seconds / len(history),
            "train_images": len(result.train_indices),
            "val_images": len(result.val_indices),
            "final_train_loss": history[-1]["train_loss"],
            "best_val_loss": min((h["val_loss"] for h in history if h["val_loss"] is not None), default=None),
            "device": device.type,
            "resumed_after_epoch": result.resumed_from,
            "embedding_stats_images": len(stats_sample),
        },
        data=data_info,
    )
    embedder = Embedder(checkpoint, device)
    held_out = result.val_indices if len(result.val_indices) else result.train_indices[:64]
    errors = torch.cat([torch.from_numpy(embedder.embed(b)[1]) for b in _batches(images, held_out)])
    checkpoint.summary["held_out_recon_mse"] = errors.mean().item()
    folder = models_dir / checkpoint.model_id
    ckpt.save(checkpoint, folder / CHECKPOINT_NAME)
    save_training_plot(history, result.best_epoch, folder / TRAINING_PLOT)
    sample = images[held_out[:12]]
    save_reconstructions(sample, embedder.reconstruct(sample), folder / RECONSTRUCTIONS)
    if resumable:
        training_state.remove(resumable.path)  # a finished training leaves nothing behind
    return folder / CHECKPOINT_NAME


def _batches(images: torch.Tensor, indices: torch.Tensor):
    """images[indices] a batch at a time: a large training sample is never copied whole."""
    size = batch_size_for(images.shape[-1])
    return (images[indices[i : i + size]] for i in range(0, len(indices), size))
