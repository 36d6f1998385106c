"""Checkpoint atomicity in-process (fast companion of tests/test_train_kill.py, which uses real SIGKILLs): the save
is interrupted at every point of ``ramkit.train.checkpoint.KILL_POINTS`` by an exception that nothing catches
(no cleanup runs, as with a kill); the run then reads as one consistent epoch and resuming it ends with the
weights of an uninterrupted run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from train_fakes import FakeDataset  # noqa: E402

from ramkit.train import TrainConfig, fit  # noqa: E402
from ramkit.train import checkpoint as ck  # noqa: E402


class Killed(BaseException):
    pass


def _cfg(out: Path) -> TrainConfig:
    return TrainConfig(
        task="hand-jsn-score",
        data="unused",
        out=str(out),
        model="MobileNet",
        model_size="tiny",
        epochs=2,
        batch_size=4,
        patch_size=32,
        tensorboard=False,
        threads=1,
        seed=3,
    )


@pytest.fixture(scope="module")
def ds():
    return FakeDataset(n_channels=30, n=3, size=40)


@pytest.fixture(scope="module")
def full(ds, tmp_path_factory):
    return fit(_cfg(tmp_path_factory.mktemp("full") / "run"), dataset=ds, quiet=True)


def _same(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


POINTS = [(p, 0 if p.startswith("best.") else 1) for p in ck.KILL_POINTS]


@pytest.mark.parametrize("point,epoch", POINTS, ids=[f"{p}@{e}" for p, e in POINTS])
def test_interrupted_save_is_consistent_and_resumes_identically(point, epoch, ds, full, tmp_path, monkeypatch):
    real = ck._kill_point

    def kill(p, e):
        if (p, e) == (point, epoch):
            raise Killed
        real(p, e)

    monkeypatch.setattr(ck, "_kill_point", kill)
    run = tmp_path / "run"
    with pytest.raises(Killed):
        fit(_cfg(run), dataset=ds, quiet=True)
    committed = ck.KILL_POINTS.index(point) > ck.KILL_POINTS.index("flip")
    cur = ck.current_dir(run)
    if cur is None:
        assert epoch == 0 and not committed
    else:
        meta = json.loads((cur / "last.json").read_text())
        assert meta["epoch"] == (epoch if committed else epoch - 1) and "finished" not in meta
        assert ck.is_finished(run) is False
        if (run / "best.json").exists():
            assert json.loads((run / "best.json").read_text())["best_epoch"] == meta["best_epoch"]
    monkeypatch.setattr(ck, "_kill_point", real)
    torch.manual_seed(999)  # a fresh process has another global RNG state: resume must restore it
    fit(_cfg(run), dataset=ds, quiet=True)
    assert ck.is_finished(run) is True
    for name in ("last.safetensors", "best.safetensors"):
        assert _same(full / name, run / name), name
    assert sorted(p.name for p in (run / ck.CKPT_DIR).iterdir()) == ["epoch-0001"]
    assert [p.name for p in run.glob(".*")] == []
