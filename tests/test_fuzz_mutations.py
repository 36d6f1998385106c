"""Seeded mutation fuzzing of tiny dataset trees: random JSON values (None, NaN, strings, lists, huge numbers...)
and random file corruptions (empty, random bytes, truncated, folder, FIFO, symlink loop, odd npy arrays). `check`
(full and quick) and every task's readers must answer with a RamkitError or a report, never another exception."""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest_data import build_h1200, build_w600

from ramkit.check import check
from ramkit.errors import RamkitError
from ramkit.tasks import get
from ramkit.train.data import cases, open_dataset

VALUES = [None, "abc", -1, 1e30, float("nan"), [], {}, [1, 2], True, 3.5, "", {"a": 1}, 10**20]
TASKS = {
    "h": ["hand-bone-seg", "hand-be-seg", "hand-jsn-score", "hand-be-score"],
    "w": ["wrist-bone-seg", "wrist-be-cls"],
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    b = tmp_path_factory.mktemp("fuzzbase")
    build_h1200(b / "h", per_split=1)
    build_w600(b / "w", per_split=1)
    return b


def _mutate_json(f: Path, rng: random.Random) -> None:
    d = json.loads(f.read_text())
    paths: list[list] = []

    def walk(o, p):
        paths.append(p)
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, p + [k])
        elif isinstance(o, list):
            for i, v in enumerate(o[:3]):
                walk(v, p + [i])

    walk(d, [])
    p = rng.choice(paths[1:])
    cur = d
    for k in p[:-1]:
        cur = cur[k]
    cur[p[-1]] = rng.choice(VALUES)
    f.write_text(json.dumps(d))


def _corrupt_file(f: Path, rng: random.Random) -> None:
    kind = rng.choice(["empty", "random", "half", "dir", "fifo", "loop", "npy"])
    data = f.read_bytes()
    f.unlink()
    if kind == "empty":
        f.write_bytes(b"")
    elif kind == "random":
        f.write_bytes(rng.randbytes(200))
    elif kind == "half":
        f.write_bytes(data[: len(data) // 2])
    elif kind == "dir":
        f.mkdir()
    elif kind == "fifo":
        os.mkfifo(f)
    elif kind == "loop":
        os.symlink(f.name, f)
    elif f.suffix == ".npy":
        arr = rng.choice([np.full((14, 5, 5), np.nan), np.zeros((3, 4), np.uint8), np.full((14, 36, 36), 9, np.int16)])
        np.save(f, arr)
    else:
        f.write_bytes(data)


def _exercise(root: Path, layout: str) -> None:
    for quick in (False, True):
        check(root, quick=quick)
    for t in TASKS[layout]:
        spec = get(t)
        ds = open_dataset(spec, root)
        for split in ("train", "val", "test"):
            for c in cases(spec, ds, split):
                c.image()
                c.target()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_mutations_give_ramkit_errors_only(seed, base, tmp_path):
    rng = random.Random(seed)
    jsons = sorted(base.rglob("*.json"))
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix not in (".json", ".xlsx"))
    for i in range(25):
        work = tmp_path / f"w{i}"
        shutil.copytree(base, work, symlinks=True)
        src = rng.choice(jsons) if i % 2 == 0 else rng.choice(files)
        rel = src.relative_to(base)
        (_mutate_json if src.suffix == ".json" else _corrupt_file)(work / rel, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _exercise(work / rel.parts[0] / rel.parts[1], rel.parts[0])
            except RamkitError:
                pass
        shutil.rmtree(work, ignore_errors=True)
