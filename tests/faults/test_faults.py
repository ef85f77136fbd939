"""A load meets a real machine's faults: a full disk and a read-only data directory, made
for real, not mocked: a small ext4 file system in a file, mounted by the test (not a tmpfs:
Qdrant Edge maps its sparse files into memory, and on a tmpfs that needs their whole apparent
size, which no disk does), and a read-only bind mount. Mounting needs root, as CI has;
elsewhere these tests are skipped with the reason."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from conftest import run_cli, start_cli

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system or a read-only bind mount needs root")


def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()})")


@contextmanager
def small_disk(path: Path, megabytes: int):
    """An ext4 file system of this size, in a file, mounted at `path`."""
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 is missing (apt-get install e2fsprogs)")
    image = path.with_suffix(".img")
    with open(image, "wb") as f:
        f.truncate(megabytes * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    path.mkdir(parents=True, exist_ok=True)
    mount("-o", "loop", str(image), str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        image.unlink()


@contextmanager
def read_only(path: Path):
    mount("--bind", str(path), str(path))
    try:
        mount("-o", "remount,ro,bind", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def one_line_error(result, *words: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), result.stderr
    for word in words:
        assert word in line, line
    return line


def model_home(loaded_home: Path, home: Path) -> str:
    """A data directory holding only the trained model of the loaded sample; its id."""
    (model,) = (folder for folder in (loaded_home / "models").iterdir() if (folder / "model.pt").exists())
    shutil.copytree(model, home / "models" / model.name)
    return model.name


def many_photos(path: Path, mini_images: dict[str, bytes], copies: int) -> int:
    """`copies` variants of every sample photo: mirrored and rotated, and each file tagged with
    its variant, so that every file's bytes differ (distinct points) however many are asked for."""
    count = 0
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in mini_images.items():
            image = Image.open(io.BytesIO(data))
            for c in range(copies):
                variant = ImageOps.mirror(image) if c % 2 else image
                buffer = io.BytesIO()
                tag = PngInfo()
                tag.add_text("variant", str(c))
                variant.rotate(90 * (c // 2 % 4)).save(buffer, "PNG", pnginfo=tag)
                zf.writestr(f"v{c}/{name}", buffer.getvalue())
                count += 1
    return count


def fill(folder: Path, leave_bytes: int) -> Path:
    """A file that takes all the free space but `leave_bytes`: the disk is (nearly) full."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(0, free - leave_bytes))
    return filler


@needs_root
def test_a_full_disk_stops_a_load_in_one_line_and_the_same_command_finishes_it(loaded_home, mini_images, tmp_path):
    source = tmp_path / "many.zip"
    total = many_photos(source, mini_images, 8)
    with small_disk(tmp_path / "disk", 100) as disk:
        home = disk / "cbir-data"
        model_id = model_home(loaded_home, home)
        args = ("load", str(source), "--model", model_id, "--json")

        filler = fill(disk, 4 * 2**20)  # clearly too little: refused before anything is written
        line = one_line_error(run_cli(home, *args), "MB free and this load needs about", "free some space")
        assert not (home / "media").exists() and not (home / "qdrant-edge").exists()
        filler.unlink()

        # Enough to start; then the disk fills up while the load writes (another program, say).
        # Media copies are written as photos are read, up to ~1,500 ahead of their points
        # (reading ahead, batches being embedded, the writer's queue): wait for 1,700 of 2,400,
        # so that the store already holds some points when the disk fills.
        media = home / "media"
        load = start_cli(home, *args)
        deadline = time.monotonic() + 120
        while load.poll() is None and time.monotonic() < deadline:
            if media.exists() and sum(1 for p in media.rglob("*") if p.is_file()) > 1700:
                break
            time.sleep(0.2)  # counting the copies takes CPU from the load it watches
        filler = fill(disk, 2**20)
        out, err = load.communicate(timeout=120)
        line = one_line_error(subprocess.CompletedProcess(load.args, load.returncode, out, err), "no space left")
        assert "run the same command again" in line

        filler.unlink()
        again = run_cli(home, *args)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["indexed"] + report["already_present"] == total
        assert report["indexed"] < total  # the first run had stored some: kept, not stored twice
        facts = json.loads(run_cli(home, "info", "--json").stdout)
        assert facts["points"] == total  # every photo, once


@needs_root
def test_a_read_only_data_directory_is_one_line_and_nothing_is_written(home_copy, mini_zip):
    before = sorted(p.relative_to(home_copy) for p in home_copy.rglob("*"))
    with read_only(home_copy):
        line = one_line_error(run_cli(home_copy, "load", str(mini_zip)), "read-only", "CBIR_HOME")
        assert str(home_copy) in line
        info = run_cli(home_copy, "info")
        one_line_error(info, "read-only")
    assert sorted(p.relative_to(home_copy) for p in home_copy.rglob("*")) == before


def test_a_killed_training_resumes_from_its_last_saved_epoch(mini_zip, tmp_path):
    home = tmp_path / "cbir-data"
    state = home / "models" / "training" / "animals.pt"
    args = ("load", str(mini_zip), "--epochs", "3", "--json")
    first = start_cli(home, *args)
    deadline = time.monotonic() + 300
    saved_epochs = 0
    while first.poll() is None and time.monotonic() < deadline and saved_epochs < 1:
        if state.exists():
            try:
                saved_epochs = len(torch.load(state, weights_only=True)["history"])
            except Exception:
                pass  # being replaced right now
        time.sleep(0.2)
    first.kill()  # SIGKILL: nothing is cleaned up, as after a power cut
    first.communicate()
    assert saved_epochs >= 1, "the training never saved an epoch"

    again = run_cli(home, *args)
    assert again.returncode == 0, again.stderr
    resumed = [line for line in again.stderr.splitlines() if line.startswith("resuming the training")]
    assert len(resumed) == 1 and f"{saved_epochs} of 3 epochs done" in resumed[0]
    facts = json.loads(run_cli(home, "info", "--json").stdout)
    assert facts["model"]["epochs_run"] == 3 and facts["model"]["resumed_after_epoch"] == saved_epochs
    assert facts["points"] == 300  # the whole load, every photo once
    assert not state.parent.exists()  # a finished training leaves nothing behind
