"""Relevance feedback: how much a few clicks on the page add to one query photo. Prints JSON.

A simulated user on a collection filled by `ingest load` (the README's table: the 6,000
photos of ../shared/datasets/cifar10-animals.zip). For each of N random photos of it:

  1. one photo: the plain search by that photo's stored vector;
  2. three positives: "more like this" on the two best-ranked results of step 1 that carry
     the query's label (looked for beyond the top 10 when needed, as a user scrolls);
  3. plus one negative: "less like this" on the best-ranked result of step 2 whose label is
     wrong.

Steps 2 and 3 run Qdrant's recommendation query through `Index.by_examples`, as the page
does. P@10 is the share of the 10 results that carry the query's label, and the examples
themselves are never counted. Two tables:

  as_seen:  each step's grid as the user sees it (step 1 leaves out the query only, so it
            counts the two photos the user then clicks);
  residual: every step scored without the query, the two positives and the negative (the
            usual way to judge relevance feedback: only photos the user has not seen yet
            count, so step 1 gets no credit for what the clicks add as examples).

Each mean comes with a 95% bootstrap interval over the queries, and so does each residual
step's gain over the one before (paired).

    CBIR_HOME=DIR ingest load ../shared/datasets/cifar10-animals.zip
    python -m bench.feedback --home DIR [--queries 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ingest.query.neighbours import read_points
from ingest.query.search import Hit, Index
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import open_store

K = 10
LOOK_DEEPER = 100  # how far down the user scrolls for a same-label (or a wrong-label) result
STEPS = ("one photo", "three positives", "three positives + one negative")


def precision(hits: list[Hit], label: str) -> float:
    return sum(h.label == label for h in hits[:K]) / K


def first_hits(hits: list[Hit], wanted, count: int) -> list[Hit]:
    return [h for h in hits if wanted(h)][:count]


def one_query(index: Index, query_id: str, vector: np.ndarray, label: str) -> list[float] | None:
    """P@10 of each step as seen, then residual; None when the user finds no two same-label results."""
    plain = index.by_examples([vector], k=LOOK_DEEPER, exclude=[query_id])
    liked = first_hits(plain, lambda h: h.label == label, 2)
    if len(liked) < 2:
        return None
    positives = [vector, *(index.vector_of(h.id) for h in liked)]
    examples = [query_id, *(h.id for h in liked)]
    three = index.by_examples(positives, k=LOOK_DEEPER, exclude=examples)
    disliked = first_hits(three, lambda h: h.label != label, 1)  # none: nothing wrong to click on
    negatives = [index.vector_of(h.id) for h in disliked]
    seen = [*examples, *(h.id for h in disliked)]
    with_negative = index.by_examples(positives, negatives, K, exclude=seen) if disliked else three

    def residual(hits: list[Hit]) -> float:
        return precision([h for h in hits if h.id not in seen], label)

    as_seen = [precision(plain, label), precision(three, label), precision(with_negative, label)]
    return as_seen + [residual(plain), residual(three), residual(with_negative)]


def bootstrap(values: np.ndarray, rng: np.random.Generator, rounds: int = 2000) -> list[float]:
    """95% interval of the mean, resampling queries."""
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="Data directory holding the collection.")
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    settings = Settings(args.home.resolve())
    rng = np.random.default_rng(args.seed)
    with open_store(settings) as store:
        index = Index.open(store, settings, args.collection)
        points = read_points(store, index.physical, ["label"])
        labelled = [i for i, p in enumerate(points.payloads) if p.get("label")]
        picked = rng.choice(labelled, size=min(args.queries, len(labelled)), replace=False)
        rows, skipped = [], 0
        for i in picked:
            found = one_query(index, points.ids[i], points.vectors[i], points.payloads[i]["label"])
            if found is None:
                skipped += 1
            else:
                rows.append(found)
    table = np.asarray(rows)

    def summary(column: np.ndarray, name: str = "p_at_10") -> dict:
        return {name: round(float(column.mean()), 4), "ci95": bootstrap(column, rng)}

    as_seen = [{"step": name, **summary(table[:, j])} for j, name in enumerate(STEPS)]
    residual = [{"step": name, **summary(table[:, 3 + j])} for j, name in enumerate(STEPS)]
    gains = [
        {"from": STEPS[j - 1], "to": STEPS[j], **summary(table[:, 3 + j] - table[:, 2 + j], "gain")}
        for j in range(1, len(STEPS))
    ]
    labels = {p.get("label") for p in points.payloads if p.get("label")}
    print(
        json.dumps(
            {
                "collection": args.collection,
                "model_id": index.state.model_id,
                "points": len(points),
                "labels": len(labels),
                "chance_p_at_10": round(1 / max(len(labels), 1), 4),
                "queries": len(rows),
                "queries_without_two_same_label_results": skipped,
                "seed": args.seed,
                "k": K,
                "as_seen": as_seen,
                "residual": residual,
                "residual_gains": gains,
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
