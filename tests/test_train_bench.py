"""CPU-bench settings: LR warm-up schedule, ``input_scale`` training/inference, damped ordinal pos_weight and the
bench presets/protocol table (fast; the bench itself is measured by ``ramkit bench``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fakes import FakeDataset  # noqa: E402

from ramkit.errors import RamkitError  # noqa: E402
from ramkit.tasks import TASKS, get  # noqa: E402
from ramkit.train import TrainConfig, fit  # noqa: E402
from ramkit.train.data import Case, rescale_case  # noqa: E402
from ramkit.train.trainer import make_scheduler  # noqa: E402

torch.set_num_threads(1)


def _lrs(epochs: int, warmup: int) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = make_scheduler(opt, epochs, warmup)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine():
    lrs = _lrs(6, 1)
    assert lrs[0] == pytest.approx(0.5)  # epoch 0 at 1/(w+1)
    assert lrs[1] == pytest.approx(1.0)  # full LR after the warm-up
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False))  # then cosine decay
    assert lrs[-1] > 0.01 - 1e-9
    # no warm-up = the paper schedule (CosineAnnealingLR from the full LR)
    plain = _lrs(4, 0)
    assert plain[0] == pytest.approx(1.0) and plain[1] < 1.0
    # torch's own schedulers, equal to the closed form (e+1)/(w+1) then floor + (1-floor)(1+cos)/2
    import math

    w, n = 2, 9
    want = [
        (e + 1) / (w + 1) if e < w else 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (e - w) / (n - w)))
        for e in range(n)
    ]
    assert _lrs(n, w) == pytest.approx(want, rel=1e-12)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    assert isinstance(make_scheduler(opt, n, w), torch.optim.lr_scheduler.SequentialLR)


def test_rescale_case_shapes_and_labels():
    img = np.zeros((40, 32), np.uint8)
    img[10:30, 8:24] = 200
    masks = np.zeros((2, 40, 32), np.uint8)
    masks[0, 10:30, 8:24] = 1
    label = masks[0].astype(np.int64) * 2
    c = rescale_case(Case("a", lambda: img, lambda: masks, {}), 0.5)
    x, t = c.image(), c.target()
    assert x.shape == (20, 16) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert t.shape == (2, 20, 16) and t.dtype == np.uint8 and set(np.unique(t)) <= {0, 1}
    assert t[0].sum() == pytest.approx(masks[0].sum() / 4, rel=0.2) and t[1].sum() == 0
    lab = rescale_case(Case("b", lambda: img, lambda: label, {}), 0.5).target()
    assert lab.shape == (20, 16) and set(np.unique(lab)) == {0, 2}
    assert rescale_case(Case("c", lambda: img, lambda: masks, {}), 1.0).image() is img


def test_input_scale_run_scores_at_full_resolution(tmp_path):
    from ramkit.train.evaluate import run_test
    from ramkit.train.inference import seg_logits
    from ramkit.train.trainer import load_run

    ds = FakeDataset(n_channels=30, n=3, size=48)
    cfg = TrainConfig(
        task="hand-bone-seg",
        data="unused",
        out=str(tmp_path / "r"),
        model_size="tiny",
        epochs=1,
        batch_size=2,
        patch_size=16,
        patches_per_image=2,
        tensorboard=False,
        threads=1,
        seed=1,
        input_scale=0.5,
        warmup_epochs=1,
    )
    run = fit(cfg, dataset=ds, quiet=True)
    model, spec, rcfg, _ = load_run(run)
    assert rcfg.input_scale == 0.5 and rcfg.warmup_epochs == 1
    img = ds.seg("val")[0].image()
    out = seg_logits(model, img, spec, rcfg.patch_size, torch.device("cpu"), scale=rcfg.input_scale)
    assert out.shape == (30, *img.shape)  # logits resized back to the source size
    s = run_test(run, "unused", dataset=ds, quiet=True, warmup=1)
    assert 0.0 <= s["DSC"] <= 1.0


def test_bad_input_scale_and_pos_weight_are_one_line_errors(tmp_path):
    with pytest.raises(RamkitError, match="input-scale"):
        TrainConfig(task="hand-bone-seg", data="d", out=str(tmp_path), input_scale=0.0).resolve()
    with pytest.raises(RamkitError, match="ordinal_pos_weight"):
        TrainConfig(task="hand-jsn-score", data="d", out=str(tmp_path), ordinal_pos_weight="half").resolve()


def test_sqrt_pos_weight_trains(tmp_path):
    ds = FakeDataset(n_channels=30, n=3, size=40)
    cfg = TrainConfig(
        task="hand-be-score",
        data="unused",
        out=str(tmp_path / "r"),
        model="MobileNet",
        model_size="tiny",
        epochs=1,
        batch_size=4,
        patch_size=32,
        tensorboard=False,
        threads=1,
        ordinal_pos_weight="sqrt",
    )
    run = fit(cfg, dataset=ds, quiet=True)
    assert json.loads((run / "last.json").read_text())["config"]["ordinal_pos_weight"] == "sqrt"


def test_bench_budgets_resolve_and_protocol_table(tmp_path, monkeypatch):
    from ramkit.train.bench import auto_threads, protocol_table, task_config

    for budget in ("quick", "cpu"):
        for task in TASKS:
            cfg = task_config(task, tmp_path, tmp_path / task, budget=budget, threads=1)
            assert cfg.budget == budget and cfg.patience == 0 and cfg.warmup_epochs >= 1 and cfg.threads == 1
            assert cfg.epochs == get(task).budget(budget)["epochs"]
            if get(task).kind.input != "patch":
                assert cfg.input_scale == 1.0
    assert task_config("hand-jsn-score", tmp_path, tmp_path, quick=True, threads=1).budget == "quick"
    table = protocol_table()
    assert all(f"| {t} |" in table for t in TASKS)
    monkeypatch.setenv("RAMKIT_THREADS", "1")
    assert auto_threads() == 1


def _be_cases(n: int = 4, size: int = 48) -> list[Case]:
    """n label-map cases; only the first has a lesion (a 6×6 square)."""
    out = []
    for i in range(n):
        img = np.full((size, size), 60 + 10 * i, np.uint8)
        lab = np.zeros((size, size), np.uint8)
        if i == 0:
            lab[20:26, 30:36] = 1
        out.append(Case(f"c{i}", (lambda im=img: im), (lambda t=lab: t), {}))
    return out


def test_pos_image_ratio_oversamples_lesion_images():
    from ramkit.train.data import TaskDataset

    spec = get("hand-be-seg")
    items = _be_cases()

    def share(ratio):
        ds = TaskDataset(
            spec, items, 16, seed=3, train=False, patches_per_image=25, fg_ratio=1.0, pos_image_ratio=ratio
        )
        ds.set_epoch(0)
        return np.mean([bool((ds[i][1] > 0).any()) for i in range(len(ds))])

    plain, over = share(None), share(1.0)
    assert plain == pytest.approx(0.25)  # one of four images has a lesion; fg_ratio 1 centres on it
    assert over == 1.0  # every patch drawn from the lesion image, on the lesion
    ds = TaskDataset(spec, items, 16, seed=3, patches_per_image=4, pos_image_ratio=0.9)
    ds.set_epoch(1)
    assert torch.equal(ds[3][0], ds[3][0])  # still a pure function of (seed, epoch, index)
    with pytest.raises(RamkitError, match="pos_image_ratio"):
        TaskDataset(spec, items, 16, pos_image_ratio=1.5)


def test_fg_class_weight_loss_and_be_bench_options_train(tmp_path):
    import torch.nn.functional as F
    from monai.losses import DiceLoss

    from ramkit.train.losses import DiceCELoss

    spec = get("hand-be-seg")
    logits = torch.randn(2, 2, 8, 8)
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[0, 2:5, 2:5] = 1
    w = torch.tensor([1.0, 5.0])
    dice = DiceLoss(to_onehot_y=True, softmax=True, include_background=False, squared_pred=True, batch=True)
    want = dice(logits, target.unsqueeze(1)) + F.cross_entropy(logits, target, weight=w)
    assert float(DiceCELoss(ce_weight=w)(logits, target)) == pytest.approx(float(want), rel=1e-5)
    plain = dice(logits, target.unsqueeze(1)) + F.cross_entropy(logits, target)
    assert float(DiceCELoss()(logits, target)) == pytest.approx(float(plain), rel=1e-5)
    built = spec.kind.loss(spec, TrainConfig(task=spec.id, data="d", out="o", fg_class_weight=5.0).resolve(), [])
    assert float(built(logits, target)) == pytest.approx(float(want), rel=1e-5)
    ds = FakeDataset(n_channels=30, n=3, size=48)
    cfg = TrainConfig(
        task="hand-be-seg",
        data="unused",
        out=str(tmp_path / "be"),
        model_size="tiny",
        epochs=1,
        batch_size=2,
        patch_size=16,
        patches_per_image=2,
        tensorboard=False,
        threads=1,
        seed=1,
        pos_image_ratio=0.9,
        fg_ratio=0.8,
        fg_class_weight=5.0,
        val_overlap=0.25,
        max_val_cases=2,
    )
    run = fit(cfg, dataset=ds, quiet=True)
    saved = json.loads((run / "last.json").read_text())["config"]
    assert saved["fg_class_weight"] == 5.0 and saved["pos_image_ratio"] == 0.9 and saved["val_overlap"] == 0.25
    with pytest.raises(RamkitError, match="val_overlap"):
        TrainConfig(task="hand-be-seg", data="d", out=str(tmp_path), val_overlap=1.0).resolve()


def test_train_cli_options_are_derived_from_trainconfig(tmp_path):
    from dataclasses import fields

    from typer.testing import CliRunner

    from ramkit.cli import app

    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    for f in fields(TrainConfig):
        if f.name not in ("task", "model_kw"):
            assert "--" + f.name.replace("_", "-") in res.output, f.name
    assert "--set" in res.output and "--budget" in res.output
    bad = CliRunner().invoke(app, ["train", "hand-jsn-score", "--data", str(tmp_path), "--set", "epochs"])
    assert isinstance(bad.exception, RamkitError) and "expected key=value" in str(bad.exception)


def test_budget_and_overrides_are_recorded_in_the_run(tmp_path):
    import yaml

    ds = FakeDataset(n_channels=30, n=3, size=40)
    cfg = TrainConfig(
        task="hand-jsn-score",
        data="unused",
        out=str(tmp_path / "r"),
        budget="quick",
        epochs=1,
        patch_size=32,
        model="MobileNet",
        model_size="tiny",
        tensorboard=False,
        threads=1,
    )
    run = fit(cfg, dataset=ds, quiet=True)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["budget"] == "quick" and saved["epochs"] == 1 and saved["patch_size"] == 32
    assert saved["ordinal_pos_weight"] is True  # from the quick budget of hand-jsn-score
    assert json.loads((run / "best.json").read_text())["config"]["budget"] == "quick"
