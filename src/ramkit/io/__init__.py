"""Input/output: dataset readers (RAM-H1200, RAM-W600), new radiographs, COCO masks and atomic writes.

Submodules are imported on demand (``from ramkit.io.h1200 import H1200``); the names below are lazy
re-exports so ``import ramkit.io`` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "H1200": "ramkit.io.h1200",
    "SegSample": "ramkit.io.h1200",
    "ScoreSample": "ramkit.io.h1200",
    "W600": "ramkit.io.w600",
    "WristSegSample": "ramkit.io.w600",
    "detect": "ramkit.io.layout",
    "read_gray": "ramkit.io.images",
    "read_radiograph": "ramkit.io.images",
    "write_gray": "ramkit.io.images",
    "Radiograph": "ramkit.io.images",
    "CocoFile": "ramkit.io.coco",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ramkit.io' has no attribute {name!r}")
