"""Shared fixtures: the real CLI as a subprocess, real images, real Qdrant storage on disk.

Training is the slow part, so one session-wide data directory is filled once from the mini
sample (`loaded_home`); a test that changes state works on its own copy (`home_copy`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Under pytest-xdist each worker, and every CLI it starts, would otherwise run torch on every core:
# two such processes on two cores train ~6x slower (measured) than with a core each.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

import pytest  # noqa: E402
import torch  # noqa: E402

from ingest.settings import Settings  # noqa: E402
from ingest.store import Store, open_store  # noqa: E402
from ingest.store.backup import copy_sparse  # noqa: E402

# On a GPU, cuDNN's float32 convolutions default to TF32 (a 10-bit mantissa): a photo embedded
# alone and in a batch then differ by 1e-4. The tests compare float32 vectors that closely, so they
# compute in full float32 there, as on a CPU. (The product computes in bfloat16 on a GPU.)
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False

ROOT = Path(__file__).resolve().parents[1]
SHARED_MINI = ROOT.parent / "shared" / "datasets" / "cifar10-animals-mini.zip"
BUNDLED_MINI = ROOT / "examples" / "animals-mini.zip"
TEST_EPOCHS = "2"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def mini_zip() -> Path:
    """The 300-photo sample: ../shared's copy when present, else the bundled one (same file)."""
    return SHARED_MINI if SHARED_MINI.exists() else BUNDLED_MINI


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "CBIR_"))}
    env.update(CBIR_HOME=str(home), COLUMNS="200", **extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`ingest ARGS` in a fresh process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        cwd=ROOT,
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(home: Path, *args: str, **popen: Any) -> subprocess.Popen:
    """`ingest ARGS` started in its own process, as a user would run it, for a test that acts
    while it runs (kills it, reads its lines as they come); text pipes unless told otherwise."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([sys.executable, "-m", "ingest.cli", *args], cwd=ROOT, env=cli_env(home), **options)


@pytest.fixture(scope="session")
def loaded_home(tmp_path_factory, mini_zip) -> Path:
    """A data directory holding the mini sample, loaded through the CLI (model trained)."""
    home = tmp_path_factory.mktemp("loaded") / "cbir-data"
    result = run_cli(home, "load", str(mini_zip), "--epochs", TEST_EPOCHS)
    assert result.returncode == 0, result.stderr
    return home


def copy_home(src: Path, dst: Path) -> Path:
    """Copy a data directory as a backup does: Edge's files are mostly holes, and a plain
    copytree would write each of them out in full (about 200 MB a collection)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"), copy_function=sparse_copy)
    return dst


def sparse_copy(src: str, dst: str) -> None:
    copy_sparse(Path(src), Path(dst))


@pytest.fixture
def home_copy(loaded_home, tmp_path) -> Path:
    """A private copy of `loaded_home` that a test may change."""
    return copy_home(loaded_home, tmp_path / "cbir-data")


@pytest.fixture(scope="session")
def mini_images(tmp_path_factory, mini_zip) -> dict[str, bytes]:
    """Archive path -> bytes of every image of the sample."""
    with zipfile.ZipFile(mini_zip) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


@contextmanager
def store_at(home: Path) -> Iterator[Store]:
    """The embedded store of a data directory, closed (and its lock released) afterwards."""
    with open_store(Settings(home), wait_s=30) as store:
        yield store
