"""What query expansion would add to a collection a load made: each photo's query vector
averaged with its k nearest stored neighbours, weighted by their cosine to the power alpha
(alpha-QE, Radenović et al., 2018), then searched again. Nothing is retrained or re-embedded:
it reads the stored vectors and labels and ranks them exactly, by cosine, in numpy. Prints
JSON, with the figure `ingest evaluate` stored beside this script's own plain ranking so the
two can be checked against each other.

    python -m bench.query_expansion --home <CBIR_HOME of a load> --k 1,2,3,5,10 --alpha 0,3
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from ingest.query.neighbours import read_points
from ingest.settings import DEFAULT_COLLECTION, Settings
from ingest.store import collections as cols
from ingest.store import open_store

TOP, CHUNK = 10, 1024


def ranked_others(queries: np.ndarray, stored: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """For query i (stored point i itself), the indices and cosines of its `depth` nearest
    other stored points, best first."""
    indices, scores = [], []
    for start in range(0, len(queries), CHUNK):
        cos = queries[start : start + CHUNK] @ stored.T
        rows = np.arange(len(cos))
        cos[rows, rows + start] = -np.inf  # never the query's own point
        top = np.argpartition(-cos, depth, axis=1)[:, :depth]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(cos, top, 1), axis=1), 1)
        indices.append(top)
        scores.append(np.take_along_axis(cos, top, 1))
    return np.concatenate(indices), np.concatenate(scores)


def expanded(vectors: np.ndarray, top: np.ndarray, cos: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Each vector plus its k nearest others (`top`, `cos` from `ranked_others`), each weighted by
    its cosine (negative ones by 0) to the power alpha; unit length again."""
    weights = np.clip(cos[:, :k], 0, None) ** alpha
    queries = vectors + (weights[..., None] * vectors[top[:, :k]]).sum(axis=1)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def precision(labels: np.ndarray, top: np.ndarray) -> float:
    return round(float((labels[top[:, :TOP]] == labels[:, None]).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the CBIR_HOME a load filled")
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    parser.add_argument("--k", default="1,2,3,5,10", help="neighbours averaged into the query")
    parser.add_argument("--alpha", default="0,3", help="weight of a neighbour: its cosine to this power")
    args = parser.parse_args()
    os.environ["CBIR_HOME"] = str(args.home)
    os.environ.pop("QDRANT_URL", None)
    with open_store(Settings.from_env()) as store:
        state = cols.require(store, args.collection)
        points = read_points(store, state.physical, ["label"])
        stored = state.metadata.get("evaluation", {}).get("precision_at_k")
    keep = [i for i, p in enumerate(points.payloads) if p.get("label")]
    labels = np.array([points.payloads[i]["label"] for i in keep])
    vectors = points.vectors[keep]
    ks = [int(k) for k in args.k.split(",")]
    top, cos = ranked_others(vectors, vectors, max(TOP, *ks))
    report = {
        "home": str(args.home),
        "collection": args.collection,
        "model_id": state.model_id,
        "points": len(vectors),
        "precision_at_10": {"ingest evaluate (stored)": stored, "plain cosine": precision(labels, top)},
    }
    for k in ks:
        for alpha in (float(a) for a in args.alpha.split(",")):
            found, _ = ranked_others(expanded(vectors, top, cos, k, alpha), vectors, TOP)
            report["precision_at_10"][f"k={k}, alpha={alpha:g}"] = precision(labels, found)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
