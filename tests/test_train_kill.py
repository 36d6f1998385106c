"""Resume after a real kill: SIGKILL a `ramkit train` process at each point of a checkpoint save (inside each of
the writes, before and after the commit), run the same command again, and the final weights equal those of an
uninterrupted run, bit for bit. A kill at any point leaves a run that reads as one consistent epoch.

The kill is exact: ``RAMKIT_TEST_KILL_AT=<point>@<epoch>`` makes the checkpoint writer SIGKILL its own process
at that point (``ramkit.train.checkpoint.KILL_POINTS``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ramkit.synth import generate_cohort
from ramkit.train import checkpoint as ck

EPOCHS = 2


def _train_cmd(data, out):
    return [sys.executable, "-m", "ramkit", "train", "hand-jsn-score", "--data", str(data), "--out", str(out)] + (
        "--model MobileNet --model-size tiny --batch-size 8 --patch-size 32 --threads 1 --seed 3 --epochs "
        f"{EPOCHS}".split()
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A tiny cohort and one uninterrupted run of it (shared by every kill point)."""
    tmp = tmp_path_factory.mktemp("kill")
    generate_cohort(tmp / "data", hands=4, seed=5, size="small", progress=False)
    data = tmp / "data" / "RAM-H1200-v1"
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    env.pop(ck.KILL_ENV, None)
    subprocess.run(_train_cmd(data, tmp / "full"), check=True, env=env, capture_output=True, timeout=600)
    return data, tmp / "full", env


def _weights(path):
    return load_file(str(path))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


#: one killed process per point, each resumed by the next: best.* are written only when the model improves (the
#: first epoch always does; later epochs carry them over), so those points are hit at epoch 0
CHAIN = [
    ("best.safetensors", 0),
    ("best.json", 0),
    ("links", 0),
    ("last.safetensors", 1),
    ("last_state.pt", 1),
    ("log.csv", 1),
    ("last.json", 1),
    ("rename", 1),
    ("flip", 1),
    ("cleanup", 1),
]


def test_chain_covers_every_kill_point():
    assert sorted(p for p, _ in CHAIN) == sorted(ck.KILL_POINTS)


@pytest.mark.slow
def test_sigkill_at_each_checkpoint_write_then_resume_gives_identical_weights(cohort, tmp_path):
    data, full, env = cohort
    part = tmp_path / "part"
    for point, epoch in CHAIN:
        r = subprocess.run(
            _train_cmd(data, part), env={**env, ck.KILL_ENV: f"{point}@{epoch}"}, capture_output=True, timeout=600
        )
        assert r.returncode == -signal.SIGKILL, (point, r.stderr.decode()[-2000:])
        # a kill leaves one consistent epoch: the old one before the commit (the symlink flip), else the new one
        committed = ck.KILL_POINTS.index(point) > ck.KILL_POINTS.index("flip")
        cur = ck.current_dir(part)
        if cur is None:
            assert epoch == 0 and not committed, point
            continue
        meta = json.loads((cur / "last.json").read_text())
        assert meta["epoch"] == (epoch if committed else epoch - 1), point
        if (part / "last.json").exists():  # the top-level names point into the same checkpoint
            assert json.loads((part / "last.json").read_text()) == meta, point
            assert _same(_weights(cur / "last.safetensors"), _weights(part / "last.safetensors")), point
            assert json.loads((part / "best.json").read_text())["best_epoch"] == meta["best_epoch"], point

    r = subprocess.run(_train_cmd(data, part), env=env, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    meta = json.loads((part / "last.json").read_text())
    assert meta["epoch"] == EPOCHS - 1 and meta["finished"] is True
    for name in ("last.safetensors", "best.safetensors"):
        assert _same(_weights(full / name), _weights(part / name)), name
    left = sorted(p.name for p in (part / ck.CKPT_DIR).iterdir()) + [p.name for p in part.glob(".*")]
    assert left == [f"epoch-{EPOCHS - 1:04d}"], left  # leftovers of the killed saves were swept
