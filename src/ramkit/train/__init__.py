"""Training, evaluation and prediction for the benchmark tasks (one generic trainer driven by ``ramkit.tasks``)."""

from ramkit.train.trainer import TrainConfig, fit, load_run, validate

__all__ = ["TrainConfig", "fit", "load_run", "validate"]
