"""One training's state from step to step and from one process to the next: the model, its
optimiser, the schedule, the random generator and where an epoch stands. `encoder.train` drives
it epoch by epoch; `bench.train_step` times its steps."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from encoder import training_state
from encoder.device import autocast, bf16_is_fast
from encoder.losses import training_losses
from encoder.model import Autoencoder, ModelConfig
from encoder.schedule import WarmupCosine
from encoder.train_config import TrainConfig
from encoder.transforms import BatchAugment, to_float

MIN_TRAIN_IMAGES = 16


class NotEnoughImages(ValueError):
    pass


def split(n: int, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if n < MIN_TRAIN_IMAGES:
        raise NotEnoughImages(f"training needs at least {MIN_TRAIN_IMAGES} images, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    n_val = max(2, round(n * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    return order[n_val:], order[:n_val]


class TrainingRun:
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
