"""Training loop: reconstruction plus a contrastive term between augmented views.

The reconstruction keeps the autoencoder honest (the page shows what the latent keeps);
the contrastive term (NT-Xent, as in SimCLR) makes views of one animal land close together,
which is what retrieval needs and what pixel MSE alone does not give. Each image gives two
full-size views and a few small, tighter ones (multi-crop, as in SwAV): the small views cost
about half a view each and make the most of an epoch (see the README's ablation).

By default training runs for a time budget rather than a fixed number of epochs: the first
epochs measure how long an epoch takes on this machine, and the learning-rate schedule is
laid out over as many epochs as fit (`epochs_that_fit`). A big zip on a laptop and a small
one on a GPU both finish in minutes, each with a complete schedule.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from encoder.device import autocast, bf16_is_fast, pick_device
from encoder.model import Autoencoder, ModelConfig
from encoder.transforms import AugmentConfig, BatchAugment, to_float

MIN_TRAIN_IMAGES = 16
PLAN_GROWS_UNTIL = 3  # epochs; see epochs_that_fit


class NotEnoughImages(ValueError):
    pass


# How training shows its progress, given by the caller (the CLI draws bars; a benchmark stays
# quiet): progress(description, steps) is a context for one epoch, whose value has
# advance(description=...) after each step and finish(description) at the end.
ProgressFactory = Callable[[str, int], AbstractContextManager[Any]]


class _Quiet:
    def advance(self, steps: int = 1, description: str | None = None) -> None:
        pass

    def finish(self, description: str) -> None:
        pass


@contextmanager
def quiet(description: str, steps: int) -> Iterator[_Quiet]:
    yield _Quiet()


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100  # at most; with a time budget, as many as fit in it
    time_budget_s: float | None = 540.0  # None: exactly `epochs` epochs (early stop aside)
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    temperature: float = 0.2
    recon_weight: float = 5.0  # recognisable reconstructions at no measured cost to retrieval
    contrastive_weight: float = 1.0
    noise_std: float = 0.0  # > 0: denoising, the encoder sees a noisy view, the loss the clean one
    bf16: bool = True  # mixed precision in training, on a GPU or a CPU with native bfloat16
    val_fraction: float = 0.1
    patience: int = 10  # epochs without a better validation loss before stopping
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: Autoencoder
    history: list[dict]
    best_epoch: int
    planned_epochs: int
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


class WarmupCosine:
    """Linear warm-up over the first epoch, then cosine decay to zero at the last planned one."""

    def __init__(self, peak: float, steps_per_epoch: int, epochs: int) -> None:
        self.peak, self.steps_per_epoch, self.epochs = peak, steps_per_epoch, epochs

    def lr(self, step: int) -> float:
        warmup = self.steps_per_epoch
        if step < warmup:
            return self.peak * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.steps_per_epoch * self.epochs - warmup)
        return self.peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def epochs_that_fit(cfg: TrainConfig, epoch_seconds: list[float], planned: int | None) -> int:
    """How many epochs the run should have, given how long each one so far took.

    The pace is that of the epochs after the first, which carries one-time costs (measured: 13 s
    against 11.5 s for the rest on 2 cores); planning from it alone left 60 s of the default
    budget unused. While the learning rate is still near its peak (the first PLAN_GROWS_UNTIL
    epochs) the plan may grow; after that it can only shrink: when epochs turn slower (a busy
    machine) the schedule ends sooner instead of the budget running over, and growing it would
    raise the decaying learning rate again."""
    if cfg.time_budget_s is None:
        return cfg.epochs
    done = len(epoch_seconds)
    recent = epoch_seconds[1:] or epoch_seconds
    pace = max(sum(recent) / len(recent), 1e-3)
    fits = done + int(max(0.0, cfg.time_budget_s - sum(epoch_seconds)) // pace)
    fits = max(done, min(cfg.epochs, fits))
    return fits if planned is None or done <= PLAN_GROWS_UNTIL else min(planned, fits)


def nt_xent(*views: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over V views of the same B images ([B, d] each): every view must pick out the
    other views of its image among the V*B - 1 others. With two views it is SimCLR's loss;
    with more, each positive pair counts once per anchor (as in SupCon)."""
    n, v = len(views[0]), len(views)
    p = F.normalize(torch.cat(views).float(), dim=1)
    logits = p @ p.T / temperature
    logits.fill_diagonal_(float("-inf"))
    log_prob = F.log_softmax(logits, dim=1)
    image = torch.arange(n, device=p.device).repeat(v)
    positive = (image[:, None] == image[None, :]) & ~torch.eye(n * v, dtype=torch.bool, device=p.device)
    return -(log_prob.masked_fill(~positive, 0).sum(1) / (v - 1)).mean()


def _losses(model: Autoencoder, x: torch.Tensor, augment: BatchAugment, cfg: TrainConfig):
    v1, v2 = augment(x), augment(x)
    seen = v1 + cfg.noise_std * torch.randn_like(v1) if cfg.noise_std > 0 else v1
    z1, recon = model(seen)
    latents = [z1, model.encoder(v2)] + [model.encoder(augment.small(x)) for _ in range(cfg.augment.small_views)]
    recon_loss = F.mse_loss(recon.float(), v1)
    contrastive = nt_xent(*(model.projection(z) for z in latents), temperature=cfg.temperature)
    total = cfg.recon_weight * recon_loss + cfg.contrastive_weight * contrastive
    return total, recon_loss, contrastive


def split(n: int, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if n < MIN_TRAIN_IMAGES:
        raise NotEnoughImages(f"training needs at least {MIN_TRAIN_IMAGES} images, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    n_val = max(2, round(n * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    return order[n_val:], order[:n_val]


class _Run:
    """The state one training run carries from step to step."""

    def __init__(self, images: torch.Tensor, model_cfg: ModelConfig, cfg: TrainConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.train_idx, self.val_idx = split(len(images), cfg)
        self.data = images.to(device)
        self.model = Autoencoder(model_cfg).to(device).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        # Small collections get smaller batches, so that an epoch is still several steps.
        self.batch = min(cfg.batch_size, max(32, len(self.train_idx) // 8), len(self.train_idx))
        self.steps_per_epoch = len(self.train_idx) // self.batch  # no ragged batch: BatchNorm needs > 1
        self.schedule = WarmupCosine(cfg.learning_rate, self.steps_per_epoch, cfg.epochs)
        self.autocast = autocast(device, cfg.bf16 and bf16_is_fast(device))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.augment = BatchAugment(cfg.augment, self.gen)
        self.step = 0

    def train_epoch(self, on_step: Callable[[float], None]) -> list[float]:
        """One pass over the training images; mean [total, recon, contrastive] losses."""
        self.model.train()
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=self.gen)]
        sums = torch.zeros(3)
        for i in range(self.steps_per_epoch):
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule.lr(self.step)
            x = to_float(self.data[order[i * self.batch : (i + 1) * self.batch].to(self.device)])
            with self.autocast:
                total, recon, contrastive = _losses(self.model, x, self.augment, self.cfg)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            self.step += 1
            sums += torch.tensor([total.item(), recon.item(), contrastive.item()])
            on_step(sums[0].item() / (i + 1))
        return (sums / max(1, self.steps_per_epoch)).tolist()

    @torch.no_grad()
    def validation_losses(self) -> list[float] | None:
        """Mean losses on held-out images, with the same augmentation draws every epoch so
        that epochs compare like with like."""
        if not len(self.val_idx):
            return None
        self.model.eval()
        augment = BatchAugment(self.cfg.augment, torch.Generator().manual_seed(self.cfg.seed + 1))
        sums, count = torch.zeros(3), 0
        for start in range(0, len(self.val_idx), self.cfg.batch_size):
            x = to_float(self.data[self.val_idx[start : start + self.cfg.batch_size].to(self.device)])
            with self.autocast:
                losses = _losses(self.model, x, augment, self.cfg)
            sums += torch.tensor([v.item() for v in losses]) * len(x)
            count += len(x)
        return (sums / count).tolist()


def train(
    images: torch.Tensor,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: torch.device | None = None,
    progress: ProgressFactory = quiet,
    on_epoch: Callable[[dict, Autoencoder], None] | None = None,
) -> TrainResult:
    """images: uint8 [N, 3, S, S], already through the fixed transform. on_epoch(record, model)
    runs after each epoch (benchmarks use it to measure retrieval as training goes); its time is
    not counted against the time budget."""
    run = _Run(images, model_cfg, cfg, device or pick_device())
    history: list[dict] = []
    stopper = EarlyStopping(cfg.patience)
    best_state = copy.deepcopy(run.model.state_dict())
    started, stopped_early = time.perf_counter(), False
    epoch_seconds: list[float] = []
    planned = cfg.epochs if cfg.time_budget_s is None else None  # known after the first epoch
    epoch = 0
    while epoch < (planned or 1):
        epoch += 1
        epoch_start = time.perf_counter()
        title = f"epoch {epoch}/{planned}" if planned else f"epoch {epoch} (timing it)"
        with progress(title, run.steps_per_epoch) as bar:
            losses = run.train_epoch(lambda mean, title=title: bar.advance(description=f"{title}  loss {mean:.4f}"))
            val = run.validation_losses()
            epoch_seconds.append(time.perf_counter() - epoch_start)
            planned = epochs_that_fit(cfg, epoch_seconds, planned)
            run.schedule.epochs = planned
            bar.finish(f"epoch {epoch}/{planned}  loss {losses[0]:.4f}" + (f"  val {val[0]:.4f}" if val else ""))
        record = {
            "epoch": epoch,
            "train_loss": losses[0],
            "train_recon": losses[1],
            "train_contrastive": losses[2],
            "val_loss": val[0] if val else None,
            "val_recon": val[1] if val else None,
            "val_contrastive": val[2] if val else None,
            "lr": run.schedule.lr(run.step - 1),
            "seconds": epoch_seconds[-1],
        }
        history.append(record)
        if on_epoch:
            measuring = time.perf_counter()
            on_epoch(record, run.model)
            started += time.perf_counter() - measuring  # the budget is for training, not for the caller
        if stopper.update(epoch, val[0] if val else losses[0]):
            best_state = copy.deepcopy(run.model.state_dict())
        elif stopper.should_stop(epoch):
            stopped_early = True
            break
    run.model.load_state_dict(best_state)
    return TrainResult(
        model=run.model.eval().cpu(),
        history=history,
        best_epoch=stopper.best_epoch,
        planned_epochs=planned or epoch,
        stopped_early=stopped_early,
        train_indices=run.train_idx,
        val_indices=run.val_idx,
        seconds=time.perf_counter() - started,
    )
