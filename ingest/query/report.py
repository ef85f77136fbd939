"""The facts about a collection that `ingest info` prints and the page's model view shows."""

from __future__ import annotations

from encoder.folder import CHECKPOINT_NAME, RECONSTRUCTIONS, TRAINING_PLOT
from ingest.settings import Settings
from ingest.store import Store
from ingest.store import collections as cols
from ingest.store.damage import checkpoint_damaged, checkpoint_problem


def collection_info(store: Store, settings: Settings, collection: str) -> dict:
    state = cols.require(store, collection)
    labels = store.facet(state.physical, "label")
    facts: dict = {
        "collection": state.name,
        "physical_collection": state.physical,
        "store": store.description,
        "points": store.count(state.physical),
        "labels": dict(sorted(labels.items(), key=lambda item: (-item[1], item[0]))),
        "model_id": state.model_id,
        "evaluation": state.metadata.get("evaluation"),
    }
    folder = settings.models_dir / (state.model_id or "?")
    from encoder import checkpoint as ckpt  # here: torch takes seconds to import, and a wrong name needs none

    try:
        checkpoint = ckpt.load(folder / CHECKPOINT_NAME)
    except (FileNotFoundError, ckpt.CheckpointError) as exc:
        facts["model"] = None
        damaged = isinstance(exc, ckpt.CheckpointError)
        path = folder / CHECKPOINT_NAME
        facts["model_problem"] = str(checkpoint_damaged(path, checkpoint_problem(path, exc)) if damaged else exc)
        return facts
    facts["model"] = {
        "checkpoint": str(folder / CHECKPOINT_NAME),
        "image_size": checkpoint.model_config.image_size,  # the side training's views have
        "embed_side": checkpoint.transform.image_size,  # the side photos are embedded at
        "latent_dim": checkpoint.model_config.latent_dim,
        "redrawn_from": redrawn_from(checkpoint.model_config),
        "trained_on": checkpoint.data,
        **checkpoint.summary,
        "history": checkpoint.history,
    }
    facts["pictures"] = {
        "training_plot": str(folder / TRAINING_PLOT),
        "reconstructions": str(folder / RECONSTRUCTIONS),
    }
    return facts


def redrawn_from(cfg) -> str:
    """What the decoder redraws a picture from, in words (cfg: the model's ModelConfig)."""
    if cfg.decoder_input == "latent":
        return f"the {cfg.latent_dim}-d embedding"
    side = cfg.decoder_map_side or cfg.bottleneck_side
    return f"the encoder's {side}x{side} map of a {cfg.image_size} px picture"


def sides(model: dict) -> str:
    """'32x32 px in', or '80x80 px in (trained on 64x64 crops)' for a model that embeds at a
    larger side than it trained at."""
    embed, train = model.get("embed_side") or model["image_size"], model["image_size"]
    return f"{embed}x{embed} px in" + (f" (trained on {train}x{train} crops)" if embed != train else "")


def epochs_said(model: dict) -> str:
    """'40 epochs', or '20 epochs (60 in all, continuing model <id>)' for a model `ingest train` made."""
    said = f"{model['epochs_run']} epochs"
    if model.get("parent_model_id"):
        said += f" ({model['epochs_total']} in all, {lineage_said(model)})"
    return said


def lineage_said(model: dict) -> str:
    """Where a model trained from another comes from: 'continuing model <id>' (`ingest train`), or
    'started from model <id> of collection 'bigcats'' (`ingest load --start-from`)."""
    started = (model.get("trained_on") or {}).get("started_from")
    if not started:
        return f"continuing model {model['parent_model_id']}"
    collection = f" of collection {started['collection']!r}" if started.get("collection") else ""
    return f"started from model {started['model_id']}{collection}"


def format_info(facts: dict) -> str:
    lines = [
        f"collection   {facts['collection']} -> {facts['physical_collection']} ({facts['store']})",
        f"points       {facts['points']:,}",
        "labels       " + (", ".join(f"{k} {v:,}" for k, v in facts["labels"].items()) or "(none)"),
    ]
    model = facts.get("model")
    if model:
        data = model["trained_on"]
        lines.append(
            f"model        {facts['model_id']}: {sides(model)}, "
            f"{model['latent_dim']}-d out; {epochs_said(model)} on {data.get('trained_on', '?'):,} images "
            f"of {data.get('source', '?')} in {model['seconds']:.0f}s ({model['device']}), "
            f"best epoch {model['best_epoch']}"
        )
        if model.get("best_val_loss") is not None:
            losses = (
                f"validation loss {model['best_val_loss']:.4f}, reconstruction MSE {model['held_out_recon_mse']:.4f}"
            )
            lines.append(f"             {losses}")
        if data.get("input_side"):
            lines.append(f"input side   {data['input_side']}")
        if data.get("recipe"):
            lines.append(f"recipe       {data['recipe']['name']}: {data['recipe']['why']}")
        lines.append(f"pictures     {facts['pictures']['training_plot']}")
        redrawn = f" (redrawn from {model['redrawn_from']})" if model.get("redrawn_from") else ""
        lines.append(f"             {facts['pictures']['reconstructions']}{redrawn}")
    else:
        lines.append(f"model        {facts['model_id']}: not readable here ({facts.get('model_problem')})")
    evaluation = facts.get("evaluation")
    if evaluation:
        lines.append(
            f"evaluation   P@{evaluation['k']} {evaluation['precision_at_k']:.3f}, mAP@{evaluation['k']} "
            f"{evaluation['map_at_k']:.3f} over {evaluation['queries']:,} queries (model {evaluation.get('model_id')})"
        )
    return "\n".join(lines)
