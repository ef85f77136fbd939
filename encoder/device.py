"""Where the model runs and in which precision: shared by training and embedding, so that
answering a query never loads the training code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Trained weights make some intermediate products of the convolutions denormal (< 1e-38);
# x86 CPUs compute those up to 100x slower, which measured as a 3x slower encoder. Flushing
# them to zero changes no result that matters and must happen before torch starts its
# worker threads, which copy this mode when they are created. Training and embedding both
# import this module before they compute.
torch.set_flush_denormal(True)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bf16_is_fast(device: torch.device) -> bool:
    """bfloat16 pays on GPUs and on CPUs with native support (AVX512-BF16, AMX): 1.5x faster
    training steps measured on 2 such cores. Elsewhere it is emulated, and slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def autocast(device: torch.device, bf16: bool) -> torch.autocast:
    """A fresh context each time: an autocast object keeps state while entered, and the page
    embeds from several threads."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` intra-op threads, then restore the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)
