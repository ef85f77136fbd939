"""The convolutional autoencoder: model (`model`), transforms, training (`train`, `fit`),
the self-describing checkpoint (`checkpoint`), embedding (`embed`), and where it all runs
(`device`, which also sets torch's CPU float mode)."""
