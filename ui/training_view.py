"""Trainings under way, on the page: a load's, or `ingest train`'s (started here or in a
terminal). Each shows its epoch of the planned ones, the time left, its loss curves growing and
what the latest weights redraw of a few held-out photos, from the files training rewrites every
epoch (`encoder.live`): the page never loads a training's state, and holds no store for this.
On the Model tab a button starts `ingest train` in the background for N minutes (one at a time
per data directory), and another stops it: the collection then moves to what it has learnt.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from encoder import live
from ingest.errors import UserError
from ingest.load import training_job
from ingest.settings import Settings
from ui.model_view import curve_chart
from ui.untrusted import code

REFRESH_S = 3.0  # how often a training under way is drawn again
MINUTES = "keep-training-minutes"  # session-state key
DEFAULT_MINUTES = 10


def training_panel(settings: Settings, collection: str | None, controls: bool, refresh: bool = True) -> None:
    """Every training under way in this data directory; with `controls`, the buttons that keep
    training `collection` and stop it. With `refresh`, it is drawn again every REFRESH_S while a
    training runs, and the whole page once one ends (its collection has a new model then); the
    notices that rerun the whole page by themselves pass False."""
    training_dir = settings.models_dir / "training"
    # A training started a moment ago holds its lock before it writes its first progress file
    # (that waits for torch to load): it is under way already, and the page must follow it.
    was_active = training_job.holder(settings.models_dir) is not None or any(
        live.running(facts) for facts in live.under_way(training_dir)
    )

    @st.fragment(run_every=REFRESH_S if refresh and was_active else None)
    def follow() -> None:
        jobs = live.under_way(training_dir)
        running = [facts for facts in jobs if live.running(facts)]
        holder = training_job.holder(settings.models_dir)
        if refresh and was_active and not running and holder is None:
            st.rerun()
        for facts in jobs:
            stoppable = controls and holder is not None and holder.get("pid") == facts.get("pid")
            _job(facts, facts in running, settings.models_dir if stoppable else None)
        if controls and collection:
            _controls(settings, collection, busy=bool(running) or holder is not None)

    follow()


def loading(settings: Settings, collection: str) -> bool:
    """Whether a load into `collection` is under way."""
    jobs = live.under_way(settings.models_dir / "training")
    return any(f.get("kind") == "load" and f.get("collection") == collection and live.running(f) for f in jobs)


def _job(facts: dict, running: bool, stop_in: Path | None) -> None:
    """One training's panel; with `stop_in` (its models folder), a button that stops it."""
    what = "Loading" if facts.get("kind") == "load" else "Training on"
    name = Path(facts["file"]).stem
    before = int(facts.get("epochs_before") or 0)
    with st.container(key=f"training-{name.replace('.', '-')}", border=True):
        phase = facts.get("phase", "")
        st.markdown(f"**{what} {code(facts.get('collection'))}**" + (f" · {phase}" if phase != "training" else ""))
        if not running:
            st.warning(
                "This training stopped without finishing (its process is gone). Run the same command "
                "again and it resumes from its last saved epoch."
            )
        epoch, planned = facts.get("epoch"), facts.get("planned")
        if epoch and planned:
            in_all = f" ({before + epoch} in all)" if before else ""
            left = f" · about {_duration(_seconds_left(facts))} left" if running and epoch < planned else ""
            st.progress(min(1.0, epoch / planned), text=f"epoch {epoch} of {planned}{in_all}{left}")
        history = pd.DataFrame(facts.get("history") or [])
        if not history.empty:
            history["epoch"] += before
            if facts.get("earlier"):  # on from the curves of the model it continues
                history = pd.concat([pd.DataFrame(facts["earlier"]), history], ignore_index=True)
            _curves(history, facts.get("initial_val"))
        pictures = Path(facts["pictures"])
        if pictures.is_file():
            st.markdown("**Held-out photos (top), redrawn by the latest weights (bottom)**")
            st.image(str(pictures))
        if stop_in is not None and running:
            if st.button("Stop training", key="stop-training", help="It ends now and keeps what it has learnt."):
                if training_job.stop(stop_in):
                    st.info("Asked to stop: the collection moves to what it has learnt, in a moment.")
                else:
                    st.warning("It runs on another machine: stop it there (`kill -TERM <pid>`).")


def _curves(history: pd.DataFrame, initial_val: list[float] | None) -> None:
    last = int(history["epoch"].iloc[-1])
    total_col, recon_col = st.columns(2)
    with total_col:
        started = f" (held-out {initial_val[0]:.4f} before)" if initial_val else ""
        st.markdown(f"**Loss per epoch**{started}")
        st.altair_chart(curve_chart(history, "loss", last))
    with recon_col:
        started = f" (held-out {initial_val[1]:.4f} before)" if initial_val else ""
        st.markdown(f"**Reconstruction MSE per epoch**{started}")
        st.altair_chart(curve_chart(history, "recon", last))


def _controls(settings: Settings, collection: str, busy: bool) -> None:
    st.subheader("Keep training", anchor=False)
    st.caption(
        f"Trains the model of `{collection}` on its own photos for as long as you give it, then re-embeds the "
        "collection; searches go on meanwhile. More epochs, better results: see the README's table."
    )
    minutes_col, button_col = st.columns([1, 3], vertical_alignment="bottom")
    minutes = minutes_col.number_input("Minutes", 1, 24 * 60, DEFAULT_MINUTES, 5, key=MINUTES)
    clicked = button_col.button(
        f"Keep training for {minutes} minutes",
        key="keep-training",
        type="primary",
        disabled=busy,
        help="A training is under way in this data directory" if busy else "Runs on after you close this page.",
    )
    if clicked:
        try:
            with st.spinner("Starting the training…"):
                training_job.start_in_background(settings, collection, minutes)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    if not busy and (output := training_job.last_words(settings.models_dir)):
        with st.expander("The last training started here"):
            st.code("\n".join(output), language=None)


def _seconds_left(facts: dict) -> float:
    """The estimate of the last epoch, less the time since."""
    try:
        since = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(facts["updated_at"])).total_seconds()
    except (KeyError, ValueError, TypeError):
        since = 0.0
    return max(0.0, float(facts.get("seconds_left") or 0.0) - since)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
