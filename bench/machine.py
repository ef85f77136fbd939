"""What a benchmark ran on, for its JSON: figures from two machines compare only when their CPUs
do (docs/benchmarks.md, "Machines")."""

from __future__ import annotations

import os

import torch

from encoder.device import bf16_is_fast


def machine() -> dict:
    """What the figures were measured on: two machines with 2 cores differ by twice in training
    speed when one has native bfloat16, and again by twice between two generations of one CPU
    whose model name a virtual machine hides ("AMD EPYC"), which its family tells apart
    (docs/benchmarks.md)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:  # not Linux
        pass
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "cpu": fields.get("model name", "unknown"),
        "cpu_family": fields.get("cpu family"),
        "cpu_model": fields.get("model"),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "native_bf16": bf16_is_fast(device),
        "torch": torch.__version__,
    }
