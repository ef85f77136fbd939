#!/usr/bin/env bash
# The default load's quality and minutes on a GPU machine (README, "On a GPU"): for each zip
# named, `python -m bench.quality --product` (the real `ingest load ZIP`, then `ingest
# evaluate`), its JSON and log written into the folder named first. Each zip is a data set's
# name (bench/datasets.py) or a zip's path. Run from the repository root:
#
#     bash bench/device_quality.sh OUT_DIR bigcats cifar10-animals
set -euo pipefail
out=$1
shift
mkdir -p "$out"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    nproc
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
} | tee "$out/machine.txt"
for zip in "$@"; do
    name=$(basename "$zip" .zip)
    PYTHONUNBUFFERED=1 python3 -m bench.quality --zip "$zip" --product >"$out/quality-$name-gpu.json" 2>"$out/quality-$name-gpu.log" ||
        { tail -40 "$out/quality-$name-gpu.log"; exit 1; }
    tail -25 "$out/quality-$name-gpu.json"
done
