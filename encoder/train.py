"""The training loop: reconstruction plus a contrastive term between augmented views.

The reconstruction keeps the autoencoder honest (the page shows what the latent keeps); the
contrastive term (NT-Xent, as in SimCLR) makes views of one animal land close together, which
is what retrieval needs and what pixel MSE alone does not give (`losses`). Each image gives
two full-size views and a few small, tighter ones (multi-crop, as in SwAV).

By default training runs for a time budget rather than a fixed number of epochs: the first
epochs measure how long an epoch takes on this machine, and the learning-rate schedule is laid
out over as many epochs as fit (`schedule.epochs_that_fit`). With a state file, an interrupted
run resumes where it stopped (`training_state`). What to train with is `train_config`'s; the
state one training carries from step to step, `training_run`'s.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from encoder import live, training_state
from encoder.device import pick_device
from encoder.model import Autoencoder, ModelConfig
from encoder.schedule import EarlyStopping, epochs_that_fit
from encoder.train_config import TrainConfig
from encoder.training_run import TrainingRun

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
    run = TrainingRun(images, model_cfg, cfg, device or pick_device(), initial)
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
