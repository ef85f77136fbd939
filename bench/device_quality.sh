#!/usr/bin/env bash
# The default load's quality and minutes on a GPU machine (README, "On a GPU"): for each zip
# named, bench/quality.py --product (the real `ingest load ZIP`, then `ingest evaluate`), its
# JSON and log written into the folder named first.
#
#     bash bench/device_quality.sh OUT_DIR path/to/bigcats.zip path/to/cifar10-animals.zip
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
    PYTHONUNBUFFERED=1 python3 bench/quality.py --zip "$zip" --product >"$out/quality-$name-gpu.json" 2>"$out/quality-$name-gpu.log" ||
        { tail -40 "$out/quality-$name-gpu.log"; exit 1; }
    tail -25 "$out/quality-$name-gpu.json"
done
