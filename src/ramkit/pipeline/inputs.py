"""Input discovery for ``ramkit analyze`` / ``ramkit predict``: files and folders -> radiographs, unique names.

Inputs are streamed (a generator over folders), sorted for determinism, and each gets an output name that no
other input of the batch shares: ``a/ok_R.png`` and ``b/ok_R.png`` become ``a__ok_R`` and ``b__ok_R`` (the
parent folders are added, shortest first, until the names are distinct).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ramkit.errors import RamkitError

#: Suffixes picked up from folders (files named explicitly are always tried).
IMAGE_SUFFIXES = (".bmp", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dcm", ".dicom", ".dic")


def iter_inputs(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given, folders walked recursively (sorted) for image/DICOM suffixes; RamkitError if missing."""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES:
                        yield Path(root) / f
        elif p.exists():
            yield p
        else:
            raise RamkitError("input not found", p)


def unique_names(paths: list[Path]) -> list[str]:
    """An output name per path, unique in the batch: the stem, prefixed by parent folders where stems collide."""
    resolved = [p.resolve() for p in paths]
    depth = [0] * len(paths)

    def name(i: int) -> str:
        parts = resolved[i].parts[:-1]
        prefix = list(parts[len(parts) - depth[i] :]) if depth[i] else []
        return "__".join([*prefix, resolved[i].stem])

    for _ in range(64):
        names = [name(i) for i in range(len(paths))]
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            seen.setdefault(n, []).append(i)
        clashes = [idx for idx in seen.values() if len(idx) > 1]
        if not clashes:
            return names
        for idx in clashes:
            for i in idx:
                depth[i] += 1
        # identical files given twice keep a numeric suffix
        if all(depth[i] > len(resolved[i].parts) for idx in clashes for i in idx):
            break
    out: list[str] = []
    count: dict[str, int] = {}
    for n in [name(i) for i in range(len(paths))]:
        count[n] = count.get(n, 0) + 1
        out.append(n if count[n] == 1 else f"{n}_{count[n]}")
    return out
