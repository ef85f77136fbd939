"""The embedded store (Qdrant Edge) as processes meet it: one process at a time, a second one
turned away before it can touch the shard, and a data directory of an earlier version
(qdrant-client's local mode) copied over by `ingest migrate`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from ingest.store import Point
from ingest.store import collections as cols
from ingest.store.client import ClientStore

from conftest import ROOT, run_cli, store_at

HOLDER = """
import sys, time, uuid
import numpy as np
from pathlib import Path
from ingest.store.edge import EdgeStore
store = EdgeStore(Path(sys.argv[1]))
store.create_collection("held", 8, {})
from ingest.store import Point
rng = np.random.default_rng(0)
Path(sys.argv[2]).write_text("holding")
errors, batch, deadline = 0, 0, time.monotonic() + 90
while (batch < 10 or not Path(sys.argv[3]).exists()) and time.monotonic() < deadline:
    store.upsert("held", [Point(str(uuid.uuid4()), rng.standard_normal(8), {"batch": batch}) for _ in range(25)])
    batch += 1
    try:
        store.flush()
    except Exception as exc:
        errors += 1
        print("flush failed:", exc, file=sys.stderr)
    time.sleep(0.05)
store.close()
print(batch, errors)
"""


def test_a_second_process_is_turned_away_and_the_first_keeps_writing(tmp_path):
    home = tmp_path / "cbir-data"
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home / "qdrant-edge"), str(ready), str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_cli(home, "info", CBIR_WAIT="0")  # arrives while the holder writes
    stop.write_text("")
    out, err = holder.communicate(timeout=120)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1].startswith("error: the embedded store at")
    assert "in use by another process" in second.stderr and "Traceback" not in second.stderr
    assert holder.returncode == 0, err
    batches, errors = map(int, out.split())
    assert errors == 0, err  # every flush of the holder succeeded
    with store_at(home) as store:
        assert store.count("held") == batches * 25


def test_an_earlier_versions_store_is_named_and_migrated_without_re_embedding(home_copy):
    # An earlier version's data directory: the same models and media, the points in local mode.
    with store_at(home_copy) as store:
        state = cols.state(store, "animals")
        points = [Point(p.id, p.vector, p.payload) for p in store.points(state.physical, vectors=True)]
        metadata = {
            **state.metadata,
            "evaluation": {"k": 10, "queries": 300, "precision_at_k": 0.5, "map_at_k": 0.4, "model_id": state.model_id},
        }
    shutil.rmtree(home_copy / "qdrant-edge")
    with ClientStore.local_mode(home_copy / "qdrant") as old:
        old.create_collection(state.physical, len(points[0].vector), metadata)
        old.upsert(state.physical, points)
        old.set_alias("animals", state.physical)

    before = run_cli(home_copy, "info")
    assert before.returncode == 2
    assert "run `ingest migrate`" in before.stderr  # the store it cannot see is named
    migrated = run_cli(home_copy, "migrate", "--json")
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["collections"] == {"animals": 300}

    facts = json.loads(run_cli(home_copy, "info", "--json").stdout)
    assert facts["points"] == 300 and facts["physical_collection"] == state.physical
    assert facts["evaluation"]["precision_at_k"] == 0.5  # the metadata came along
    with store_at(home_copy) as store:
        copied = {p.id: p for p in store.points(state.physical, vectors=True)}
    for point in points[:20]:  # the very vectors: nothing was re-embedded
        assert abs(float(copied[point.id].vector @ point.vector) - 1) < 1e-5
        assert copied[point.id].payload == point.payload
    after = run_cli(home_copy, "info")
    assert after.returncode == 0 and "ingest migrate" not in after.stderr
    assert (home_copy / "qdrant" / "meta.json").exists()  # the old folder stays until the user deletes it
    again = run_cli(home_copy, "migrate", "--json")  # running it again changes nothing
    assert again.returncode == 0 and json.loads(again.stdout)["collections"] == {"animals": 300}


def test_migrate_says_what_is_wrong_when_there_is_nothing_to_copy(tmp_path):
    result = run_cli(tmp_path / "empty", "migrate")
    assert result.returncode == 2 and "no store of an earlier version" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_embedded_store_reports_its_real_size_not_the_sparse_one(loaded_home):
    from ingest.store.edge import EdgeStore

    with EdgeStore(loaded_home / "qdrant-edge") as store:
        real = store.disk_bytes()
    apparent = sum(p.stat().st_size for p in (loaded_home / "qdrant-edge").rglob("*") if p.is_file())
    assert 0 < real < apparent  # the write-ahead log is preallocated: far bigger than what it uses


def test_a_loaded_collection_indexes_exactly_the_fields_filters_and_orderings_use(loaded_home):
    """Each payload index is paid for at every upsert: one per field a filter or `ingest
    outliers` uses, and no other (sha256 and ingested_at took 8 of the engine's 46 us per point)."""
    from ingest.store.edge import EdgeStore

    with EdgeStore(loaded_home / "qdrant-edge") as store:
        (physical,) = store.aliases().values()
        schema = store._shard(physical).info().payload_schema
        points = store.count(physical)
    assert points > 0
    assert {field: info.points for field, info in schema.items()} == dict.fromkeys(
        ["label", "source", "path", "recon_error"], points
    )
