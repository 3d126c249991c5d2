"""Training of the 4DVarNet: data preparation, model, losses, training loop, evaluation."""
