"""Rebuild the benchmarks' data sets from their public sources, offline: given what you downloaded
(a folder, or the zip or tar as downloaded), select and rename the files as docs/benchmarks.md
("How to get the data sets") describes, and write `<name>.zip` into the data sets' folder.

    python -m bench.rebuild_datasets bigcats ~/Downloads/CNN_Tensorflow_Project-main.zip
    python -m bench.rebuild_datasets dogbreeds ~/Downloads/Tp_final_vision-main.zip
    python -m bench.rebuild_datasets antsbees ~/Downloads/hymenoptera_data.zip
    python -m bench.rebuild_datasets cifar10-animals ~/Downloads/cifar-10-python.tar.gz
    python -m bench.rebuild_datasets cifar10-animals-mini ~/Downloads/cifar-10-python.tar.gz

The zip goes to `--out`, else `$CBIR_DATASETS`, else ../shared/datasets beside the repository.
`bigcats.zip`, `dogbreeds.zip` and `antsbees.zip` come out byte for byte as the benchmarks' copies
(same Pillow); the CIFAR sets hold the same images, numbered in the test set's order.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import random
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from bench import datasets

ROOT = Path(__file__).resolve().parents[1]
BIGCATS = ("cheetah", "leopard", "lion", "tiger")
# Imagewoof's ImageNet synsets and the breed each folder is renamed to (the synsets' order is
# the zip's, and the order the 300 photos of each breed are drawn in).
DOG_BREEDS = {
    "n02086240": "shih-tzu",
    "n02087394": "rhodesian-ridgeback",
    "n02088364": "beagle",
    "n02089973": "english-foxhound",
    "n02093754": "border-terrier",
    "n02096294": "australian-terrier",
    "n02099601": "golden-retriever",
    "n02105641": "old-english-sheepdog",
    "n02111889": "samoyed",
    "n02115641": "dingo",
}
DOG_PER_BREED = 300
# CIFAR-10's label numbers of its six animal classes.
CIFAR_ANIMALS = {2: "bird", 3: "cat", 4: "deer", 5: "dog", 6: "frog", 7: "horse"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every entry's date: the same bytes in, the same zip out


@dataclass(frozen=True)
class Entry:
    """A file of the downloaded source: its path inside it (posix, from the folder or archive's
    top) and how to read its bytes."""

    path: PurePosixPath
    size: int
    read: Callable[[], bytes]


def entries(source: Path) -> Iterator[Entry]:
    """Every regular file of a folder, a zip or a tar (any compression), as `Entry`s."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield Entry(PurePosixPath(path.relative_to(source).as_posix()), path.stat().st_size, path.read_bytes)
    elif zipfile.is_zipfile(source):
        archive = zipfile.ZipFile(source)
        for info in archive.infolist():
            if not info.is_dir():
                yield Entry(PurePosixPath(info.filename), info.file_size, lambda info=info: archive.read(info))
    elif tarfile.is_tarfile(source):
        tar = tarfile.open(source)
        for member in tar.getmembers():
            if member.isfile():
                yield Entry(PurePosixPath(member.name), member.size, lambda member=member: _read_member(tar, member))
    else:
        raise SystemExit(f"error: {source} is neither a folder, a zip nor a tar: give what you downloaded")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    assert handle is not None  # a regular file
    return handle.read()


def by_folder(source: Path, wanted: Callable[[PurePosixPath], str | None]) -> dict[str, list[Entry]]:
    """The source's files grouped by what `wanted` says of each path (None: not one of them)."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries(source):
        group = wanted(entry.path)
        if group is not None and not entry.path.name.startswith("."):  # .DS_Store and the like
            groups.setdefault(group, []).append(entry)
    return groups


def reencoded(data: bytes, longer_side: int) -> bytes:
    """A photo as the benchmarks keep it: EXIF orientation applied, RGB, shrunk with Lanczos so
    the longer side is at most `longer_side`, JPEG quality 88."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail((longer_side, longer_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def bigcats(source: Path) -> Iterator[tuple[str, bytes]]:
    """sus194/CNN_Tensorflow_Project, folder animals/: each class folder's files under 1 MB
    (1,000,000 bytes) in sorted order, a file whose bytes an earlier class already holds left
    out (one leopard is a cheetah's file), re-encoded at a longer side of at most 512 px."""

    def wanted(path: PurePosixPath) -> str | None:
        parts = path.parts
        inside = len(parts) == 2 or (len(parts) >= 3 and parts[-3] == "animals")  # or the animals/ folder given
        return parts[-2] if inside and parts[-2] in BIGCATS else None

    groups = by_folder(source, wanted)
    seen: set[str] = set()
    for label in BIGCATS:
        number = 0
        for entry in sorted(groups.get(label, []), key=lambda e: e.path.name):
            if entry.size >= 1_000_000:
                continue
            data = entry.read()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                print(f"skipped {entry.path}: the same file as a photo already taken", file=sys.stderr)
                continue
            try:
                photo = reencoded(data, 512)
            except (OSError, ValueError) as error:  # not a picture Pillow reads
                print(f"skipped {entry.path}: {error}", file=sys.stderr)
                continue
            seen.add(digest)
            yield f"bigcats/{label}/{number:04d}.jpg", photo
            number += 1


def dogbreeds(source: Path) -> Iterator[tuple[str, bytes]]:
    """Sdomato/Tp_final_vision, folder imagewoof2-160/ (fastai's Imagewoof, 160 px): the train/
    and val/ files of each synset together, sorted by name; random.seed(0) once, then for each
    synset in order 300 drawn with random.sample and sorted again; re-encoded at a longer side of
    at most 320 px; the folder named after the breed."""

    def wanted(path: PurePosixPath) -> str | None:
        parts = path.parts
        inside = len(parts) == 3 or (len(parts) >= 4 and parts[-4] == "imagewoof2-160")  # or that folder given
        inside = inside and parts[-3] in ("train", "val")
        return parts[-2] if inside and parts[-2] in DOG_BREEDS else None

    groups = by_folder(source, wanted)
    missing = [synset for synset in DOG_BREEDS if len(groups.get(synset, [])) < DOG_PER_BREED]
    if missing:
        raise SystemExit(
            f"error: {source} has fewer than {DOG_PER_BREED} photos for {', '.join(missing)} under imagewoof2-160/"
        )
    draw = random.Random(0)
    for synset, breed in DOG_BREEDS.items():
        files = sorted(groups[synset], key=lambda e: e.path.name)
        for number, entry in enumerate(sorted(draw.sample(files, DOG_PER_BREED), key=lambda e: e.path.name)):
            yield f"dogbreeds/{breed}/{number:04d}.jpg", reencoded(entry.read(), 320)


def antsbees(source: Path) -> Iterator[tuple[str, bytes]]:
    """PyTorch's transfer-learning tutorial data (hymenoptera_data.zip): its train/ split, files
    as published, sorted by name; only the top folder renamed."""

    def wanted(path: PurePosixPath) -> str | None:
        parts = path.parts
        return parts[-2] if len(parts) >= 3 and parts[-3] == "train" and parts[-2] in ("ants", "bees") else None

    groups = by_folder(source, wanted)
    for label in ("ants", "bees"):
        for entry in sorted(groups.get(label, []), key=lambda e: e.path.name):
            yield f"antsbees/{label}/{entry.path.name}", entry.read()


class _ArraysOnly(pickle.Unpickler):
    """CIFAR's batches are pickles: load one without letting it call anything but numpy's array
    constructors (a pickle from elsewhere could run code)."""

    def find_class(self, module: str, name: str):
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, wherever it lives
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def cifar_test_batch(source: Path) -> tuple[np.ndarray, list[int]]:
    """CIFAR-10's test set (python version): 10,000 images as uint8 rows of 3,072 (R, G, B planes
    of 32x32) and their label numbers."""
    for entry in entries(source):
        if entry.path.name == "test_batch":
            batch = _ArraysOnly(io.BytesIO(entry.read()), encoding="bytes").load()
            return np.asarray(batch[b"data"], dtype=np.uint8), list(batch[b"labels"])
    raise SystemExit(f"error: no test_batch in {source}: give cifar-10-python.tar.gz or its cifar-10-batches-py/")


def cifar(source: Path, top: str, per_class: int) -> Iterator[tuple[str, bytes]]:
    """The six animal classes of CIFAR-10's test set as JPEG files (Pillow's default quality,
    75), numbered in the test set's order within each class, the first `per_class` of each."""
    data, labels = cifar_test_batch(source)
    counts = dict.fromkeys(CIFAR_ANIMALS.values(), 0)
    for row, label in zip(data, labels, strict=True):
        name = CIFAR_ANIMALS.get(label)
        if name is None or counts[name] >= per_class:
            continue
        out = io.BytesIO()
        Image.fromarray(row.reshape(3, 32, 32).transpose(1, 2, 0)).save(out, "JPEG")
        yield f"{top}/{name}/{counts[name]:04d}.jpg", out.getvalue()
        counts[name] += 1


DATASETS: dict[str, Callable[[Path], Iterator[tuple[str, bytes]]]] = {
    "bigcats": bigcats,
    "dogbreeds": dogbreeds,
    "antsbees": antsbees,
    "cifar10-animals": lambda source: cifar(source, "cifar10-animals", 1000),
    "cifar10-animals-mini": lambda source: cifar(source, "cifar10-animals-mini", 50),
}


def write_zip(files: Iterator[tuple[str, bytes]], destination: Path, compress: bool) -> dict[str, int]:
    """The files into a zip at `destination` (written beside it, then renamed: never half a zip);
    returns the count of files per folder."""
    counts: dict[str, int] = {}
    partial = destination.with_name(destination.name + ".partial")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(partial, "w", method) as archive:
            folders: set[str] = set()
            for name, data in files:
                folder = name.rsplit("/", 1)[0]
                if compress and folder not in folders:  # the CIFAR zips list their folders too
                    for level in (folder.split("/")[0], folder):
                        if level not in folders:
                            archive.writestr(zipfile.ZipInfo(level + "/", ZIP_TIME), b"")
                            folders.add(level)
                archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=method)
                counts[folder] = counts.get(folder, 0) + 1
        if counts:
            os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(DATASETS), help="the data set to rebuild")
    parser.add_argument("source", type=Path, help="what you downloaded: a folder, a zip or a tar")
    parser.add_argument("--out", type=Path, help="the folder to write NAME.zip in (default: $CBIR_DATASETS)")
    parser.add_argument("--replace", action="store_true", help="overwrite an existing NAME.zip")
    args = parser.parse_args(argv)
    if not args.source.exists():
        raise SystemExit(f"error: {args.source} does not exist: give the path of what you downloaded")
    folder = (args.out or datasets.folder()).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / f"{args.name}.zip"
    if destination.exists() and not args.replace:
        raise SystemExit(f"error: {destination} exists: pass --replace to overwrite it")
    counts = write_zip(DATASETS[args.name](args.source), destination, compress=args.name.startswith("cifar"))
    if not counts:
        raise SystemExit(f"error: no photo of {args.name} found in {args.source}: docs/benchmarks.md says what to give")
    for folder_name, count in counts.items():
        print(f"{folder_name}: {count:,}")
    print(f"wrote {destination} ({sum(counts.values()):,} photos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
