"""The Duplicates tab: groups of near-identical photos (`ingest duplicates`), each with its
pictures, sizes, paths and scores, and a rule for which file to keep. The files the rules
leave download as CSV or JSON: the page never deletes anything, the user decides."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import streamlit as st

from ingest.query.duplicates import find_duplicates
from ingest.query.search import Hit
from ingest.store import Store
from ingest.store.collections import CollectionState
from ingest.store.media import MediaStore
from ui import pictures
from ui.untrusted import cell, code, plain

THRESHOLD = "dup_threshold"  # session-state keys
RULE = "dup_rule"
LARGEST, FIRST_LOADED, BY_HAND = "the largest", "the first loaded", "picked by hand"
RULES = [LARGEST, FIRST_LOADED, BY_HAND]
GROUPS_SHOWN = 40  # drawn with their pictures; the download covers every group
COLUMNS = 6
FILE_COLUMNS = ["group", "source", "path", "width", "height", "bytes", "score", "sha256", "kept"]


@st.cache_data(max_entries=8, ttl=60, show_spinner="Looking for duplicates…")
def _duplicates(_store: Store, _state: CollectionState, physical: str, points: int, threshold: float) -> dict:
    """Cached per threshold while the collection keeps its size (a minute at most)."""
    return find_duplicates(_store, _state, threshold, show_progress=False)


def load(store: Store, state: CollectionState, points: int) -> dict:
    """The threshold slider, then the groups it makes (Qdrant work: one batch of searches)."""
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
    return _duplicates(store, state, state.physical, points, round(threshold, 3))


def keep_index(members: list[dict], rule: str) -> int:
    """Which member a rule keeps: the most pixels (then bytes), or the earliest load; a tie
    goes to the first row (the stored file, before its byte-identical copies)."""
    rows = range(len(members))
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


def files_to_delete(groups: list[dict], kept: list[int]) -> list[dict]:
    """Every member but the kept one, with the file kept instead."""
    rows = []
    for number, (group, keep) in enumerate(zip(groups, kept), 1):
        chosen = group["members"][keep]
        for i, m in enumerate(group["members"]):
            if i != keep:
                facts = {name: m.get(name) for name in FILE_COLUMNS[1:-1]}
                rows.append({"group": number, **facts, "kept": f"{chosen['source']}:{chosen['path']}"})
    return rows


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
    groups = result["groups"]
    exact = sum(any(m["same_bytes_as"] for m in g["members"]) for g in groups)
    st.markdown(
        f"**{len(groups)} groups** of near-identical photos among {result['points']:,} "
        f"(cosine above {result['threshold']:.3f}; {exact} with byte-identical files)"
    )
    if not groups:
        st.info("No duplicates at this threshold: lower it to find photos that are merely alike.")
        return
    default = st.radio("Keep in each group", RULES, key=RULE, horizontal=True, on_change=_reset_rules)
    summary = st.container()
    kept = [
        _group(number, group, default, media) if number <= GROUPS_SHOWN else keep_index(group["members"], default)
        for number, group in enumerate(groups, 1)
    ]
    if len(groups) > GROUPS_SHOWN:
        st.caption(f"The first {GROUPS_SHOWN} groups are shown; the rule above decides for the other ones.")
    rows = files_to_delete(groups, kept)
    with summary:
        size = sum(r["bytes"] or 0 for r in rows)
        st.caption(
            f"{len(rows)} files may be deleted ({_amount(size)}). This page deletes nothing: download the "
            "list, check it, and delete the files yourself (then `ingest load FOLDER --prune` forgets them)."
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


def _size(member: dict) -> str:
    if member.get("width") is None:  # loaded before sizes were read back for this tab
        return "size unknown"
    return f"{member['width']}×{member['height']} px · {_amount(member.get('bytes') or 0)}"


def _amount(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.1f} kB" if size >= 2**10 else f"{size} B"


def _group(number: int, group: dict, default: str, media: MediaStore) -> int:
    """One group: its rule, then each member's picture and facts. Returns the kept member."""
    members = group["members"]
    first = members[0]
    # Keyed by the group's first file, so a choice survives a change of threshold.
    key = hashlib.sha1(f"{first['source']}:{first['path']}".encode()).hexdigest()[:12]
    with st.container(border=True, key=f"dup-group-{number}"):
        head_col, rule_col = st.columns([2, 3], vertical_alignment="center")
        head_col.markdown(f"**Group {number}** · {len(members)} files · lowest similarity {group['min_score']:.4f}")
        rule = rule_col.radio(
            "Keep",
            RULES,
            index=RULES.index(default),
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
        images = pictures.stored_pictures(media, [Hit(m["id"], m["score"], {"sha256": m["sha256"]}) for m in members])
        for start in range(0, len(members), COLUMNS):
            for offset, column in enumerate(st.columns(COLUMNS)):
                i = start + offset
                if i >= len(members):
                    break
                m = members[i]
                with column:
                    st.image(
                        pictures.sized(images[i], pictures.RESULT_SIDE),
                        caption=f"{'keep' if i == keep else 'may delete'} · {m['score']:.4f}",
                    )
                    same = " · exact copy" if m["same_bytes_as"] else ""
                    place = code(f"{m['source']}:{m['path']}")
                    st.caption(f"{_size(m)}{same}  \n{place}")
    return keep
