"""`ingest search` with several examples and counter-examples, through the real CLI: the
ranking is Qdrant's recommendation query over the photos' stored vectors, and the examples
themselves never come back as results."""

from __future__ import annotations

import hashlib
import json

import pytest

from ingest.load.records import point_id
from ingest.store import Where
from ingest.store import collections as cols

from conftest import run_cli, store_at

CAT_1, CAT_2, DOG = (
    "cifar10-animals-mini/cat/0001.jpg",
    "cifar10-animals-mini/cat/0002.jpg",
    "cifar10-animals-mini/dog/0003.jpg",
)


def stored_id(data: bytes) -> str:
    return point_id(hashlib.sha256(data).hexdigest())


def test_files_and_stored_ids_as_examples_and_counter_examples(loaded_home, mini_images, tmp_path):
    liked, disliked = tmp_path / "liked.jpg", tmp_path / "disliked.jpg"
    liked.write_bytes(mini_images[CAT_1])
    disliked.write_bytes(mini_images[DOG])
    second = stored_id(mini_images[CAT_2])  # a photo of the collection, named by its id
    examples = [stored_id(mini_images[name]) for name in (CAT_1, CAT_2, DOG)]

    result = run_cli(loaded_home, "search", str(liked), second, "--not", str(disliked), "-k", "8", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert [set(h) for h in hits] == [{"path", "label", "score", "id"}] * 8
    assert not {h["id"] for h in hits} & set(examples)  # the user knows them already

    # The same query asked of the store directly, with the vectors it holds for the three photos.
    with store_at(loaded_home) as store:
        physical = cols.require(store, "animals").physical
        vectors = {r.id: r.vector for r in store.retrieve(physical, examples, payload=False, vectors=True)}
        expected = store.recommend(
            physical,
            [vectors[examples[0]], vectors[examples[1]]],
            [vectors[examples[2]]],
            8,
            Where(exclude_ids=tuple(examples)),
        )
    assert [h["id"] for h in hits] == [s.id for s in expected]
    # The file is embedded alone here and in a batch at load: in bfloat16 that moves a score in
    # its sixth decimal.
    assert [h["score"] for h in hits] == pytest.approx([s.score for s in expected], abs=1e-5)

    unknown = "00000000-0000-0000-0000-000000000042"
    missing = run_cli(loaded_home, "search", str(liked), "--not", unknown)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"error: no photo with id {unknown} in collection 'animals': give a file, or an id from --json"
    )
