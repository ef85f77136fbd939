"""The load -> search -> info path against the embedded store and against a Qdrant server,
through one set of assertions, so that the two paths cannot drift apart.

The server variant runs when QDRANT_URL is set and answers, e.g. after `docker compose up -d
qdrant` with QDRANT_URL=http://localhost:6333 (and QDRANT_API_KEY when the server has one);
it is skipped with the reason otherwise. It loads into a collection of its own and deletes it
afterwards, so it can run against a server that holds real collections.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient, models

from ingest.load.records import point_id
from ingest.settings import DEFAULT_COLLECTION

from conftest import TEST_EPOCHS, copy_home, run_cli

SERVER_URL = os.environ.get("QDRANT_URL") or None
SERVER_KEY = os.environ.get("QDRANT_API_KEY") or None


@dataclass
class Loaded:
    """A data directory whose collection holds the mini sample, and how to reach it."""

    home: Path
    collection: str
    env: dict[str, str] = field(default_factory=dict)  # QDRANT_* for the CLI

    def cli(self, *args: str):
        return run_cli(self.home, *args, "--collection", self.collection, **self.env)


def server_unavailable() -> str | None:
    if not SERVER_URL:
        return "QDRANT_URL is not set: start a server (docker compose up -d qdrant) and export QDRANT_URL=http://localhost:6333"
    try:
        httpx.get(f"{SERVER_URL.rstrip('/')}/readyz", timeout=5)  # open even with an API key
    except httpx.HTTPError as exc:
        return f"QDRANT_URL={SERVER_URL} does not answer ({type(exc).__name__})"
    return None


def server_client() -> QdrantClient:
    return QdrantClient(url=SERVER_URL, api_key=SERVER_KEY, timeout=30)


def drop(collection: str, client: QdrantClient | None = None) -> None:
    """Delete `collection`'s alias and every physical collection made for it."""
    client = client or server_client()
    try:
        if any(a.alias_name == collection for a in client.get_aliases().aliases):
            delete = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection))
            client.update_collection_aliases(change_aliases_operations=[delete])
        for c in client.get_collections().collections:
            if c.name.startswith(f"{collection}-"):
                client.delete_collection(c.name)
    finally:
        client.close()


def server_env() -> dict[str, str]:
    return {"QDRANT_URL": SERVER_URL, **({"QDRANT_API_KEY": SERVER_KEY} if SERVER_KEY else {})}


def unique_collection() -> str:
    return f"cbir-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def embedded(loaded_home, tmp_path_factory) -> Loaded:
    """The session's loaded data directory (same zip, same epochs), copied: loading again
    below must not touch what other modules read."""
    home = tmp_path_factory.mktemp("embedded") / "cbir-data"
    copy_home(loaded_home, home)
    return Loaded(home, DEFAULT_COLLECTION)


@pytest.fixture(scope="module")
def server(tmp_path_factory, mini_zip) -> Iterator[Loaded]:
    """The mini sample loaded from this host into a Qdrant server, as `ingest load` with
    QDRANT_URL does: vectors on the server, model and media copies in the local CBIR_HOME."""
    reason = server_unavailable()
    if reason:
        pytest.skip(reason)
    loaded = Loaded(tmp_path_factory.mktemp("server") / "cbir-data", unique_collection(), server_env())
    try:
        result = loaded.cli("load", str(mini_zip), "--epochs", TEST_EPOCHS)
        assert result.returncode == 0, result.stderr
        yield loaded
    finally:
        drop(loaded.collection)


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def loaded(request) -> Loaded:
    return request.getfixturevalue(request.param)


def distinct(images: dict[str, bytes]) -> dict[str, str]:
    """sha256 -> archive path, for the images whose bytes occur once in the sample."""
    paths: dict[str, list[str]] = {}
    for name, data in images.items():
        paths.setdefault(hashlib.sha256(data).hexdigest(), []).append(name)
    return {sha: names[0] for sha, names in paths.items() if len(names) == 1}


def info(loaded: Loaded) -> dict:
    result = loaded.cli("info", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_image_is_indexed_once_with_its_model(loaded, mini_images):
    facts = info(loaded)
    count = len({hashlib.sha256(data).hexdigest() for data in mini_images.values()})
    assert facts["points"] == count
    assert sum(facts["labels"].values()) == count
    assert facts["physical_collection"] == f"{loaded.collection}-{facts['model_id']}"
    assert facts["model"]["epochs_run"] == int(TEST_EPOCHS)
    # The store is the one asked for: the server's URL, or the directory's embedded store.
    assert facts["store"] == (loaded.env.get("QDRANT_URL") or f"embedded store at {loaded.home / 'qdrant-edge'}")


def test_an_indexed_image_finds_itself_first(loaded, mini_images, tmp_path):
    sha, name = sorted(distinct(mini_images).items())[0]
    query = tmp_path / "query.jpg"
    query.write_bytes(mini_images[name])
    result = loaded.cli("search", str(query), "-k", "5", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 5
    assert hits[0]["id"] == point_id(sha) and hits[0]["path"] == name
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_loading_the_same_zip_again_adds_nothing(loaded, mini_zip, mini_images):
    result = loaded.cli("load", str(mini_zip))
    assert result.returncode == 0, result.stderr
    count = len({hashlib.sha256(data).hexdigest() for data in mini_images.values()})
    assert re.search(r"indexed\s+0\b", result.stdout), result.stdout
    assert re.search(rf"already present\s+{count:,}\b", result.stdout), result.stdout
    assert info(loaded)["points"] == count


@pytest.mark.server
def test_shards_replicas_and_write_consistency_reach_the_server(tmp_path, mini_images):
    """`ingest load --shards --replicas --write-consistency` creates the collection with them
    (on a cluster, across its nodes). 2/1/1 fit one server as well as three nodes."""
    reason = server_unavailable()
    if reason:
        pytest.skip(reason)
    subset = tmp_path / "subset.zip"
    with zipfile.ZipFile(subset, "w") as zf:  # enough to train on, quick to train
        for name, data in sorted(mini_images.items())[:40]:
            zf.writestr(name, data)
    loaded = Loaded(tmp_path / "cbir-data", unique_collection(), server_env())
    try:
        result = loaded.cli(
            "load", str(subset), "--epochs", "1", "--shards", "2", "--replicas", "1", "--write-consistency", "1"
        )
        assert result.returncode == 0, result.stderr
        facts = info(loaded)
        assert facts["points"] == 40
        client = server_client()
        try:
            params = client.get_collection(facts["physical_collection"]).config.params
        finally:
            client.close()
        assert (params.shard_number, params.replication_factor, params.write_consistency_factor) == (2, 1, 1)
    finally:
        drop(loaded.collection)
