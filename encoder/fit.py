"""Train a model on images and write its folder: `model.pt`, `training_plot.png`,
`reconstructions.png`. The folder is named by the model id."""

from __future__ import annotations

from collections.abc import Callable
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
from encoder.train import ProgressFactory, Resumable, TrainResult, quiet, train
from encoder.train_config import TrainConfig

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
    whiten: bool | None = None,
    resumable: Resumable | None = None,
    parent: ckpt.Checkpoint | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Path:
    """images: uint8 [N, 3, E, E] through the fixed transform, at the side E photos will be
    embedded at; training crops its views from them at the model's side (model_cfg.image_size,
    at most E). Embedding at a larger side than training sees pays: random crops show animals
    larger than a centre crop does (FixRes; docs/decisions.md). Returns the checkpoint's path.
    With `resumable`, an interrupted training resumes; its state is removed once the model is saved.
    With `parent`, training continues that model (its weights, transform and embedding options),
    and the checkpoint records the lineage (`lineage`). whiten: whether the embedding is whitened
    (None: as the parent's is, or yes without one; a model trained from another on fewer photos
    may not have enough to estimate it). stop(): see `train`."""
    device = pick_device()
    if parent is not None:
        flip_average = parent.embedding_flip_average
    if whiten is None:
        whiten = parent.embedding_whitening is not None if parent is not None else True
    initial = parent.state_dict if parent is not None else None
    result = train(
        images,
        model_cfg,
        train_cfg,
        device=device,
        progress=progress or quiet,
        resumable=resumable,
        initial=initial,
        stop=stop,
    )
    model = result.model.to(device)
    stats_sample = result.train_indices[:STATS_IMAGES]  # the indices are in random order
    train_latents = torch.cat([latents(model, b, device, flip_average) for b in _batches(images, stats_sample)])
    mean = train_latents.mean(0)
    whitening = whitening_matrix(train_latents - mean).cpu() if whiten else None
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    history, best_epoch, lineage = _lineage(parent, result)
    checkpoint = ckpt.Checkpoint(
        model_id=ckpt.compute_model_id(model_cfg.to_dict(), state),
        model_config=model_cfg,
        transform=parent.transform if parent is not None else TransformSpec(image_size=images.shape[-1]),
        state_dict=state,
        embedding_mean=mean.cpu(),
        embedding_whitening=whitening,
        embedding_flip_average=flip_average,
        train_config=train_cfg.to_dict(),
        history=history,
        summary={
            "epochs_run": len(result.history),
            "planned_epochs": result.planned_epochs,
            "best_epoch": best_epoch,
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "seconds_per_epoch": result.seconds / len(result.history),
            "train_images": len(result.train_indices),
            "val_images": len(result.val_indices),
            "final_train_loss": history[-1]["train_loss"],
            "best_val_loss": min((h["val_loss"] for h in result.history if h["val_loss"] is not None), default=None),
            "device": device.type,
            "resumed_after_epoch": result.resumed_from,
            "embedding_stats_images": len(stats_sample),
            **lineage,
        },
        data=data_info,
    )
    embedder = Embedder(checkpoint, device)
    held_out = result.val_indices if len(result.val_indices) else result.train_indices[:64]
    errors = torch.cat([torch.from_numpy(embedder.embed(b)[1]) for b in _batches(images, held_out)])
    checkpoint.summary["held_out_recon_mse"] = errors.mean().item()
    folder = models_dir / checkpoint.model_id
    ckpt.save(checkpoint, folder / CHECKPOINT_NAME)
    save_training_plot(history, best_epoch, folder / TRAINING_PLOT)
    sample = images[held_out[:12]]
    save_reconstructions(sample, embedder.reconstruct(sample), folder / RECONSTRUCTIONS)
    if resumable:
        training_state.remove(resumable.path)  # a finished training leaves nothing behind
    return folder / CHECKPOINT_NAME


def _lineage(parent: ckpt.Checkpoint | None, result: TrainResult) -> tuple[list[dict], int, dict]:
    """The history a checkpoint keeps (its parent's epochs, then this training's, numbered on
    from them, so that curves run on across continuations), the kept epoch in that numbering,
    and what the summary says of the lineage: the parent's id and the epochs in all."""
    if parent is None:
        return result.history, result.best_epoch, {"epochs_total": len(result.history)}
    before = parent.summary.get("epochs_total", parent.summary.get("epochs_run", len(parent.history)))
    continued = [{**record, "epoch": record["epoch"] + before} for record in result.history]
    initial = result.initial_val
    return (
        [*parent.history, *continued],
        result.best_epoch + before,
        {
            "epochs_total": before + len(result.history),
            "parent_model_id": parent.model_id,
            "continued_after_epoch": before,
            "seconds_total": parent.summary.get("seconds_total", parent.summary.get("seconds", 0.0)) + result.seconds,
            "initial_val_loss": initial[0] if initial else None,
            "initial_val_recon": initial[1] if initial else None,
            "stopped": result.stopped,
        },
    )


def _batches(images: torch.Tensor, indices: torch.Tensor):
    """images[indices] a batch at a time: a large training sample is never copied whole."""
    size = batch_size_for(images.shape[-1])
    return (images[indices[i : i + size]] for i in range(0, len(indices), size))
