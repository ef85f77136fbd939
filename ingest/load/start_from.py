"""`ingest load PATH --start-from X`: the collection's new model trained from another model's
weights, on this collection's photos.

The new model starts from X's weights, keeps X's architecture, training configuration and input
side (its checkpoint says them all), trains within the load's usual budget, and its checkpoint
names X as its parent. Whether it beats a model trained on the collection alone is for
`ingest evaluate` to say: on `antsbees.zip` it did not (docs/benchmarks.md).
X is a collection's name (its current model) or a model id (a folder of models/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from encoder.folder import CHECKPOINT_NAME
from encoder.recipe import EPOCH_CAP, TRAINING_BUDGET_S, Recipe, for_collection
from ingest.errors import UserError
from ingest.load.continued_model import epochs_total, train_config_from
from ingest.settings import Settings
from ingest.store import collections as cols
from ingest.store import embedded_store_exists, open_store
from ingest.store.damage import embedder_from

if TYPE_CHECKING:
    from encoder.checkpoint import Checkpoint
    from ingest.load.pipeline import LoadOptions

MODEL_ID = re.compile(r"[0-9a-f]{16}")  # a checkpoint's id (`compute_model_id`): never a path


@dataclass(frozen=True)
class StartingModel:
    checkpoint: Checkpoint
    collection: str | None  # the collection it fills or filled, when known

    def said(self) -> str:
        """'model <id> (<collection>, trained on N photos, E epochs)'."""
        data = self.checkpoint.data
        facts = [repr(self.collection)] if self.collection else []
        if isinstance(data.get("trained_on"), int):
            facts.append(f"trained on {data['trained_on']:,} photos")
        epochs = epochs_total(self.checkpoint)
        facts.append(f"{epochs} epoch{'' if epochs == 1 else 's'}")
        return f"model {self.checkpoint.model_id} ({', '.join(facts)})"

    def lineage(self) -> dict:
        """What the new checkpoint's data records of where it started."""
        return {
            "model_id": self.checkpoint.model_id,
            "collection": self.collection,
            "trained_on": self.checkpoint.data.get("trained_on"),
            "epochs": epochs_total(self.checkpoint),
        }


def starting_model(settings: Settings, options: LoadOptions) -> StartingModel | None:
    """The model `options.start_from` names; None without it. A mistake is a UserError raised
    before anything is written."""
    name = options.start_from
    if name is None:
        return None
    if options.model_id is not None:
        raise UserError(
            "--model and --start-from: --model fills the collection with a model as it is, --start-from "
            "trains a new one from it: give one of them"
        )
    if options.image_size is not None:
        raise UserError(
            "--image-size and --start-from: the new model keeps the input side of the one it starts from: "
            "leave out --image-size"
        )
    states = _collections(settings)
    own = states.get(options.collection)
    if own is not None and not options.retrain:
        raise UserError(
            f"collection {options.collection!r} has a model already ({own.model_id}): add --retrain to train "
            f"a new one from {name!r} and re-embed the collection with it, or load into another --collection"
        )
    collection: str | None = name
    if name in states:
        path = cols.checkpoint_path(settings, states[name])
    elif MODEL_ID.fullmatch(name) and (settings.models_dir / name / CHECKPOINT_NAME).exists():
        path = settings.models_dir / name / CHECKPOINT_NAME
        collection = next((alias for alias, state in sorted(states.items()) if state.model_id == name), None)
    else:
        here = f" (collections here: {', '.join(sorted(states))})" if states else ""
        raise UserError(
            f"--start-from {name!r} names no collection and no model in {settings.home}{here}: "
            "give a collection's name, or a model id from `ingest info`"
        )
    checkpoint = embedder_from(path).checkpoint  # a damaged checkpoint: one line
    return StartingModel(checkpoint, collection or checkpoint.data.get("collection"))


def recipe_from(start: StartingModel, photo_count: int) -> Recipe:
    """The recipe of a model trained from `start` on `photo_count` photos: the starting model's
    architecture, training and input side, with the load's budget and epoch cap, other
    augmentation draws than its own epochs had, and the whitening this collection's own recipe
    gives (a few hundred photos are too few to estimate it; antsbees.zip, centred 0.671,
    whitened 0.637)."""
    parent = start.checkpoint
    own = for_collection(parent.model_config.image_size, photo_count)
    training = train_config_from(parent.train_config)
    training = replace(
        training, epochs=EPOCH_CAP, time_budget_s=TRAINING_BUDGET_S, seed=training.seed + epochs_total(parent)
    )
    why = f"{own.why}; the model, training and input side of model {parent.model_id}"
    return Recipe(own.name, parent.model_config, training, parent.transform.image_size, why, own.whiten)


def _collections(settings: Settings) -> dict[str, cols.CollectionState]:
    """Every collection of the data directory by name; none when the embedded store was never made
    (opening it would make it)."""
    if settings.embedded and not embedded_store_exists(settings):
        return {}
    with open_store(settings) as store:
        found = {alias: cols.state(store, alias) for alias in store.aliases()}
    return {alias: state for alias, state in found.items() if state is not None}
