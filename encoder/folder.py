"""What a model's folder (`CBIR_HOME/models/<model id>/`) holds. Kept free of torch, so the
commands that only name these files start without loading it."""

CHECKPOINT_NAME = "model.pt"
TRAINING_PLOT = "training_plot.png"
RECONSTRUCTIONS = "reconstructions.png"
