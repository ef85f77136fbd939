"""How long training runs and how fast it learns: a time budget turned into a number of
epochs, the learning rate over them, and (optionally) stopping on a plateau."""

from __future__ import annotations

import math
import statistics

PLAN_GROWS_UNTIL = 3  # epochs at least; see epochs_that_fit


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


def epochs_that_fit(budget_s: float | None, max_epochs: int, epoch_seconds: list[float], planned: int | None) -> int:
    """How many epochs the run should have, given how long each one so far took.

    The pace is the median of the epochs after the first, which carries one-time costs
    (measured: 13 s against 11.5 s for the rest on 2 cores; planning from it alone left 60 s of
    the default budget unused). A median, because one epoch slowed by something else on the
    machine (a browser starting, a test run) must not shorten the whole plan: with a mean, one
    47 s epoch among 29 s ones planned 13 epochs of dogbreeds.zip instead of 17 and left 144 s of
    the 540 s budget unused. The plan may grow during its first third (at least the first
    PLAN_GROWS_UNTIL epochs), while the learning rate is still near its peak; after that it can
    only shrink: when epochs turn slower the schedule ends sooner instead of the budget running
    over, and growing it late would raise the decaying learning rate again. A resumed run counts
    the epochs it ran before."""
    if budget_s is None:
        return max_epochs
    done = len(epoch_seconds)
    pace = max(statistics.median(epoch_seconds[1:] or epoch_seconds), 1e-3)
    fits = done + int(max(0.0, budget_s - sum(epoch_seconds)) // pace)
    fits = max(done, min(max_epochs, fits))
    if planned is None or done <= max(PLAN_GROWS_UNTIL, planned // 3):  # it may still grow
        return fits
    return min(planned, fits)


class EarlyStopping:
    """Remembers the best epoch; says stop after `patience` epochs without beating it (never,
    with patience None)."""

    def __init__(self, patience: int | None, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_value, self.best_epoch = math.inf, 0

    def update(self, epoch: int, value: float) -> bool:
        """True when this epoch is the new best."""
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch = value, epoch
            return True
        return False

    def should_stop(self, epoch: int) -> bool:
        return self.patience is not None and epoch - self.best_epoch >= self.patience
