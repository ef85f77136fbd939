"""A data directory on a small file system, filled for real: a loop-mounted ext4 and a tmpfs (where
Qdrant Edge's memory maps take the full size of its files once a collection is opened), mounted
by the test (root, as CI has; skipped elsewhere with the reason). No command may ever end by a
signal ("Bus error"): a load is refused or stopped in one line, and so is any command that
would open the store without room to open it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo
from test_faults import fill, model_home, mount, needs_root, one_line_error, small_disk

from ingest.store import space

from conftest import ROOT, run_cli

CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10-animals.zip"


@contextmanager
def small_tmpfs(path: Path, megabytes: int):
    path.mkdir(parents=True, exist_ok=True)
    mount("-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def file_system(kind: str, path: Path, megabytes: int):
    with (small_tmpfs if kind == "tmpfs" else small_disk)(path, megabytes) as disk:
        yield disk


def tagged_photos(path: Path, mini_images: dict[str, bytes], tag: str) -> Path:
    """The sample as PNGs tagged with `tag`, twice (the second mirrored): 600 photos whose bytes
    no other tag shares, so that each zip adds new points."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in mini_images.items():
            image = Image.open(io.BytesIO(data))
            for copy, variant in enumerate((image, ImageOps.mirror(image))):
                info = PngInfo()
                info.add_text("zip", tag)
                buffer = io.BytesIO()
                variant.save(buffer, "PNG", pnginfo=info)
                zf.writestr(f"{tag}/{copy}/{name}", buffer.getvalue())
    return path


def no_signal(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """0, 1 or a one-line error (2): never killed by a signal (SIGBUS: -7 here, 135 from a shell)."""
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr[-2000:])
    if result.returncode == 2:
        one_line_error(result)
    return result


@needs_root
@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_loads_fill_a_small_disk_until_refused_and_nothing_ever_ends_by_a_signal(
    kind, loaded_home, mini_images, tmp_path
):
    zips = [tagged_photos(tmp_path / f"part{i}.zip", mini_images, f"part{i}") for i in range(8)]
    with file_system(kind, tmp_path / "disk", 200 if kind == "tmpfs" else 100) as disk:
        home = disk / "cbir-data"
        model_id = model_home(loaded_home, home)
        loaded, refused = [], None
        for i, source in enumerate(zips):
            result = no_signal(run_cli(home, "load", str(source), "--model", model_id, "--json"))
            no_signal(run_cli(home, "info"))  # on a tmpfs the first opening reads the collection in
            if result.returncode == 2:
                refused = source
                break
            loaded.append(json.loads(result.stdout)["indexed"] + json.loads(result.stdout)["already_present"])
            if i == 0:  # after the first: leave room for a few more loads, not for eight
                filler = fill(disk, 28 * 2**20)
        assert refused is not None and len(loaded) >= 2, "the disk filled up too soon, or never"
        no_signal(run_cli(home, "check"))
        filler.unlink()  # room again: the refused load now completes, and every photo is there once
        again = no_signal(run_cli(home, "load", str(refused), "--model", model_id, "--json"))
        assert again.returncode == 0, again.stderr
        facts = json.loads(run_cli(home, "info", "--json").stdout)
        assert facts["points"] == sum(loaded) + json.loads(again.stdout)["indexed"]


@needs_root
@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_a_disk_filled_by_something_else_is_one_line_for_every_command_and_the_page(
    kind, loaded_home, mini_zip, tmp_path, monkeypatch
):
    with file_system(kind, tmp_path / "disk", 160 if kind == "tmpfs" else 60) as disk:
        home = disk / "cbir-data"
        model_id = model_home(loaded_home, home)
        assert run_cli(home, "load", str(mini_zip), "--model", model_id).returncode == 0
        # On a tmpfs the next opening would read the collection's files whole: fill it before that.
        filler = fill(disk, 2 * 2**20)
        query = next((home / "media").glob("*/*"))
        for command in (("info",), ("search", str(query)), ("sources",), ("evaluate",), ("remove", "--path", "*")):
            line = one_line_error(no_signal(run_cli(home, *command)), "MB free")
            assert "free some space" in line
        assert no_signal(run_cli(home, "check")).returncode == 1
        _the_page_says_so(home, monkeypatch)
        filler.unlink()
        facts = json.loads(run_cli(home, "info", "--json").stdout)
        assert facts["points"] == 300


def _the_page_says_so(home: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CBIR_HOME", str(home))
    for name in ("QDRANT_URL", "CBIR_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "needs" in at.error[0].value and "free some space" in at.error[0].value


@needs_root
@pytest.mark.skipif(not CIFAR.exists(), reason=f"needs {CIFAR}")
def test_a_load_that_would_fill_a_tmpfs_once_opened_is_refused_before_it_writes(loaded_home, tmp_path):
    """6,000 thumbnails on a 120 MB tmpfs: 41 MB of media and points fit, but the collection takes
    96 MB more once it is opened again, which used to end every later command in SIGBUS."""
    with small_tmpfs(tmp_path / "disk", 120) as disk:
        home = disk / "cbir-data"
        model_id = model_home(loaded_home, home)
        line = one_line_error(run_cli(home, "load", str(CIFAR), "--model", model_id), "tmpfs", "needs about")
        assert "6,000 files" in line
        assert not (home / "media").exists() and not (home / "qdrant-edge").exists()


@needs_root
def test_the_room_a_collection_takes_once_opened_on_a_tmpfs_is_what_opening_allocates(loaded_home, tmp_path):
    from ingest.store.backup import Copied, copy_tree

    with small_tmpfs(tmp_path / "disk", 300) as disk:
        copy_tree(loaded_home / "qdrant-edge", disk / "qdrant-edge", Copied())  # its holes kept
        (folder,) = (disk / "qdrant-edge" / "collections").iterdir()
        before, predicted = shutil.disk_usage(disk).used, space.growth_on_open(folder)
        assert predicted > 32 * 2**20  # the vectors' and indexes' files, read whole
        from ingest.store.edge import EdgeStore

        with EdgeStore(disk / "qdrant-edge") as store:
            store.count(folder.name)
        grown = shutil.disk_usage(disk).used - before
        assert abs(grown - predicted) < 2 * 2**20
        assert space.growth_on_open(folder) < 2**20  # opened once, read in for good
    assert space.growth_on_open(loaded_home / "qdrant-edge" / "collections" / folder.name) == 0  # ext4: nothing
