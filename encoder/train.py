"""The training loop: reconstruction plus a contrastive term between augmented views.

The reconstruction keeps the autoencoder honest (the page shows what the latent keeps); the
contrastive term (NT-Xent, as in SimCLR) makes views of one animal land close together, which
is what retrieval needs and what pixel MSE alone does not give (`losses`). Each image gives
two full-size views and a few small, tighter ones (multi-crop, as in SwAV).

By default training runs for a time budget rather than a fixed number of epochs: the first
epochs measure how long an epoch takes on this machine, and the learning-rate schedule is laid
out over as many epochs as fit (`schedule.epochs_that_fit`). With a state file, an interrupted
run resumes where it stopped (`training_state`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from encoder import live, training_state
from encoder.device import autocast, bf16_is_fast, pick_device
from encoder.losses import training_losses
from encoder.model import Autoencoder, ModelConfig
from encoder.schedule import EarlyStopping, WarmupCosine, epochs_that_fit
from encoder.transforms import AugmentConfig, BatchAugment, to_float

MIN_TRAIN_IMAGES = 16


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
    # The defaults are the thumbnail recipe's (encoder/recipe.py: every recipe, the budget and the cap).
    epochs: int = 300  # at most; with a time budget, as many as fit in it (recipe.EPOCH_CAP)
    time_budget_s: float | None = 540.0  # None: exactly `epochs` epochs (early stop aside)
    batch_size: int = 64  # more optimiser steps in the budget: better than 128 or 256 (docs/decisions.md)
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    # 0.1 rather than 0.2: +0.02 to +0.03 P@10 on real photos in the product's own load (dog breeds,
    # big cats), for about 1 dB of reconstruction (docs/decisions.md, "The contrastive temperature").
    temperature: float = 0.1
    # False: a small multi-crop view is pulled towards the two full views of its photo only, not
    # towards its other small views, which may show other parts of it (as SwAV and DINO match
    # them): +0.011 P@10 on dog breeds in the product's own load (docs/decisions.md).
    small_views_match_each_other: bool = False
    recon_weight: float = 5.0  # recognisable reconstructions at no measured cost to retrieval
    contrastive_weight: float = 1.0
    noise_std: float = 0.0  # > 0: denoising, the encoder sees a noisy view, the loss the clean one
    # The side views are cropped from. Images kept larger (to be embedded at a larger side than
    # training's) are first shrunk to it, so training sees the same detail whatever side they
    # are kept at. None: the images' own side.
    view_source_side: int | None = None
    bf16: bool = True  # mixed precision in training, on a GPU or a CPU with native bfloat16
    val_fraction: float = 0.1
    # Epochs without a better validation loss before stopping and going back to the best epoch.
    # None: train to the end of the schedule and keep the last weights, which retrieve better
    # than the best validation loss's (docs/decisions.md: the contrastive validation loss is
    # noisy, and the learning rate has decayed to zero by the last epoch).
    patience: int | None = None
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
    seconds: float  # training time, over every run of a resumed training
    resumed_from: int = 0  # epochs done before this process started
    # Held-out [total, recon, contrastive] losses of the weights training started from (a
    # training that continues a model; None otherwise), on the same photos as every epoch's.
    initial_val: list[float] | None = None
    stopped: bool = False  # ended early by `stop` (the model is what was learnt until then)


@dataclass
class Resumable:
    """Where a training keeps its state between runs, and what the state must match."""

    path: Path
    data_fingerprint: str
    notify: Callable[[str], None] = lambda _: None


def split(n: int, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if n < MIN_TRAIN_IMAGES:
        raise NotEnoughImages(f"training needs at least {MIN_TRAIN_IMAGES} images, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    n_val = max(2, round(n * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    return order[n_val:], order[:n_val]


class _Run:
    """The state one training carries from step to step, and from one process to the next."""

    def __init__(
        self,
        images: torch.Tensor,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        device: torch.device,
        initial: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.train_idx, self.val_idx = split(len(images), cfg)
        self.data = images.to(device)
        model = Autoencoder(model_cfg)
        if initial is not None:  # a model trained before, continued
            model.load_state_dict(initial)
        self.model = model.to(device).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        # Small collections get smaller batches, so that an epoch is still several steps.
        self.batch = min(cfg.batch_size, max(32, len(self.train_idx) // 8), len(self.train_idx))
        self.steps_per_epoch = len(self.train_idx) // self.batch  # no ragged batch: BatchNorm needs > 1
        self.schedule = WarmupCosine(cfg.learning_rate, self.steps_per_epoch, cfg.epochs)
        self.autocast = autocast(device, cfg.bf16 and bf16_is_fast(device))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.augment = BatchAugment(cfg.augment, self.gen)
        self.step = 0
        self.in_epoch: dict | None = None  # an epoch under way: its order, step and loss sums

    def train_epoch(
        self, on_step: Callable[[float], None], on_save: Callable[[], None], stop: Callable[[], bool] = lambda: False
    ) -> list[float]:
        """One pass over the training images (or the rest of one a saved state began); mean
        [total, recon, contrastive] losses. on_save runs every SAVE_EVERY_S of a long epoch.
        When stop() says so the epoch ends after the current step (at least one is made), and
        its means are over the steps it made."""
        self.model.train()
        if self.in_epoch is None:
            order = self.train_idx[torch.randperm(len(self.train_idx), generator=self.gen)]
            self.in_epoch = {"order": order, "step": 0, "sums": torch.zeros(3)}
        order, sums = self.in_epoch["order"], self.in_epoch["sums"]
        saved = time.monotonic()
        first = self.in_epoch["step"]
        for i in range(first, self.steps_per_epoch):
            if i > first and stop():
                self.in_epoch = None
                return (sums / i).tolist()
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule.lr(self.step)
            x = to_float(self.data[order[i * self.batch : (i + 1) * self.batch].to(self.device)])
            with self.autocast:
                total, recon, contrastive = training_losses(self.model, x, self.augment, self.cfg)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            self.step += 1
            sums += torch.tensor([total.item(), recon.item(), contrastive.item()])
            self.in_epoch["step"] = i + 1
            on_step(sums[0].item() / (i + 1))
            if time.monotonic() - saved >= training_state.SAVE_EVERY_S and i + 1 < self.steps_per_epoch:
                on_save()
                saved = time.monotonic()
        self.in_epoch = None
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
                losses = training_losses(self.model, x, augment, self.cfg)
            sums += torch.tensor([v.item() for v in losses]) * len(x)
            count += len(x)
        return (sums / count).tolist()

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.gen.get_state(),
            "step": self.step,
            "in_epoch": self.in_epoch,
        }

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        self.step, self.in_epoch = state["step"], state["in_epoch"]


def train(
    images: torch.Tensor,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: torch.device | None = None,
    progress: ProgressFactory = quiet,
    on_epoch: Callable[[dict, Autoencoder], None] | None = None,
    resumable: Resumable | None = None,
    initial: dict[str, torch.Tensor] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """images: uint8 [N, 3, S, S], already through the fixed transform. on_epoch(record, model)
    runs after each epoch (benchmarks use it to measure retrieval as training goes); its time is
    not counted against the time budget. With `resumable`, the state is saved as training goes
    and a saved state of this same training is resumed; its progress file (`live`) is kept up to
    date when a job announced one. `initial`: the weights of a model to continue, rather than new
    ones. stop(): asked between steps; True ends the training with what it has learnt."""
    run = _Run(images, model_cfg, cfg, device or pick_device(), initial)
    history: list[dict] = []
    epoch_seconds: list[float] = []
    stopper = EarlyStopping(cfg.patience)
    best_state = copy.deepcopy(run.model.state_dict()) if cfg.patience is not None else None
    planned = cfg.epochs if cfg.time_budget_s is None else None  # known after the first epoch
    # The budget says how long to train, not what: a load resumed with a budget a few seconds
    # different (it depends on how long reading took) goes on with the same training.
    what = {**cfg.to_dict(), "time_budget_s": cfg.time_budget_s is not None}
    key = training_state.state_key(resumable.data_fingerprint, model_cfg.to_dict(), what) if resumable else ""
    saved = training_state.load(resumable.path, key) if resumable else None
    if saved:
        run.restore(saved)
        history, epoch_seconds, planned = saved["history"], saved["epoch_seconds"], saved["planned"]
        stopper.best_value, stopper.best_epoch, best_state = saved["best_value"], saved["best_epoch"], saved["best"]
        run.schedule.epochs = planned or cfg.epochs
        within = f", step {run.in_epoch['step']} of epoch {len(history) + 1}" if run.in_epoch else ""
        assert resumable is not None  # what saved was read from
        resumable.notify(
            f"resuming the training saved at {saved['saved_at']}: {len(history)} of "
            f"{planned or '?'} epochs done{within}, {sum(epoch_seconds):.0f}s of training spent"
        )
    resumed_from = len(history)
    initial_val = saved.get("initial_val") if saved else None
    if initial is not None and not saved:
        initial_val = run.validation_losses()
    shown = (run.val_idx[:8] if len(run.val_idx) else run.train_idx[:8]).to(run.device)

    def save() -> None:
        if resumable:
            training_state.save(
                resumable.path,
                key,
                {
                    **run.state(),
                    "history": history,
                    "epoch_seconds": epoch_seconds,
                    "planned": planned,
                    "best_value": stopper.best_value,
                    "best_epoch": stopper.best_epoch,
                    "best": best_state,
                    "initial_val": initial_val,
                },
            )

    stopped_early = stopped = False
    while len(history) < (planned or len(history) + 1):
        epoch = len(history) + 1
        epoch_start = time.perf_counter()
        title = f"epoch {epoch}/{planned}" if planned else f"epoch {epoch} (timing it)"
        with progress(title, run.steps_per_epoch) as bar:

            def show_loss(mean: float, t: str = title) -> None:
                bar.advance(description=f"{t}  loss {mean:.4f}")

            losses = run.train_epoch(show_loss, save, stop)
            val = run.validation_losses()
            epoch_seconds.append(time.perf_counter() - epoch_start)
            stopped = stop()
            planned = epoch if stopped else epochs_that_fit(cfg.time_budget_s, cfg.epochs, epoch_seconds, planned)
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
            on_epoch(record, run.model)
        if cfg.patience is None:
            stopper.best_epoch = epoch  # the last epoch is the one kept
        elif stopper.update(epoch, val[0] if val else losses[0]):
            best_state = copy.deepcopy(run.model.state_dict())
        elif stopper.should_stop(epoch):
            stopped_early = True
            break
        save()
        if resumable:  # what the page shows of this training, when a job announced one
            live.epoch_done(resumable.path, history, planned, epoch_seconds, initial_val, run.model, run.data[shown])
        if stopped:
            break
    if cfg.patience is not None:
        assert best_state is not None  # kept from the start when there is a patience
        run.model.load_state_dict(best_state)
    return TrainResult(
        model=run.model.eval().cpu(),
        history=history,
        best_epoch=stopper.best_epoch,
        planned_epochs=planned or len(history),
        stopped_early=stopped_early,
        train_indices=run.train_idx,
        val_indices=run.val_idx,
        seconds=sum(epoch_seconds),
        resumed_from=resumed_from,
        initial_val=initial_val,
        stopped=stopped,
    )
