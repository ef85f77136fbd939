"""The Duplicates tab: groups of near-identical photos and bursts (`ingest duplicates`), each
with its pictures, sizes, paths and scores, a rule for which file to keep, and the decisions
("keep this one", "not duplicates") that the data directory keeps: decided groups are hidden
unless asked for. The files of decided groups download as CSV or JSON: the page never deletes
anything, the user decides."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import streamlit as st

from ingest.query.decisions import DecisionBook
from ingest.query.duplicates import neighbourhood, reviewed_groups
from ingest.query.grouping import Neighbourhood
from ingest.query.search import Hit
from ingest.settings import Settings
from ingest.store import Store, Where
from ingest.store.collections import CollectionState
from ingest.store.media import MediaStore
from ui import duplicate_decisions as decide
from ui import pictures
from ui.untrusted import cell, code, plain

THRESHOLD = "dup_threshold"  # session-state keys
RULE = "dup_rule"
SHOW_REVIEWED = "dup_reviewed"
LARGEST, FIRST_LOADED, BY_HAND, SHARPEST = "the largest", "the first loaded", "picked by hand", "the sharpest"
RULES = [LARGEST, FIRST_LOADED, BY_HAND]
BURST_RULES = [SHARPEST, LARGEST, BY_HAND]  # a burst's frames are photos of their own: keep the best
GROUPS_SHOWN = 40  # drawn with their pictures; "Keep as marked in every group" covers every group
COLUMNS = 6
FILE_COLUMNS = ["group", "source", "path", "width", "height", "bytes", "score", "sha256", "kept"]


@st.cache_data(max_entries=8, ttl=60, show_spinner="Looking for duplicates…")
def _neighbourhood(
    _store: Store, _state: CollectionState, physical: str, points: int, threshold: float, _where: Where, narrowed: str
) -> Neighbourhood:
    """The store's part, cached per threshold and filter while the collection keeps its size (a
    minute at most); decisions are applied on every interaction, without the store."""
    return neighbourhood(_store, _state, threshold, _where or None, show_progress=False)


def load(store: Store, state: CollectionState, points: int, where: Where | None = None) -> dict:
    """The threshold slider, then the groups it makes (Qdrant work: one batch of searches), with
    the decisions made so far applied."""
    threshold = st.slider(
        "Similarity threshold",
        0.90,
        1.0,
        0.98,
        0.005,
        format="%.3f",
        key=THRESHOLD,
        help="Cosine similarity above which two photos count as the same picture (1.0: identical pixels).",
    )
    show_reviewed = st.toggle("Show the groups already decided", key=SHOW_REVIEWED)
    where = where or Where()
    hood = _neighbourhood(store, state, state.physical, points, round(threshold, 3), where, repr(where))
    settings = Settings.from_env()
    decisions = DecisionBook(settings.home, state.name).read()
    return reviewed_groups(hood, state, decisions, MediaStore(settings.media_dir), show_reviewed, where or None)


def keep_index(members: list[dict], rule: str) -> int:
    """Which member a rule keeps: the most pixels (then bytes), or the earliest load; a tie
    goes to the first row (the stored file, before its byte-identical copies)."""
    rows = range(len(members))
    if rule == SHARPEST:
        return max(rows, key=lambda i: (members[i].get("sharpness") or 0.0, -i))
    if rule == FIRST_LOADED:
        return min(rows, key=lambda i: (members[i].get("ingested_at") or "9999", i))
    return max(
        rows,
        key=lambda i: (
            (members[i].get("width") or 0) * (members[i].get("height") or 0),
            members[i].get("bytes") or 0,
            -i,
        ),
    )


def files_to_delete(result: dict) -> list[dict]:
    """The files of the decided groups that are not kept, with the file kept instead."""
    return [{name: row.get(name) for name in FILE_COLUMNS} for row in result["to_delete"]]


def as_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, FILE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def _reset_rules() -> None:
    """A new rule for every group replaces the choices made group by group."""
    for key in [k for k in st.session_state if str(k).startswith(("dup-rule-", "dup-pick-"))]:
        del st.session_state[key]


def show(result: dict, media: MediaStore) -> None:
    groups = [g for g in result["groups"] if g["status"] == "to review"]
    decided = [g for g in result["groups"] if g["status"] != "to review"]
    exact = sum(any(m["same_bytes_as"] for m in g["members"]) for g in groups)
    burst_count = sum(g["kind"] == "burst" for g in groups)
    bursts = f"; {burst_count} bursts" if burst_count else ""
    hidden = f" · {result['reviewed']} decided groups hidden" if result["reviewed"] and not decided else ""
    st.markdown(
        f"**{len(groups)} groups** of near-identical photos among {result['points']:,} "
        f"(cosine above {result['threshold']:.3f}; {exact} with byte-identical files{bursts}){hidden}"
    )
    collection, default = result["collection"], LARGEST
    if groups:
        default = st.radio("Keep in each group", RULES, key=RULE, horizontal=True, on_change=_reset_rules)
    summary = st.container()
    kept = [
        _group(number, group, default, media, collection)
        if number <= GROUPS_SHOWN
        else keep_index(group["members"], _rule_for(group, default))
        for number, group in enumerate(groups, 1)
    ]
    if len(groups) > GROUPS_SHOWN:
        st.caption(f"The first {GROUPS_SHOWN} groups are shown; the rule above decides for the other ones.")
    for number, group in enumerate(decided, len(groups) + 1):
        _decided_group(number, group, media, collection)
    rows = files_to_delete(result)
    with summary:
        if groups:
            st.button(
                f"Keep as marked in all {len(groups)} groups",
                key="dup-keep-all",
                on_click=decide.keep_all,
                args=(collection, list(zip(groups, kept))),
                help="Records each group's marked file as the one to keep; the others join the files to delete.",
            )
        elif not decided:
            st.info(
                "No duplicates to review at this threshold: lower it to find photos that are merely alike."
                if not result["reviewed"]
                else "Every group is decided: show them with the toggle above, or download the files to delete."
            )
        size = sum(r["bytes"] or 0 for r in rows)
        st.caption(
            f"{len(rows)} files of the {result['reviewed']} decided groups may be deleted ({_amount(size)}). This "
            "page deletes nothing: download the list, check it, and delete the files yourself (then `ingest load "
            "FOLDER --prune` forgets them)."
        )
        csv_col, json_col, _ = st.columns([1, 1, 2])
        csv_col.download_button(
            "Files to delete (CSV)",
            as_csv(rows),
            "duplicates-to-delete.csv",
            "text/csv",
            key="dup-csv",
            on_click="ignore",
        )
        listing = {"collection": result["collection"], "threshold": result["threshold"], "files": rows}
        json_col.download_button(
            "Files to delete (JSON)",
            json.dumps(listing, indent=2),
            "duplicates-to-delete.json",
            "application/json",
            key="dup-json",
            on_click="ignore",
        )


def _rule_for(group: dict, default: str) -> str:
    return SHARPEST if group["kind"] == "burst" and default != BY_HAND else default


def _size(member: dict) -> str:
    if member.get("width") is None:  # loaded before sizes were read back for this tab
        return "size unknown"
    return f"{member['width']}×{member['height']} px · {_amount(member.get('bytes') or 0)}"


def _amount(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.1f} kB" if size >= 2**10 else f"{size} B"


def _key(group: dict) -> str:
    """A group is keyed by its first file, so a choice survives a change of threshold."""
    first = group["members"][0]
    return hashlib.sha1(f"{first['source']}:{first['path']}".encode()).hexdigest()[:12]


def _heading(number: int, group: dict) -> str:
    if group["kind"] == "burst":
        first, last = (t[11:] for t in group["taken"])
        size, camera = len(group["members"]), plain(group["camera"])
        return f"**Group {number}** · burst of {size} photos · {camera} · {first} to {last}"
    return f"**Group {number}** · {len(group['members'])} files · lowest similarity {group['min_score']:.4f}"


def _group(number: int, group: dict, default: str, media: MediaStore, collection: str) -> int:
    """One group to review: its rule, its decisions, then each member's picture and facts.
    Returns the member its rule marks to keep."""
    members, key = group["members"], _key(group)
    rules = BURST_RULES if group["kind"] == "burst" else RULES
    with st.container(border=True, key=f"dup-group-{number}"):
        head_col, rule_col = st.columns([2, 3], vertical_alignment="center")
        head_col.markdown(_heading(number, group))
        rule = rule_col.radio(
            "Keep",
            rules,
            index=rules.index(_rule_for(group, default)),
            key=f"dup-rule-{key}",
            horizontal=True,
            label_visibility="collapsed",
        )
        if rule == BY_HAND:
            keep = st.radio(
                "File to keep",
                range(len(members)),
                format_func=lambda i: plain(f"{members[i]['source']}:{members[i]['path']}"),
                key=f"dup-pick-{key}",
            )
        else:
            keep = keep_index(members, rule)
        keep_col, apart_col, _ = st.columns([1, 1, 2])
        keep_col.button("Keep as marked", key=f"dup-keep-{key}", on_click=decide.keep, args=(collection, group, keep))
        apart_col.button(
            "Not duplicates",
            key=f"dup-apart-{key}",
            on_click=decide.not_duplicates,
            args=(collection, group),
            help="These photos are different pictures: the group is not shown again.",
            disabled=len({m["id"] for m in members}) < 2,  # byte-identical files are duplicates
        )
        _pictures(group, media, lambda i: "keep" if i == keep else "may delete", collection, key)
    return keep


def _decided_group(number: int, group: dict, media: MediaStore, collection: str) -> None:
    """A decided group (shown on request): what was decided, and a way to decide again."""
    with st.container(border=True, key=f"dup-decided-{number}"):
        head_col, undo_col = st.columns([3, 1], vertical_alignment="center")
        decision = "kept one" if group["status"] == "kept" else "not duplicates"
        head_col.markdown(f"{_heading(number, group)} · decided: {decision}")
        undo_col.button(
            "Review again", key=f"dup-undo-{_key(group)}", on_click=decide.review_again, args=(collection, group)
        )
        _pictures(
            group,
            media,
            lambda i: "kept" if i == group["keep"] else "to delete" if group["keep"] is not None else "",
            None,
            "",
        )


def _pictures(group: dict, media: MediaStore, verdict, collection: str | None, key: str) -> None:
    members = group["members"]
    images = pictures.stored_pictures(media, [Hit(m["id"], m["score"], {"sha256": m["sha256"]}) for m in members])
    separable = collection is not None and len({m["id"] for m in members}) > 2
    for start in range(0, len(members), COLUMNS):
        for offset, column in enumerate(st.columns(COLUMNS)):
            i = start + offset
            if i >= len(members):
                break
            m = members[i]
            with column:
                said = verdict(i)
                st.image(
                    pictures.sized(images[i], pictures.RESULT_SIDE),
                    caption=f"{said} · {m['score']:.4f}" if said else f"{m['score']:.4f}",
                )
                same = " · exact copy" if m["same_bytes_as"] else ""
                sharp = f" · sharpness {m['sharpness']:.0f}" if m.get("sharpness") is not None else ""
                place = code(f"{m['source']}:{m['path']}")
                st.caption(f"{_size(m)}{same}{sharp}  \n{place}")
                if separable:
                    st.button(
                        "Not a duplicate",
                        key=f"dup-alone-{key}-{i}",
                        on_click=decide.apart,
                        args=(collection, group, i),
                        help="This photo is not a duplicate of the others of the group.",
                    )
