"""Sources known by their full path, and media copies shared by the stores of one data
directory, through the real CLI: two folders called DCIM never prune each other, a collection
an earlier version filled is renamed as its files are met again, and `remove` in one store
never deletes a picture that another store of the data directory still needs."""

from __future__ import annotations

import json
import socket

from test_sync import LIBRARY, load, media_has, model_of, payloads, png, write_folder

from ingest.settings import Settings
from ingest.store import Point
from ingest.store import collections as cols
from ingest.store.client import ClientStore
from ingest.store.media_users import SERVERS

from conftest import run_cli, store_at


def sources(home) -> dict[str, int]:
    listed = run_cli(home, "sources", "--collection", LIBRARY, "--json")
    assert listed.returncode == 0, listed.stderr
    return {s["source"]: s["photos"] for s in json.loads(listed.stdout)["sources"]}


def test_two_folders_called_dcim_are_two_sources_and_never_prune_each_other(home_copy, tmp_path):
    first, second = (tmp_path / "phone" / "DCIM").resolve(), (tmp_path / "camera" / "DCIM").resolve()
    write_folder(first, {"100APPLE/a.png": png(1), "100APPLE/b.png": png(2)})
    write_folder(second, {"100APPLE/c.png": png(3), "100APPLE/d.png": png(4)})
    load(home_copy, first, "--model", model_of(home_copy))
    load(home_copy, second)
    assert sources(home_copy) == {str(first): 2, str(second): 2}

    (first / "100APPLE" / "a.png").unlink()
    synced = load(home_copy, first, "--prune")["sync"]
    assert (synced["removed"], synced["moved"]) == (1, 0)  # a.png only: the other DCIM is not this one
    assert sources(home_copy) == {str(first): 1, str(second): 2}

    ambiguous = run_cli(home_copy, "remove", "--source", "DCIM", "--collection", LIBRARY, "--yes")
    assert ambiguous.returncode == 2 and "2 sources are called DCIM: give the full path" in ambiguous.stderr
    gone = run_cli(home_copy, "remove", "--source", str(second), "--collection", LIBRARY, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert sources(home_copy) == {str(first): 1}


def test_a_source_an_earlier_version_named_by_its_base_name_is_renamed_on_the_next_load(home_copy, tmp_path):
    album = (tmp_path / "album").resolve()
    write_folder(album, {"cat/a.png": png(1), "cat/b.png": png(2), "dog/c.png": png(3)})
    load(home_copy, album, "--model", model_of(home_copy))
    with store_at(home_copy) as store:  # as an earlier version wrote them
        physical = cols.require(store, LIBRARY).physical
        store.set_payload(physical, [p.id for p in store.points(physical)], {"source": "album"})
    (album / "dog" / "c.png").unlink()  # gone since: nothing meets it again

    again = load(home_copy, album, "--prune")
    assert (again["indexed"], again["already_present"], again["copies"]) == (0, 2, [])  # no copy of itself
    assert sources(home_copy) == {str(album): 2, "album": 1}  # what the load did not meet keeps its name
    assert again["sync"]["removed"] == 0  # and is not taken for a file of this folder
    forgot = run_cli(home_copy, "remove", "--source", "album", "--collection", LIBRARY, "--yes")
    assert forgot.returncode == 0, forgot.stderr  # the old name, exactly: the photo gone since
    assert forgot.stdout.startswith("removed 1 photos") and sources(home_copy) == {str(album): 2}


def test_remove_in_one_store_never_deletes_a_picture_another_store_needs(home_copy, mini_images):
    # The same collection in an earlier version's store, not migrated: its points use the same media.
    with store_at(home_copy) as store:
        state = cols.state(store, "animals")
        points = [Point(p.id, p.vector, p.payload) for p in store.points(state.physical, vectors=True)]
    with ClientStore.local_mode(home_copy / "qdrant") as old:
        old.create_collection(state.physical, len(points[0].vector), state.metadata)
        old.upsert(state.physical, points)

    cats = "cifar10-animals-mini/cat/*"
    removed = run_cli(home_copy, "remove", "--path", cats, "--yes", "--json")
    assert removed.returncode == 0, removed.stderr
    done = json.loads(removed.stdout)
    assert (done["removed"], done["media_deleted"]) == (50, 0)  # the old store's points still show them
    assert all(media_has(home_copy, data) for name, data in mini_images.items() if "/cat/" in name)

    # Once migrated, the old store is a finished copy: the copies only it holds go with the next removal.
    (Settings(home_copy).store_dir / "migrated-from-local-mode.json").write_text("{}")
    dogs = json.loads(run_cli(home_copy, "remove", "--path", "cifar10-animals-mini/dog/*", "--yes", "--json").stdout)
    assert (dogs["removed"], dogs["media_deleted"]) == (50, 50)


def test_a_server_that_cannot_be_asked_keeps_every_copy(home_copy, mini_images):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        (home_copy / SERVERS).write_text(json.dumps({"servers": [url]}))  # a server this data directory fed
        removed = run_cli(home_copy, "remove", "--path", "cifar10-animals-mini/frog/*", "--yes", QDRANT_TIMEOUT="2")
    assert removed.returncode == 0, removed.stderr
    assert f"note: every media copy was kept: the Qdrant server at {url} also uses this data directory" in (
        removed.stderr
    )
    assert "0 unused media copies deleted" in removed.stdout
    assert all(media_has(home_copy, data) for name, data in mini_images.items() if "/frog/" in name)
    assert len(payloads(home_copy, "animals")) == 250
