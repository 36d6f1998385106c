"""Training on the synthetic cohort (both layouts on disk, real readers and evaluators)."""

from __future__ import annotations

import json

import pytest
import torch

from ramkit.errors import RamkitError

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    synth = pytest.importorskip("ramkit.synth")
    out = tmp_path_factory.mktemp("train_cohort")
    try:
        synth.generate_cohort(out, hands=6, seed=0, size="small", progress=False)
    except NotImplementedError:
        pytest.skip("ramkit.synth.generate_cohort is not implemented yet")
    return out


def _cfg(task, data, out, **kw):
    from ramkit.train import TrainConfig

    base = dict(
        task=task,
        data=str(data),
        out=str(out),
        model_size="tiny",
        epochs=1,
        batch_size=4,
        patch_size=64,
        patches_per_image=2,
        tensorboard=False,
        threads=1,
        max_val_cases=1,
    )
    if task.endswith(("score", "cls")):
        base.update(model="MobileNet", batch_size=8, patch_size=32)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("task", ["hand-bone-seg", "hand-jsn-score", "wrist-bone-seg", "wrist-be-cls"])
def test_train_and_test_on_synthetic_cohort(task, cohort, tmp_path):
    from ramkit.train import fit
    from ramkit.train.evaluate import run_test

    root = cohort / ("RAM-W600" if task.startswith("wrist") else "RAM-H1200-v1")
    run = fit(_cfg(task, root, tmp_path / "run"), quiet=True)
    s = run_test(run, root, quiet=True, warmup=1, max_cases=2 if task.endswith("seg") else None)
    headline = {"hand-bone-seg": "DSC", "wrist-bone-seg": "DSC", "hand-jsn-score": "QWK", "wrist-be-cls": "BACC"}[task]
    assert headline in s
    assert (run / "test_test" / "summary.csv").is_file()
    assert json.loads((run / "best.json").read_text())["task"] == task


def test_wrong_layout_for_task(cohort, tmp_path):
    from ramkit.train import fit

    with pytest.raises(RamkitError, match="needs a RAM-H1200 data root, but this is a W600 layout"):
        fit(_cfg("hand-bone-seg", cohort / "RAM-W600", tmp_path / "r"), quiet=True)
