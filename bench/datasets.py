"""Where the benchmarks' data sets are: a data set is named (`bigcats`, `cifar10-animals`) and is
the zip of that name in the folder `$CBIR_DATASETS` names, else in ../shared/datasets beside the
repository. docs/benchmarks.md ("How to get the data sets") says where each comes from.

    python -m bench.quality --zip bigcats                              # ../shared/datasets/bigcats.zip
    CBIR_DATASETS=~/datasets python -m bench.quality --zip bigcats     # ~/datasets/bigcats.zip
    python -m bench.quality --zip path/to/photos.zip                   # a zip of one's own
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import ROOT

HOW_TO_GET = 'see "How to get the data sets" in docs/benchmarks.md'


class MissingDataset(SystemExit):
    """A data set that is not where it was looked for: a benchmark stops with this one line."""


def folder() -> Path:
    """The folder that holds the data sets' zips: `$CBIR_DATASETS`, else ../shared/datasets."""
    named = os.environ.get("CBIR_DATASETS")
    return Path(named).expanduser() if named else ROOT.parent / "shared" / "datasets"


def zip_path(name: str | Path) -> Path:
    """The zip of data set `name` ("bigcats" or "bigcats.zip"), in `folder()`; a path to a zip
    that exists is taken as it is. Neither: `MissingDataset`, naming where it looked."""
    given = Path(name).expanduser()
    if given.is_file():
        return given
    if given.parent != Path("."):  # a path, not a name
        raise MissingDataset(f"error: no zip at {given}: give a data set's name or the path of a zip")
    place = folder() / f"{given.name.removesuffix('.zip')}.zip"
    if not place.is_file():
        named = os.environ.get("CBIR_DATASETS")
        where = f"CBIR_DATASETS={named}" if named else "set CBIR_DATASETS to the folder that holds it"
        raise MissingDataset(f"error: data set {given.name!r} not found: no {place} ({where}); {HOW_TO_GET}")
    return place
