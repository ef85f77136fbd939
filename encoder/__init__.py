"""The convolutional autoencoder: model (`model`), transforms, training (`train`, `fit`),
the self-describing checkpoint (`checkpoint`) and embedding (`embed`)."""
