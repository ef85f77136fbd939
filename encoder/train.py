"""Training loop: reconstruction plus a contrastive term between two augmented views.

The reconstruction keeps the autoencoder honest (the page shows what the latent keeps);
the contrastive term (NT-Xent, as in SimCLR) makes two crops of one animal land close
together, which is what retrieval needs and what pixel MSE alone does not give.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.nn import functional as F

from encoder.model import Autoencoder, ModelConfig
from encoder.transforms import AugmentConfig, BatchAugment, to_float

MIN_TRAIN_IMAGES = 16


class NotEnoughImages(ValueError):
    pass


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    temperature: float = 0.2
    recon_weight: float = 1.0
    contrastive_weight: float = 1.0
    noise_std: float = 0.0  # > 0: denoising, the encoder sees a noisy view, the loss the clean one
    val_fraction: float = 0.1
    patience: int = 5  # epochs without a better validation loss before stopping
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: Autoencoder
    history: list[dict]
    best_epoch: int
    stopped_early: bool
    train_indices: torch.Tensor
    val_indices: torch.Tensor
    seconds: float


class EarlyStopping:
    """Remembers the best epoch; says stop after `patience` epochs without beating it."""

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_value, self.best_epoch = math.inf, 0

    def update(self, epoch: int, value: float) -> bool:
        """True when this epoch is the new best."""
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch = value, epoch
            return True
        return False

    def should_stop(self, epoch: int) -> bool:
        return epoch - self.best_epoch >= self.patience


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def nt_xent(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Each view must pick its partner out of the 2B - 1 other views in the batch."""
    n = len(p1)
    p = F.normalize(torch.cat([p1, p2]).float(), dim=1)
    logits = p @ p.T / temperature
    logits.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(p.device)
    return F.cross_entropy(logits, partner)


def _losses(model: Autoencoder, x: torch.Tensor, augment: BatchAugment, cfg: TrainConfig):
    v1, v2 = augment(x), augment(x)
    seen = v1 + cfg.noise_std * torch.randn_like(v1) if cfg.noise_std > 0 else v1
    z1, recon = model(seen)
    z2 = model.encoder(v2)
    recon_loss = F.mse_loss(recon.float(), v1)
    contrastive = nt_xent(model.projection(z1), model.projection(z2), cfg.temperature)
    total = cfg.recon_weight * recon_loss + cfg.contrastive_weight * contrastive
    return total, recon_loss, contrastive


def split(n: int, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if n < MIN_TRAIN_IMAGES:
        raise NotEnoughImages(f"training needs at least {MIN_TRAIN_IMAGES} images, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    n_val = max(2, round(n * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    return order[n_val:], order[:n_val]


def train(
    images: torch.Tensor,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: torch.device | None = None,
    show_progress: bool = True,
    on_epoch: Callable[[dict, Autoencoder], None] | None = None,
) -> TrainResult:
    """images: uint8 [N, 3, S, S], already through the fixed transform. on_epoch(record, model)
    runs after each epoch (benchmarks use it to measure retrieval as training goes)."""
    device = device or pick_device()
    torch.manual_seed(cfg.seed)
    train_idx, val_idx = split(len(images), cfg)
    data = images.to(device)
    model = Autoencoder(model_cfg).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    # Small collections get smaller batches, so that an epoch is still several steps.
    batch = min(cfg.batch_size, max(32, len(train_idx) // 8), len(train_idx))
    steps_per_epoch = len(train_idx) // batch  # drop the ragged last batch: BatchNorm needs > 1
    total_steps = steps_per_epoch * cfg.epochs
    warmup = steps_per_epoch  # one epoch of linear warm-up, then cosine decay

    def lr_at(step: int) -> float:
        if step < warmup:
            return cfg.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    gen = torch.Generator().manual_seed(cfg.seed)
    augment = BatchAugment(cfg.augment, gen)
    history: list[dict] = []
    stopper = EarlyStopping(cfg.patience)
    best_state = copy.deepcopy(model.state_dict())
    step, started, stopped_early = 0, time.perf_counter(), False
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # stderr: stdout stays clean for the CLI's --json output.
    with Progress(*columns, console=Console(stderr=True), disable=not show_progress, transient=False) as bar:
        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            task = bar.add_task(f"epoch {epoch}/{cfg.epochs}", total=steps_per_epoch)
            order = train_idx[torch.randperm(len(train_idx), generator=gen)]
            sums = torch.zeros(3)
            for i in range(steps_per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
                x = to_float(data[order[i * batch : (i + 1) * batch].to(device)])
                with autocast:
                    total, recon, contrastive = _losses(model, x, augment, cfg)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                step += 1
                sums += torch.tensor([total.item(), recon.item(), contrastive.item()])
                bar.update(task, advance=1, description=f"epoch {epoch}/{cfg.epochs}  loss {sums[0] / (i + 1):.4f}")
            train_means = (sums / max(1, steps_per_epoch)).tolist()
            val_means = evaluate_loss(model, data, val_idx, cfg, autocast) if len(val_idx) else None
            monitored = val_means[0] if val_means else train_means[0]
            record = {
                "epoch": epoch,
                "train_loss": train_means[0],
                "train_recon": train_means[1],
                "train_contrastive": train_means[2],
                "val_loss": val_means[0] if val_means else None,
                "val_recon": val_means[1] if val_means else None,
                "val_contrastive": val_means[2] if val_means else None,
                "lr": lr_at(step - 1),
                "seconds": time.perf_counter() - epoch_start,
            }
            history.append(record)
            if on_epoch:
                on_epoch(record, model)
            desc = f"epoch {epoch}/{cfg.epochs}  loss {train_means[0]:.4f}"
            bar.update(task, description=desc + (f"  val {val_means[0]:.4f}" if val_means else ""))
            if stopper.update(epoch, monitored):
                best_state = copy.deepcopy(model.state_dict())
            elif stopper.should_stop(epoch):
                stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=model.cpu(),
        history=history,
        best_epoch=stopper.best_epoch,
        stopped_early=stopped_early,
        train_indices=train_idx,
        val_indices=val_idx,
        seconds=time.perf_counter() - started,
    )


@torch.no_grad()
def evaluate_loss(model, data, indices, cfg: TrainConfig, autocast) -> list[float]:
    """Mean losses on held-out images, with the same augmentation draws every epoch so that
    epochs compare like with like."""
    model.eval()
    augment = BatchAugment(cfg.augment, torch.Generator().manual_seed(cfg.seed + 1))
    sums, count = torch.zeros(3), 0
    for start in range(0, len(indices), cfg.batch_size):
        x = to_float(data[indices[start : start + cfg.batch_size].to(data.device)])
        with autocast:
            losses = _losses(model, x, augment, cfg)
        sums += torch.tensor([v.item() for v in losses]) * len(x)
        count += len(x)
    return (sums / count).tolist()
