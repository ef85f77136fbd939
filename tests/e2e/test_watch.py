"""`ingest watch` as a user runs it: the real CLI in a subprocess watching a real folder, the
collection read back from the real store between changes. Photos are added, rewritten, moved and
deleted, one is written slowly in pieces; the collection must converge to the folder each time.
SIGTERM ends the watch cleanly; a kill -9, changes while nothing watches, and a restart converge
too."""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.store import collections as cols

from conftest import ROOT, cli_env, start_cli, store_at
from images_for_tests import photo

CONVERGE_S = 60


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    photo(seed, (48, 40)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Watch:
    """`ingest watch FOLDER --json` in a subprocess; its lines collected as they come."""

    def __init__(self, home: Path, folder: Path, *args: str) -> None:
        self.process = start_cli(home, "watch", str(folder), "--json", *args)
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.said: list[str] = []  # its messages (stderr)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._listen, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def _listen(self) -> None:
        for line in self.process.stderr:
            self.said.append(line)

    def ready(self, timeout: float = 120) -> None:
        """Until it says it is watching (its signal handlers are in place by then)."""
        deadline = time.monotonic() + timeout
        while not any(line.startswith("watching ") for line in self.said):
            assert time.monotonic() < deadline and self.process.poll() is None, "".join(self.said)
            time.sleep(0.2)

    def changes(self) -> list[dict]:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if sig != signal.SIGKILL:
            self.ready()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        finally:
            self.process.kill()
        time.sleep(0.2)  # the last lines read
        return code, "".join(self.said)


def places(home: Path, source: str) -> dict[str, str]:
    """path -> SHA-256 of every place of `source` in the collection: points and their copies."""
    if not (home / "qdrant-edge" / "manifest.json").exists():
        return {}  # nothing loaded yet
    with store_at(home) as store:
        state, found = cols.state(store, "animals"), {}
        if state is None:
            return found
        for point in store.points(state.physical, payload=["source", "path", "copies", "sha256"]):
            for place in [point.payload, *(point.payload.get("copies") or [])]:
                if place.get("source") == source:
                    found[place["path"]] = point.payload["sha256"]
    return found


def files_of(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix == ".jpg"
    }


def converged(home: Path, folder: Path, watch: Watch | None = None) -> dict[str, str]:
    """Waits until the collection holds exactly the folder's photos, each with its bytes."""
    deadline, last = time.monotonic() + CONVERGE_S, None
    while time.monotonic() < deadline:
        last = places(home, str(folder.resolve()))  # a source is named by its full path
        if last == files_of(folder):
            return last
        assert watch is None or watch.process.poll() is None, "".join(watch.said)
        time.sleep(0.5)
    raise AssertionError(f"not converged: store {last}, folder {files_of(folder)}")


def kinds(watch: Watch, path: str) -> list[str]:
    return [c["kind"] for c in watch.changes() if c["path"] == path]


@pytest.fixture
def folder(tmp_path) -> Path:
    photos = tmp_path / "photos"
    (photos / "2024").mkdir(parents=True)
    for n in range(3):
        (photos / "2024" / f"IMG_{n}.jpg").write_bytes(jpeg(100 + n))
    return photos


def test_watch_follows_adds_changes_moves_deletes_and_a_slow_writer_and_stops_on_sigterm(home_copy, folder):
    watch = Watch(home_copy, folder)
    converged(home_copy, folder, watch)
    (folder / "2024" / "IMG_3.jpg").write_bytes(jpeg(103))
    (folder / "2024" / "IMG_4.jpg").write_bytes(jpeg(104))
    (folder / "notes.txt").write_text("not a photo")
    converged(home_copy, folder, watch)
    (folder / "2024" / "IMG_0.jpg").write_bytes(jpeg(200))  # edited: other bytes at the same path
    (folder / "2025").mkdir()
    os.rename(folder / "2024" / "IMG_1.jpg", folder / "2025" / "IMG_1.jpg")
    (folder / "2024" / "IMG_2.jpg").unlink()
    after = converged(home_copy, folder, watch)
    assert after["2024/IMG_0.jpg"] == hashlib.sha256(jpeg(200)).hexdigest()
    time.sleep(1)
    assert "changed" in kinds(watch, "2024/IMG_0.jpg") and "removed" in kinds(watch, "2024/IMG_2.jpg")
    assert any(c["kind"] == "moved" and c["detail"] == "-> 2025/IMG_1.jpg" for c in watch.changes())
    assert kinds(watch, "notes.txt") == ["skipped"]
    with store_at(home_copy) as store:  # the edited photo's old point is gone, not kept beside it
        physical = cols.require(store, "animals").physical
        assert store.count(physical) == 300 + 4

    # A photo written in four pieces, a second apart: read once, whole, never skipped as truncated.
    slow, data = folder / "2025" / "slow.jpg", jpeg(300)
    with open(slow, "wb") as out:
        for start in range(0, len(data), len(data) // 4 + 1):
            out.write(data[start : start + len(data) // 4 + 1])
            out.flush()
            time.sleep(1.0)
    assert converged(home_copy, folder, watch)["2025/slow.jpg"] == hashlib.sha256(data).hexdigest()
    time.sleep(1)
    assert kinds(watch, "2025/slow.jpg") == ["added"]

    code, said = watch.stop(signal.SIGTERM)
    assert code == 0, said
    assert said.rstrip().endswith("stopped") and "Traceback" not in said


def test_a_watch_killed_hard_and_restarted_converges_with_what_changed_meanwhile(home_copy, folder):
    watch = Watch(home_copy, folder)
    converged(home_copy, folder, watch)
    for n in range(5, 45):  # an import under way when the watch is killed
        (folder / "import" / f"{n}.jpg").parent.mkdir(exist_ok=True)
        (folder / "import" / f"{n}.jpg").write_bytes(jpeg(n))
    time.sleep(1.5)
    watch.stop(signal.SIGKILL)
    (folder / "2024" / "IMG_0.jpg").unlink()  # changes nobody watches
    os.rename(folder / "2024" / "IMG_1.jpg", folder / "import" / "IMG_1.jpg")
    (folder / "late.jpg").write_bytes(jpeg(400))
    restarted = Watch(home_copy, folder)
    converged(home_copy, folder, restarted)
    with store_at(home_copy) as store:
        assert store.count(cols.require(store, "animals").physical) == 300 + len(files_of(folder))
    # A third start, the folder unchanged: nothing is read again (the state remembers every file).
    restarted.stop()
    third = Watch(home_copy, folder)
    third.ready()
    time.sleep(3)
    code, said = third.stop()
    assert code == 0 and [c["kind"] for c in third.changes()] == [], said


def test_watching_a_zip_or_a_missing_folder_says_so_in_one_line(home_copy, tmp_path, mini_zip):
    for target, words in ((mini_zip, "is a zip"), (tmp_path / "nowhere", "does not exist")):
        result = subprocess.run(
            [sys.executable, "-m", "ingest.cli", "watch", str(target)],
            cwd=ROOT,
            env=cli_env(home_copy),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_new_collection_is_loaded_from_the_folder_first(tmp_path, folder):
    for n in range(3, 20):  # enough photos to train on
        (folder / "2024" / f"IMG_{n}.jpg").write_bytes(jpeg(100 + n))
    home = tmp_path / "fresh"
    watch = Watch(home, folder, "--epochs", "1")
    converged(home, folder, watch)
    (folder / "2024" / "IMG_99.jpg").write_bytes(jpeg(199))
    converged(home, folder, watch)
    code, said = watch.stop()
    assert code == 0 and "collection 'animals' has no model yet: loading" in said, said
    assert kinds(watch, "2024/IMG_99.jpg") == ["added"]
