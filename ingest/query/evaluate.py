"""`ingest evaluate`: how often a collection's nearest neighbours share the query's label.

Every labelled point queries the collection through Qdrant with its stored vector (the
same engine and cosine ranking that `ingest search` serves) and its K nearest other points
are compared with its `label` payload, the folder it came from. Points without a label are
still searched (a neighbour without a label counts as a wrong answer) but ask nothing.

Definitions, for one query with label L, its ranked neighbours n_1..n_K, rel_i = 1 when
n_i has label L, and R = the number of *other* points labelled L:

    P@K  = (1/K) * sum_{i<=K} rel_i
    AP@K = (1/min(K, R)) * sum_{i<=K} P@i * rel_i

precision_at_k and map_at_k are the means over all queries. P@K divides by K even when
R < K, as the dataset's published anchors do, so it stays comparable with them. AP@K
divides by min(K, R), the most relevant neighbours K slots can hold, so a ranking that puts
every reachable same-label point first scores 1, whatever R is; AP@K also rewards putting
them early, which P@K cannot see. A point whose label no other point carries (R = 0) has no
right answer, so it is not a query; the result counts those points under "singletons".
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from ingest.errors import UserError
from ingest.progress import progress
from ingest.query.narrowing import describe
from ingest.query.neighbours import StoredPoints, nearest_others, read_points
from ingest.store import Store, Where
from ingest.store.collections import CollectionState

TOP_CONFUSIONS = 10
NO_LABEL = "(no label)"


def precision_at_k(relevant: Sequence[bool], k: int) -> float:
    return sum(relevant[:k]) / k


def average_precision_at_k(relevant: Sequence[bool], k: int, total_relevant: int) -> float:
    """AP@K as defined in the module docstring; total_relevant is R (> 0)."""
    hits, precision_sum = 0, 0.0
    for rank, is_relevant in enumerate(relevant[:k], 1):
        if is_relevant:
            hits += 1
            precision_sum += hits / rank
    return precision_sum / min(k, total_relevant)


def evaluate(
    store: Store, state: CollectionState, k: int = 10, show_progress: bool = True, where: Where | None = None
) -> dict:
    """Evaluate the collection `state` at K; the result is JSON-ready (see `format_evaluation`).
    With `where`, only its photos (a time range, a camera) query, and only among themselves."""
    started = time.perf_counter()
    points = read_points(store, state.physical, ["label"], where)
    if where and not len(points):
        raise UserError(f"no photo of collection {state.name!r} is {describe(where)}: widen the filter")
    labels = [p.get("label") for p in points.payloads]
    label_sizes = Counter(label for label in labels if label is not None)
    if not label_sizes:
        raise UserError(
            f"collection {state.name!r} has no labels to evaluate against: evaluation needs images "
            "stored in one folder per class (e.g. animals.zip/cat/1.jpg), whose folder name becomes the label"
        )
    if k >= len(points):
        raise UserError(f"-k {k} is too large: collection {state.name!r} holds {len(points)} points; use -k below that")
    queries = [i for i, label in enumerate(labels) if label is not None and label_sizes[label] > 1]
    if not queries:
        raise UserError(
            f"no label of collection {state.name!r} is shared by two images, so no neighbour can be right: "
            "evaluation needs several images per label"
        )

    # Only the queries' vectors go to Qdrant; the neighbours' labels come from the read above.
    subset = StoredPoints([points.ids[i] for i in queries], points.vectors[queries], [])
    label_of_id = dict(zip(points.ids, labels))
    with progress(f"querying {state.name} ({len(queries):,} queries)", len(queries), show_progress) as bar:
        neighbours = nearest_others(store, state.physical, subset, k, on_query=bar.advance, where=where)

    per_label: dict[str, dict[str, float]] = defaultdict(lambda: {"queries": 0, "p": 0.0, "ap": 0.0})
    confusions: Counter[tuple[str, str]] = Counter()
    chance_sum = 0.0
    for index, found in zip(queries, neighbours):
        label = labels[index]
        assert label is not None  # a query is a labelled point
        found_labels = [label_of_id.get(n.id) for n in found]
        relevant = [other == label for other in found_labels]
        others = label_sizes[label] - 1  # R
        totals = per_label[label]
        totals["queries"] += 1
        totals["p"] += precision_at_k(relevant, k)
        totals["ap"] += average_precision_at_k(relevant, k, others)
        chance_sum += others / (len(points) - 1)  # P@K of a random ranking
        confusions.update((label, other or NO_LABEL) for other in found_labels if other != label)

    n_queries = len(queries)
    return {
        "collection": state.name,
        "model_id": state.model_id,
        "k": k,
        "queries": n_queries,
        "points": len(points),
        "unlabelled": sum(label is None for label in labels),
        "singletons": sum(size == 1 for size in label_sizes.values()),
        "precision_at_k": sum(t["p"] for t in per_label.values()) / n_queries,
        "map_at_k": sum(t["ap"] for t in per_label.values()) / n_queries,
        "chance_precision_at_k": chance_sum / n_queries,
        "per_label": {
            label: {
                "queries": t["queries"],
                "precision_at_k": t["p"] / t["queries"],
                "map_at_k": t["ap"] / t["queries"],
            }
            for label, t in sorted(per_label.items())
        },
        "confusions": most_confused(confusions, per_label, k),
        "filter": describe(where) if where else None,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
    }


def most_confused(confusions: Counter, per_label: dict, k: int) -> list[dict]:
    """The label pairs that take most of each other's top-K slots. `rate` is the share of
    the query label's K * queries neighbour slots held by the other label, so pairs of a
    big and a small label compare fairly."""
    rows = [
        {"query_label": q, "neighbour_label": n, "count": count, "rate": count / (k * per_label[q]["queries"])}
        for (q, n), count in confusions.items()
    ]
    rows.sort(key=lambda r: (-r["rate"], r["query_label"], r["neighbour_label"]))
    return rows[:TOP_CONFUSIONS]


def store_evaluation(store: Store, state: CollectionState, result: dict) -> None:
    """Keep the result in the collection's metadata, where `ingest info` and the page read it.
    The metadata belongs to the physical collection of one model, and records that model's
    id, so a later `--retrain` never shows an evaluation of another model."""
    kept = {
        key: result[key]
        for key in (
            "k",
            "queries",
            "precision_at_k",
            "map_at_k",
            "chance_precision_at_k",
            "model_id",
            "evaluated_at",
            "per_label",
            "confusions",
        )
    }
    store.update_metadata(state.physical, {"evaluation": kept})


def format_evaluation(result: dict) -> str:
    k = result["k"]
    among = f" (photos {result['filter']})" if result.get("filter") else ""
    lines = [
        f"collection {result['collection']!r}, model {result['model_id']}: {result['queries']:,} queries "
        f"against {result['points']:,} points{among} in {result['seconds']:.1f}s",
        f"  precision@{k:<4} {result['precision_at_k']:.3f}   (random ranking: {result['chance_precision_at_k']:.3f})",
        f"  mAP@{k:<10} {result['map_at_k']:.3f}",
    ]
    skipped = [f"{result['unlabelled']:,} points without a label"] if result["unlabelled"] else []
    skipped += [f"{result['singletons']:,} labels held by a single point"] if result["singletons"] else []
    if skipped:
        lines.append(f"  not queried: {', '.join(skipped)}")
    width = max(12, *(len(label) for label in result["per_label"]))
    lines += ["", f"  {'label':<{width}} {'queries':>8} {f'P@{k}':>7} {f'mAP@{k}':>7}"]
    for label, row in result["per_label"].items():
        lines.append(f"  {label:<{width}} {row['queries']:>8,} {row['precision_at_k']:>7.3f} {row['map_at_k']:>7.3f}")
    if result["confusions"]:
        lines += ["", f"  most confused (share of the query label's top-{k} slots held by the other label)"]
        for row in result["confusions"]:
            pair = f"{row['query_label']:>{width}} -> {row['neighbour_label']:<{width}}"
            lines.append(f"  {pair} {row['rate']:>6.1%}  ({row['count']:,})")
    return "\n".join(lines)
