"""Keeping a collection in step with a folder (`ingest load --prune`), and taking photos out
(`ingest sources`, `ingest remove`), through the real CLI on a real store and media store.

The folders hold small synthetic pictures, loaded into their own collection with the model
the session's sample was loaded with (no training)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from ingest.load.records import point_id
from ingest.settings import Settings
from ingest.store import collections as cols

from conftest import ROOT, cli_env, run_cli, store_at
from images_for_tests import photo

LIBRARY = "library"


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    photo(seed).save(buffer, format="PNG")
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_folder(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def folder_state(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def model_of(home: Path) -> str:
    """The model that filled the sample's collection: a new collection reuses it (no training)."""
    with store_at(home) as store:
        return cols.require(store, "animals").model_id


def payloads(home: Path, collection: str) -> dict[str, dict]:
    """Point id -> payload, every point of the collection."""
    with store_at(home) as store:
        return {p.id: p.payload for p in store.points(cols.require(store, collection).physical)}


def media_has(home: Path, data: bytes) -> bool:
    digest = sha(data)
    return (Settings(home).media_dir / digest[:2] / digest).exists()


def cli_on(home: Path, stdin, *args: str) -> subprocess.CompletedProcess:
    """`ingest ARGS` reading its answers from `stdin` (a terminal, or none)."""
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        cwd=ROOT,
        env=cli_env(home),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def load(home: Path, folder: Path, *args: str) -> dict:
    result = run_cli(home, "load", str(folder), "--collection", LIBRARY, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_load_with_prune_forgets_deleted_files_and_follows_moved_ones(home_copy, tmp_path):
    album, other = tmp_path / "album", tmp_path / "other"
    a, b, c, d, e, f, new = (png(seed) for seed in range(1, 8))
    # A folder is read in sorted order: bird/f.png is stored, bird/g.png is its copy.
    write_folder(album, {"bird/f.png": f, "bird/g.png": f, "cat/a.png": a, "cat/b.png": b, "dog/c.png": c})
    write_folder(album, {"dog/d.png": d, "dog/e.png": e, "z/b-copy.png": b})
    write_folder(other, {"x/c.png": c})  # another source holds c's bytes too
    first = load(home_copy, album, "--model", model_of(home_copy))
    assert (first["indexed"], first["already_present"], first["sync"]) == (6, 2, None)
    assert load(home_copy, other)["already_present"] == 1

    for gone in ("cat/a.png", "dog/e.png", "dog/c.png", "bird/f.png", "z/b-copy.png"):
        (album / gone).unlink()
    (album / "dog/d.png").rename(album / "cat/d.png")
    write_folder(album, {"new/n.png": new})
    before = folder_state(album)

    synced = run_cli(home_copy, "load", str(album), "--collection", LIBRARY, "--prune")
    assert synced.returncode == 0, synced.stderr
    assert (
        "  sync             added 1, moved 3, removed 2, 1 copies forgotten "
        "(files gone from album; 2 unused media copies deleted)\n"
    ) in synced.stdout
    assert folder_state(album) == before  # the user's files are only read

    stored = payloads(home_copy, LIBRARY)
    places = {
        pid: (p["source"], p["path"], p["label"], p.get("copies", []))
        for pid, p in stored.items()  # `copies` is absent on a point never seen twice
    }
    album_name, other_name = str(album.resolve()), str(other.resolve())  # a source is known by its full path
    assert places == {
        point_id(sha(b)): (album_name, "cat/b.png", "cat", []),  # its copy's file is gone
        point_id(sha(c)): (other_name, "x/c.png", "x", []),  # still in the other source
        point_id(sha(d)): (album_name, "cat/d.png", "cat", []),  # moved: a new path, a new label
        point_id(sha(f)): (album_name, "bird/g.png", "bird", []),  # its copy became the photo
        point_id(sha(new)): (album_name, "new/n.png", "new", []),
    }
    assert not media_has(home_copy, a) and not media_has(home_copy, e)
    assert all(media_has(home_copy, data) for data in (b, c, d, f, new))

    query = tmp_path / "deleted.png"
    query.write_bytes(a)
    found = run_cli(home_copy, "search", str(query), "--collection", LIBRARY, "-k", "10", "--json")
    assert found.returncode == 0, found.stderr
    assert sorted(h["id"] for h in json.loads(found.stdout)) == sorted(places)  # every photo left, no other


def test_sources_lists_what_was_loaded_and_remove_takes_photos_out(home_copy, tmp_path, mini_images):
    shared_name = "cifar10-animals-mini/cat/0001.jpg"
    shared = mini_images[shared_name]  # also a photo of the collection "animals"
    one, two = png(11), png(12)
    write_folder(tmp_path / "album", {"cat/one.png": one, "cat/two.png": two, "mini/cat-0001.jpg": shared})
    load(home_copy, tmp_path / "album", "--model", model_of(home_copy))

    listed = run_cli(home_copy, "sources", "--json")
    assert listed.returncode == 0, listed.stderr
    (source,) = json.loads(listed.stdout)["sources"]
    assert source["photos"] == 300 and source["copies"] == 0
    assert source["labels"] == {label: 50 for label in ("bird", "cat", "deer", "dog", "frog", "horse")}
    first, last = (dt.datetime.fromisoformat(source[key]) for key in ("first_load", "last_load"))
    assert dt.timedelta(0) <= last - first < dt.timedelta(minutes=10)  # one load, written batch by batch

    glob = "cifar10-animals-mini/cat/000*"
    asked = cli_on(home_copy, subprocess.DEVNULL, "remove", "--path", glob)  # no terminal to answer on
    assert asked.returncode == 2
    lines = [line.strip() for line in asked.stderr.strip().splitlines()]
    assert lines[0].startswith("10 photos will be removed") and f"remove {source['source']}:{shared_name}" in lines
    assert lines[-1] == (
        "error: nothing removed: there is no terminal to confirm on; add --yes to remove without asking"
    )

    controller, terminal = pty.openpty()  # a terminal, where the user types "y" to the question
    try:
        os.write(controller, b"y\n")
        removed = cli_on(home_copy, terminal, "remove", "--path", glob, "--json")
    finally:
        os.close(controller)
        os.close(terminal)
    assert removed.returncode == 0, removed.stderr
    assert "Remove them from 'animals'? [y/N]:" in removed.stderr
    done = json.loads(removed.stdout)
    # The nine pictures no other point uses are deleted; cat/0001 is still a photo of the library.
    assert (done["removed"], done["moved"], done["media_deleted"]) == (10, 0, 9)
    assert sorted(p["path"] for p in done["removed_places"]) == [
        f"cifar10-animals-mini/cat/{i:04d}.jpg" for i in range(10)
    ]
    assert not media_has(home_copy, mini_images["cifar10-animals-mini/cat/0002.jpg"])
    assert media_has(home_copy, shared)
    assert len(payloads(home_copy, "animals")) == 290

    gone = run_cli(home_copy, "remove", "--source", "album", "--collection", LIBRARY, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith("removed 3 photos from 'library'") and "3 unused media copies deleted" in gone.stdout
    assert not any(media_has(home_copy, data) for data in (one, two, shared))  # now nothing uses them
    assert payloads(home_copy, LIBRARY) == {}
    assert media_has(home_copy, mini_images["cifar10-animals-mini/cat/0010.jpg"])  # the rest is untouched
