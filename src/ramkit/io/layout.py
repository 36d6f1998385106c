"""Detect which dataset layout a folder holds (RAM-H1200-v1 or RAM-W600), given the folder or its parent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ramkit.errors import RamkitError

Layout = Literal["h1200", "w600"]


def detect(path: str | os.PathLike) -> tuple[Layout, Path]:
    """Return ``("h1200" | "w600", resolved_root)`` for a dataset folder or its parent.

    Raises :class:`RamkitError` naming ``path`` when it is missing, empty, holds neither layout, or its
    parent holds both (pass the dataset folder itself then).
    """
    from ramkit.io import h1200, w600

    p = Path(path)
    if not p.exists():
        raise RamkitError("dataset folder not found", p)
    if not p.is_dir():
        raise RamkitError("not a folder (pass the dataset folder)", p)
    is_h = (p / "Segmentation").is_dir() or (p / "SvdH_Scoring").is_dir()
    is_w = any((p / d).is_dir() for d in (w600.SEG_DIR, w600.DET_DIR, w600.CLS_DIR))
    if is_h and not is_w:
        return "h1200", p.resolve()
    if is_w and not is_h:
        return "w600", p.resolve()
    if is_h and is_w:
        raise RamkitError("folder mixes RAM-H1200 and RAM-W600 sub-folders", p)
    found = []
    if (p / h1200.H1200_DIRNAME).is_dir():
        found.append(("h1200", h1200.resolve_root(p)))
    if (p / w600.W600_DIRNAME).is_dir():
        found.append(("w600", w600.resolve_root(p)))
    if len(found) == 1:
        return found[0]  # type: ignore[return-value]
    if len(found) == 2:
        raise RamkitError(f"holds both {h1200.H1200_DIRNAME}/ and {w600.W600_DIRNAME}/; pass one of them", p)
    if not any(p.iterdir()):
        raise RamkitError("folder is empty (expected a RAM-H1200-v1 or RAM-W600 dataset)", p)
    raise RamkitError(
        f"neither a RAM-H1200 nor a RAM-W600 dataset (no Segmentation/, SvdH_Scoring/, {w600.SEG_DIR}/, "
        f"{w600.CLS_DIR}/, {h1200.H1200_DIRNAME}/ or {w600.W600_DIRNAME}/)",
        p,
    )
