"""The convolutional autoencoder: model (`model`), transforms, training (`train`, `fit`),
the self-describing checkpoint (`checkpoint`) and embedding (`embed`)."""

import torch

# Trained weights make some intermediate products of the convolutions denormal (< 1e-38);
# x86 CPUs compute those up to 100x slower, which measured as a 3x slower encoder. Flushing
# them to zero changes no result that matters and must happen before torch starts its
# worker threads, which copy this mode when they are created.
torch.set_flush_denormal(True)
