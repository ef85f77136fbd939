"""What the commands print, compared with golden files in tests/golden/ (made from fixed
results, so any change to a table shows as a diff). After a deliberate change, rewrite them
with `UPDATE_GOLDEN=1 pytest tests/unit/test_printed_tables.py` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.query.duplicates import format_duplicates
from ingest.query.evaluate import format_evaluation
from ingest.query.outliers import format_outliers
from ingest.query.report import format_info

GOLDEN = Path(__file__).parent / "golden"

EVALUATION = {
    "collection": "animals",
    "model_id": "8d9804adef403f78",
    "k": 10,
    "queries": 300,
    "points": 302,
    "unlabelled": 2,
    "singletons": 0,
    "precision_at_k": 0.4533,
    "map_at_k": 0.3391,
    "chance_precision_at_k": 0.1667,
    "per_label": {
        "cat": {"queries": 150, "precision_at_k": 0.41, "map_at_k": 0.3},
        "rhodesian-ridgeback": {"queries": 150, "precision_at_k": 0.4966, "map_at_k": 0.3782},
    },
    "confusions": [
        {"query_label": "cat", "neighbour_label": "rhodesian-ridgeback", "count": 885, "rate": 0.59},
        {"query_label": "rhodesian-ridgeback", "neighbour_label": "(no label)", "count": 3, "rate": 0.002},
    ],
    "seconds": 38.41,
}
OUTLIERS = {
    "collection": "animals",
    "model_id": "8d9804adef403f78",
    "points": 6000,
    "median_recon_error": 0.0142,
    "outliers": [
        {
            "rank": 1,
            "recon_error": 0.1234,
            "times_median": 8.69,
            "label": None,
            "source": "planted.zip",
            "path": "noise.png",
        },
        {
            "rank": 2,
            "recon_error": 0.0511,
            "times_median": 3.6,
            "label": "frog",
            "source": "cifar10-animals.zip",
            "path": "cifar10-animals/frog/0042.jpg",
        },
    ],
}
DUPLICATES = {
    "collection": "animals",
    "threshold": 0.98,
    "points": 303,
    "seconds": 1.23,
    "reviewed": 1,
    "to_delete": [{"source": "b.zip", "path": "planted/copy.jpg"}],
    "groups": [
        {
            "kind": "burst",
            "size": 2,
            "min_score": 0.9713,
            "camera": "Canon EOS R5",
            "taken": ["2024-06-01T14:30:05.100", "2024-06-01T14:30:05.300"],
            "status": "to review",
            "keep": 1,
            "members": [
                {
                    "score": 1.0,
                    "label": "birds",
                    "source": "d",
                    "path": "birds/1.jpg",
                    "same_bytes_as": None,
                    "sharpness": 81.5,
                },
                {
                    "score": 0.9713,
                    "label": "birds",
                    "source": "d",
                    "path": "birds/2.jpg",
                    "same_bytes_as": None,
                    "sharpness": 97.25,
                },
            ],
        },
        {
            "kind": "copies",
            "size": 2,
            "min_score": 1.0,
            "status": "kept",
            "keep": 0,
            "members": [
                {"score": 1.0, "label": "cat", "source": "a.zip", "path": "cat/0001.jpg", "same_bytes_as": None},
                {
                    "score": 1.0,
                    "label": "planted",
                    "source": "b.zip",
                    "path": "planted/copy.jpg",
                    "same_bytes_as": "cat/0001.jpg",
                },
            ],
        },
        {
            "kind": "copies",
            "size": 2,
            "min_score": 0.9931,
            "status": "to review",
            "keep": 1,
            "members": [
                {"score": 1.0, "label": "dog", "source": "a.zip", "path": "dog/0002.jpg", "same_bytes_as": None},
                {
                    "score": 0.9931,
                    "label": "planted",
                    "source": "b.zip",
                    "path": "planted/dog.png",
                    "same_bytes_as": None,
                },
            ],
        },
    ],
}
INFO = {
    "collection": "animals",
    "physical_collection": "animals-8d9804adef403f78",
    "store": "embedded store at /home/you/cbir-data/qdrant-edge",
    "points": 6000,
    "labels": {"bird": 1000, "cat": 1000},
    "model_id": "8d9804adef403f78",
    "model": {
        "image_size": 64,
        "embed_side": 80,
        "latent_dim": 256,
        "redrawn_from": "the encoder's 8x8 map of a 64 px picture",
        "epochs_run": 46,
        "best_epoch": 43,
        "seconds": 528.2,
        "device": "cpu",
        "best_val_loss": 4.9298,
        "held_out_recon_mse": 0.0145,
        "trained_on": {
            "trained_on": 6000,
            "source": "cifar10-animals.zip",
            "input_side": "64 px: the median photo's shorter side is 224 px; 64 px keeps an animal recognisable",
        },
    },
    "pictures": {
        "training_plot": "/home/you/cbir-data/models/8d98/training_plot.png",
        "reconstructions": "/home/you/cbir-data/models/8d98/reconstructions.png",
    },
    "evaluation": {
        "k": 10,
        "precision_at_k": 0.4533,
        "map_at_k": 0.3391,
        "queries": 6000,
        "model_id": "8d9804adef403f78",
    },
}


@pytest.mark.parametrize(
    "name, printed",
    [
        ("evaluation", lambda: format_evaluation(EVALUATION)),
        ("outliers", lambda: format_outliers(OUTLIERS)),
        ("duplicates", lambda: format_duplicates(DUPLICATES)),
        ("info", lambda: format_info(INFO)),
    ],
)
def test_printed_table_matches_its_golden_file(name, printed):
    golden = GOLDEN / f"{name}.txt"
    text = printed() + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
