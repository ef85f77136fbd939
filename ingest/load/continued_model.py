"""What a continued model starts from, and how `ingest train` compares it with its parent: the
parent's training configuration, the epochs of a lineage, and the report of before and after."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from encoder import checkpoint as ckpt
from encoder.train_config import TrainConfig
from encoder.transforms import AugmentConfig
from ingest.load.reader import Skipped

if TYPE_CHECKING:  # a name only: the load's training (`training`, `start_from`) imports this module
    from ingest.load.switch import Switched


@dataclass
class Measured:
    """A model as `ingest train` compares it: before (the parent) or after."""

    model_id: str
    epochs_total: int
    val_loss: float | None = None  # on this training's held-out photos
    val_recon: float | None = None
    precision_at_10: float | None = None  # `ingest evaluate`'s, when the photos have labels


@dataclass
class TrainReport:
    collection: str
    before: Measured
    after: Measured
    switched: Switched
    photos: int
    trained_on: int
    epochs_run: int
    train_seconds: float
    stopped: bool  # ended early (SIGTERM): the model is what was learnt until then
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "collection": self.collection,
            "parent_model_id": self.before.model_id,
            "model_id": self.after.model_id,
            "before": vars(self.before),
            "after": vars(self.after),
            "photos": self.photos,
            **vars(self.switched),
            "trained_on": self.trained_on,
            "epochs_run": self.epochs_run,
            "train_seconds": round(self.train_seconds, 3),
            "stopped": self.stopped,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
        }


def train_config_from(saved: dict) -> TrainConfig:
    """The training configuration a checkpoint recorded (`TrainConfig.to_dict`). Fields this
    version does not know are left out; fields added since keep their defaults."""
    known = {f.name for f in fields(TrainConfig)} - {"augment"}
    augment_known = {f.name for f in fields(AugmentConfig)}
    augment: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in (saved.get("augment") or {}).items()
    }
    return TrainConfig(
        **{k: v for k, v in saved.items() if k in known},
        augment=AugmentConfig(**{k: v for k, v in augment.items() if k in augment_known}),
    )


def epochs_total(checkpoint: ckpt.Checkpoint) -> int:
    summary = checkpoint.summary
    return int(summary.get("epochs_total", summary.get("epochs_run", len(checkpoint.history))))
