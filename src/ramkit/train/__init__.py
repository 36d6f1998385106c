"""Training, evaluation and prediction for the benchmark tasks (one generic trainer driven by ``ramkit.tasks``).

``TrainConfig`` lives in the torch-free :mod:`ramkit.train.config`; ``fit``, ``load_run`` and ``validate`` are
imported on first use, so ``ramkit --help`` (which derives the train options from ``TrainConfig``) needs no torch.
"""

from typing import Any

from ramkit.train.config import TrainConfig

__all__ = ["TrainConfig", "fit", "load_run", "validate"]


def __getattr__(name: str) -> Any:
    if name in ("fit", "load_run", "validate"):
        from ramkit.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'ramkit.train' has no attribute {name!r}")
