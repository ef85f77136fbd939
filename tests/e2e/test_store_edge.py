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
    exif = dict.fromkeys(["taken_at", "camera", "location"], 0)  # indexed, but these photos carry no EXIF
    assert {field: info.points for field, info in schema.items()} == {
        **dict.fromkeys(["label", "source", "path", "recon_error"], points),
        **exif,
    }


# Vectors of 2,048 dimensions: Edge indexes a segment once it holds about 10 MB of vectors, so
# that a few thousand points are enough to make it build a graph.
WIDE, CHUNK, WRITTEN = 2048, 1500, 3000

# The writer kills itself once a build has begun. It learns that from the build itself (an
# event set as the build thread starts), not by looking for a live thread after an upsert: a
# short build could end unseen between two looks, and the writer then ran to the end unkilled.
WRITER = """
import os, signal, sys, threading, time
import numpy as np
from pathlib import Path
from ingest.store import Point
from ingest.store import edge_indexing
from ingest.store.edge import EdgeStore
edge_indexing.INDEX_CHUNK = int(sys.argv[2])
began, build = threading.Event(), edge_indexing.BackgroundIndexing._build
def announced(self, name, shard):
    began.set()
    build(self, name, shard)
edge_indexing.BackgroundIndexing._build = announced
vectors = np.random.default_rng(0).standard_normal((int(sys.argv[3]), int(sys.argv[4])))
store = EdgeStore(Path(sys.argv[1]))
store.create_collection("wide", vectors.shape[1], {})
ident = "00000000-0000-0000-0000-{:012d}".format
for start in range(0, len(vectors), 250):
    store.upsert("wide", [Point(ident(i), vectors[i], {"i": i}) for i in range(start, start + 250)])
    if began.wait(timeout=0 if start + 250 < len(vectors) else 30):
        print(start + 250, flush=True)  # the points written, the last batch's among them
        time.sleep(0.01)  # into the build
        os.kill(os.getpid(), signal.SIGKILL)
"""


def wide_vectors():
    import numpy as np

    vectors = np.random.default_rng(0).standard_normal((WRITTEN, WIDE))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_big_load_builds_its_graph_while_it_writes_and_searches_find_every_point(tmp_path, monkeypatch):
    import qdrant_edge as qe

    from ingest.store import edge_indexing
    from ingest.store.edge import EdgeStore

    monkeypatch.setattr(edge_indexing, "INDEX_CHUNK", CHUNK)
    vectors = wide_vectors()
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(WRITTEN)]
    with EdgeStore(tmp_path / "edge") as store:
        store.create_collection("wide", WIDE, {})
        for start in range(0, WRITTEN, 250):
            store.upsert("wide", [Point(ids[i], vectors[i], {"i": i}) for i in range(start, start + 250)])
        store.build_index("wide")  # waits for the background build: below 50,000 points, no more
        assert store.count("wide") == WRITTEN
        for i in range(0, WRITTEN, 100):  # every stored vector finds itself first, in every segment
            assert store.search("wide", vectors[i], 1)[0].id == ids[i]
    shard = qe.EdgeShard.load(str(tmp_path / "edge" / "collections" / "wide"))
    try:
        assert shard.info().indexed_vectors_count >= CHUNK  # built in the background, kept on disk
    finally:
        shard.close()


def test_a_collection_made_before_builds_no_graph_while_it_is_written(tmp_path, monkeypatch):
    """Its shard keeps Edge's default number of segments, so the build at the end would merge
    them and build every graph again: building in the background would only add work."""
    import threading

    from ingest.store import edge_indexing
    from ingest.store.edge import EdgeStore

    monkeypatch.setattr(edge_indexing, "INDEX_CHUNK", CHUNK)
    vectors = wide_vectors()
    with EdgeStore(tmp_path / "edge") as store:
        store.create_collection("wide", WIDE, {})
        del store._manifest.collections["wide"]["segments"]  # as an earlier version wrote it
        for start in range(0, WRITTEN, 250):
            store.upsert("wide", [Point(f"{i:032x}", vectors[i], {}) for i in range(start, start + 250)])
            assert not any(t.name.startswith("index-") for t in threading.enumerate())
        assert store.count("wide") == WRITTEN


def test_kill_9_while_a_graph_is_built_loses_nothing(tmp_path):
    from ingest.store.edge import EdgeStore

    root = tmp_path / "edge"
    killed = subprocess.run(
        [sys.executable, "-c", WRITER, str(root), str(CHUNK), str(WRITTEN), str(WIDE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr  # killed once a graph build had begun
    written = int(killed.stdout)
    assert written >= CHUNK
    vectors = wide_vectors()
    with EdgeStore(root) as store:
        assert store.count("wide") == written  # every acknowledged write, from the write-ahead log
        for i in range(0, written, 150):
            assert store.search("wide", vectors[i], 1)[0].id == f"00000000-0000-0000-0000-{i:012d}"
        store.build_index("wide")
    with EdgeStore(root) as store:
        assert store.count("wide") == written
