"""bench/datasets.py: a benchmark's data set, by name, is found in `$CBIR_DATASETS` or else in
../shared/datasets; one that is not there stops the benchmark with one line saying where it looked
and where to read how to get it."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from bench import ROOT, datasets


def test_a_name_is_the_zip_of_that_name_in_the_folder_cbir_datasets_names(tmp_path, monkeypatch):
    zipfile.ZipFile(tmp_path / "bigcats.zip", "w").close()
    monkeypatch.setenv("CBIR_DATASETS", str(tmp_path))
    assert datasets.folder() == tmp_path
    assert datasets.zip_path("bigcats") == datasets.zip_path("bigcats.zip") == tmp_path / "bigcats.zip"


def test_without_cbir_datasets_the_folder_is_shared_datasets_beside_the_repository(monkeypatch):
    monkeypatch.delenv("CBIR_DATASETS", raising=False)
    assert datasets.folder() == ROOT.parent / "shared" / "datasets"


def test_a_zip_that_exists_is_taken_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("CBIR_DATASETS", str(tmp_path / "elsewhere"))
    own = tmp_path / "photos.zip"
    zipfile.ZipFile(own, "w").close()
    assert datasets.zip_path(str(own)) == own
    assert datasets.zip_path(own) == own


def test_a_missing_data_set_is_one_line_naming_where_it_looked_and_the_docs(tmp_path, monkeypatch):
    monkeypatch.setenv("CBIR_DATASETS", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        datasets.zip_path("dogbreeds")
    said = str(stopped.value)
    assert "\n" not in said
    assert str(tmp_path / "dogbreeds.zip") in said and f"CBIR_DATASETS={tmp_path}" in said
    assert "docs/benchmarks.md" in said and "How to get the data sets" in said
    with pytest.raises(SystemExit, match="no zip at"):
        datasets.zip_path(tmp_path / "nowhere" / "photos.zip")


def test_a_benchmark_stops_with_that_line_alone(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "from bench import datasets; datasets.zip_path('nosuch')"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CBIR_DATASETS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: data set 'nosuch' not found: no {tmp_path / 'nosuch.zip'} (CBIR_DATASETS={tmp_path}); "
        'see "How to get the data sets" in docs/benchmarks.md'
    ]
