"""ramkit: rheumatoid-arthritis analysis of hand and wrist radiographs (RAM-H1200, RAM-W600, anatomy-aware MIL).

The main public names are re-exported lazily (``ramkit.Predictor`` imports torch only when first used), so
``import ramkit`` and ``ramkit --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "Predictor": "ramkit.predictor",
    "SegPrediction": "ramkit.predictor",
    "ScorePrediction": "ramkit.predictor",
    "analyze": "ramkit.pipeline.analyze",
    "Analyzer": "ramkit.pipeline.analyze",
    "joint_boxes": "ramkit.joints",
    "read_radiograph": "ramkit.io.images",
    "generate_cohort": "ramkit.synth",
    "RamkitError": "ramkit.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ramkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
