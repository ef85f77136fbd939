"""The Model tab: what the collection holds and the model that embedded it: its training
curve, originals beside their reconstructions, and retrieval metrics once `ingest evaluate`
has computed them. Everything comes from `ingest.report.collection_info`, as `ingest info`."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from ingest.query.report import epochs_said, sides
from ui.untrusted import plain

LABEL_STEP = 28  # px a label's bar takes in the Labels chart


def show(facts: dict) -> None:
    model = facts.get("model")
    with st.container(key="facts"):
        cells = st.columns(5)
        cells[0].metric("Images", f"{facts['points']:,}")
        cells[1].metric("Labels", f"{len(facts['labels']):,}")
        if model:
            cells[2].metric(
                "Epochs",
                f"{model.get('epochs_total') or model['epochs_run']}",
                help=f"best epoch {model['best_epoch']} kept"
                + (", stopped early" if model.get("stopped_early") else "")
                + (f"; {epochs_said(model)}" if model.get("parent_model_id") else ""),
            )
            cells[3].metric("Final training loss", f"{model['final_train_loss']:.4f}")
            if model.get("held_out_recon_mse") is not None:
                cells[4].metric("Held-out reconstruction MSE", f"{model['held_out_recon_mse']:.4f}")
    parent = ""
    if model and model.get("parent_model_id"):  # `ingest train` continues a model; a load may start from one
        started = (model.get("trained_on") or {}).get("started_from")
        parent = f" · {'started from' if started else 'continues'} model `{model['parent_model_id']}`"
    st.caption(
        f"model `{facts.get('model_id')}`{parent} · collection `{facts['collection']}` → "
        f"`{facts['physical_collection']}` in the {facts['store']}"
    )
    if not model:
        st.warning(f"The model's checkpoint cannot be read here: {facts.get('model_problem')}")
    else:
        _training(model, facts.get("pictures") or {})
    labels_col, evaluation_col = st.columns([2, 3], gap="large")
    with labels_col:
        _labels(facts["labels"])
    with evaluation_col:
        _evaluation(facts.get("evaluation"), facts.get("model_id"))


def _training(model: dict, pictures: dict) -> None:
    data = model.get("trained_on") or {}
    st.subheader("Training")
    st.caption(
        f"{sides(model)}, {model['latent_dim']}-d embedding out · trained on "
        f"{data.get('trained_on', '?'):,} images of {plain(data.get('source', '?'))} in {model['seconds']:.0f} s "
        f"({model['device']})"
        + (f" · best validation loss {model['best_val_loss']:.4f}" if model.get("best_val_loss") is not None else "")
        + (f"  \nInput side {data['input_side']}" if data.get("input_side") else "")
    )
    history = pd.DataFrame(model.get("history") or [])
    if not history.empty:
        total_col, recon_col = st.columns(2)
        with total_col:
            st.markdown("**Loss per epoch** (reconstruction + contrastive)")
            st.altair_chart(curve_chart(history, "loss", model.get("best_epoch")))
        with recon_col:
            st.markdown("**Reconstruction MSE per epoch**")
            st.altair_chart(curve_chart(history, "recon", model.get("best_epoch")))
    recon_png = Path(pictures.get("reconstructions", ""))
    if recon_png.is_file():
        redrawn = f", redrawn from {model['redrawn_from']}" if model.get("redrawn_from") else ""
        st.markdown(f"**Held-out images (top) and their reconstructions (bottom)**{redrawn}")
        st.image(str(recon_png))


def curve_chart(history: pd.DataFrame, key: str, best_epoch: int | None) -> alt.LayerChart:
    """Train and validation curves with the kept epoch marked. Not zoomable: a chart that
    zooms takes the mouse wheel from a person scrolling down the page."""
    columns = {f"train_{key}": "train", f"val_{key}": "validation"}
    long = history.melt("epoch", list(columns), var_name="set", value_name="value").dropna()
    long["set"] = long["set"].map(columns)
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("set:N", title=None, legend=alt.Legend(orient="bottom")),
        )
    )
    kept = (
        alt.Chart(pd.DataFrame({"epoch": [best_epoch or 0]}))
        .mark_rule(strokeDash=[4, 4], color="grey")
        .encode(x="epoch:Q")
    )
    return (lines + kept).properties(height=240)


def _labels(labels: dict[str, int]) -> None:
    if not labels:
        return
    st.subheader("Labels")
    counts = pd.DataFrame({"label": list(labels), "images": list(labels.values())})
    bars = (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("images:Q", title="images"),
            # Every label named: none dropped as overlapping, none cut short.
            y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=240)),
            tooltip=["label", "images"],
        )
    )
    numbers = bars.mark_text(align="left", dx=3).encode(text=alt.Text("images:Q", format=","))
    # A band of LABEL_STEP px per label, set on the chart itself: a fixed height was ignored for
    # the layered chart, which came out too short to name more than every other label.
    st.altair_chart((bars + numbers).properties(height=alt.Step(LABEL_STEP)))


def _evaluation(evaluation: dict | None, model_id: str | None) -> None:
    st.subheader("Retrieval quality")
    if not evaluation:
        st.info(
            "Not measured yet: `ingest evaluate` ranks every labelled image against the others "
            "and stores precision@K and mAP@K here."
        )
        return
    k = evaluation.get("k", "?")
    cells = st.columns(4)
    cells[0].metric(f"Precision@{k}", f"{evaluation['precision_at_k']:.3f}")
    cells[1].metric(f"mAP@{k}", f"{evaluation['map_at_k']:.3f}")
    if evaluation.get("chance_precision_at_k") is not None:
        cells[2].metric(
            f"Chance P@{k}", f"{evaluation['chance_precision_at_k']:.3f}", help="What a random ranking would score"
        )
    cells[3].metric("Queries", f"{evaluation.get('queries', 0):,}")
    if evaluation.get("model_id") not in (None, model_id):
        st.warning(f"These figures are for model {evaluation['model_id']}, not the current one.")
    per_label = evaluation.get("per_label") or {}
    if per_label:
        table = pd.DataFrame.from_dict(per_label, orient="index").rename_axis("label")
        table = table.rename(columns={"precision_at_k": f"P@{k}", "map_at_k": f"mAP@{k}"})
        st.dataframe(table.style.format({f"P@{k}": "{:.3f}", f"mAP@{k}": "{:.3f}"}), width="stretch")
    if evaluation.get("evaluated_at"):
        st.caption(f"measured {evaluation['evaluated_at']}")
