"""Trainer, data sampling, checkpoints, resume, test/predict and the CLI's bad-input lines.

Uses in-memory reader doubles (tests/train_fakes.py) so the trainer is exercised without files; the synthetic
cohort is used by tests/test_train_synth.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from train_fakes import FakeDataset, tiny_config  # noqa: E402

from ramkit.errors import RamkitError  # noqa: E402
from ramkit.tasks import get  # noqa: E402
from ramkit.train import TrainConfig, fit  # noqa: E402
from ramkit.train.data import (  # noqa: E402
    DEFAULT_AUGMENTATION,
    Augmentation,
    TaskDataset,
    augment,
    augmentation_of,
    cases,
)

torch.set_num_threads(1)


def _cfg(task: str, out: Path, **kw) -> TrainConfig:
    return tiny_config(task, out, **kw)


@pytest.fixture(scope="module")
def hand_ds():
    return FakeDataset(n_channels=30, n=3, size=40)


@pytest.fixture(scope="module")
def wrist_ds():
    return FakeDataset(n_channels=14, n=3, size=40, w600=True)


@pytest.mark.parametrize("task", ["hand-bone-seg", "hand-be-seg", "hand-jsn-score", "hand-be-score"])
def test_one_epoch_per_task_family_hand(task, tmp_path, hand_ds):
    run = fit(_cfg(task, tmp_path / task), dataset=hand_ds, quiet=True)
    meta = json.loads((run / "last.json").read_text())
    assert meta["task"] == task and meta["epoch"] == 0
    assert (run / "best.safetensors").is_file() and (run / "config.yaml").is_file()
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 2 and "val_" in log[0]
    assert np.isfinite(float(log[1].split(",")[1]))


@pytest.mark.parametrize("task", ["wrist-bone-seg", "wrist-be-cls"])
def test_one_epoch_wrist(task, tmp_path, wrist_ds):
    run = fit(_cfg(task, tmp_path / task), dataset=wrist_ds, quiet=True)
    meta = json.loads((run / "best.json").read_text())
    assert meta["select"] == get(task).select
    assert meta["select"] in meta["metrics"]


def test_resume_after_kill_gives_identical_weights(tmp_path, hand_ds):
    full = fit(_cfg("hand-bone-seg", tmp_path / "full", epochs=3), dataset=hand_ds, quiet=True)
    part = fit(_cfg("hand-bone-seg", tmp_path / "part", epochs=3), dataset=hand_ds, quiet=True, stop_after=1)
    assert json.loads((part / "last.json").read_text())["epoch"] == 0
    torch.manual_seed(12345)  # a fresh process would have a different global RNG: resume must restore it
    fit(_cfg("hand-bone-seg", tmp_path / "part", epochs=3), dataset=hand_ds, quiet=True)
    a, b = load_file(str(full / "last.safetensors")), load_file(str(part / "last.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (full / "log.csv").read_text().count("\n") == (part / "log.csv").read_text().count("\n")


def _spy_ordinal_loss(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Record (logits, pos_weight) of every ordinal-loss call made while training."""
    import ramkit.models.ordinal as ordinal

    calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    real = ordinal.ordinal_loss

    def spy(logits, y, pos_weight=None):
        calls.append((logits.detach().clone(), None if pos_weight is None else pos_weight.detach().clone()))
        return real(logits, y, pos_weight=pos_weight)

    monkeypatch.setattr(ordinal, "ordinal_loss", spy)
    return calls


def _expected_pos_weight(ds) -> list[float]:
    """#negatives / #positives of each JSN threshold "score > k" over the training ROIs (denominator ≥ 1)."""
    raw = [r.score for r in ds.scores("train")]  # JSN: class index = raw score 0..4
    out = []
    for k in range(4):
        pos = sum(1 for v in raw if v > k)
        out.append(min((len(raw) - pos) / max(pos, 1), 100.0))
    return out


def test_ordinal_pos_weight_values_and_coral_head_are_used(tmp_path, hand_ds, monkeypatch):
    calls = _spy_ordinal_loss(monkeypatch)
    run = fit(
        _cfg("hand-jsn-score", tmp_path / "r", ordinal_pos_weight=True, ordinal="coral"), dataset=hand_ds, quiet=True
    )
    assert calls, "the ordinal loss was never called"
    want = torch.tensor(_expected_pos_weight(hand_ds))
    # by hand: the 9 training ROIs score 0,2,2,2,0,0,1,3,0 -> 5, 4, 1, 0 above k = 0..3 -> 4/5, 5/4, 8/1, 9/1
    assert want.tolist() == pytest.approx([0.8, 1.25, 8.0, 9.0])
    for _, pw in calls:
        torch.testing.assert_close(pw, want)
    # CORAL: every training forward gave rank-consistent logits (s − c_k with increasing c_k) ...
    for logits, _ in calls:
        assert (logits[:, 1:] <= logits[:, :-1]).all()
    # ... and the saved model carries the cut-points
    from ramkit.models.ordinal import CoralHead
    from ramkit.train.trainer import load_run

    model, *_ = load_run(run)
    assert isinstance(model.coral, CoralHead)
    assert {"coral.c0", "coral.delta"} <= set(load_file(str(run / "best.safetensors")))


def test_ordinal_sqrt_pos_weight_is_applied(tmp_path, hand_ds, monkeypatch):
    calls = _spy_ordinal_loss(monkeypatch)
    fit(_cfg("hand-jsn-score", tmp_path / "r", ordinal_pos_weight="sqrt"), dataset=hand_ds, quiet=True)
    want = torch.tensor(_expected_pos_weight(hand_ds)).sqrt()
    assert calls and all(torch.allclose(pw, want) for _, pw in calls)
    calls.clear()
    fit(_cfg("hand-jsn-score", tmp_path / "r0"), dataset=hand_ds, quiet=True)
    assert calls and all(pw is None for _, pw in calls)  # off by default


def test_raw_score_5_round_trips_through_test_and_predict(tmp_path):
    """BE class index 4 is raw score 5 (there is no 4): truth, prediction, metrics and scores.csv say 5."""
    import pandas as pd
    from torch import nn

    from ramkit.io.images import write_gray
    from ramkit.train.checkpoint import save_weights
    from ramkit.train.evaluate import run_predict, run_test
    from ramkit.train.trainer import load_run

    ds = FakeDataset(n_channels=30, n=3, size=40, seed=4)
    test_rows = ds.scores("test")
    for r in test_rows[::2]:
        r.score = 5
    run = fit(_cfg("hand-be-score", tmp_path / "be"), dataset=ds, quiet=True)
    # make the model answer "above every threshold" (class index 4) for any input
    model, *_ = load_run(run)
    head = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 4][-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(20.0)
    save_weights(model, run / "best.safetensors")

    s = run_test(run, "unused", dataset=ds, quiet=True, warmup=0)
    rows = pd.read_csv(run / "test_test" / "predictions.csv")
    truth = [r.score for r in test_rows]
    assert rows["truth"].tolist() == truth and set(rows["pred"]) == {5}
    assert s["MAE"] == pytest.approx(np.mean([abs(5 - t) for t in truth]))
    assert s["ACC"] == pytest.approx(np.mean([t == 5 for t in truth]))
    cm = pd.read_csv(run / "test_test" / "confusion.csv", index_col=0)
    assert cm.loc[5, "5"] == truth.count(5) and "4" not in cm.columns

    roi = tmp_path / "roi.png"
    write_gray(roi, test_rows[0].image())
    run_predict(run, [str(roi)], tmp_path / "pred")
    scores = pd.read_csv(tmp_path / "pred" / "scores.csv")
    assert scores["class"].tolist() == [4] and scores["score"].tolist() == [5]


def test_be_seg_test_scores_lesion_channels_only(tmp_path, hand_ds):
    """hand-be-seg metrics compare the lesion channel alone: recomputed here from predictions.json by hand."""
    import pandas as pd
    from pycocotools import mask as mask_utils

    from ramkit.train.evaluate import run_test

    run = fit(_cfg("hand-be-seg", tmp_path / "be"), dataset=hand_ds, quiet=True)
    run_test(run, "unused", dataset=hand_ds, quiet=True, warmup=0)
    out = run / "test_test"
    preds = json.loads((out / "predictions.json").read_text())
    assert preds["classes"] == ["SvdH-BE-90"]
    table = pd.read_csv(out / "per_case.csv", index_col=0)
    assert not [c for c in table.columns if "background" in c.lower()]
    for sample in hand_ds.seg("test"):
        rle = preds["masks"][sample.stem]["SvdH-BE-90"]
        p = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
        t = sample.be() > 0
        dsc = 2 * np.count_nonzero(p & t) / (p.sum() + t.sum())  # truth is never empty here
        rec = np.count_nonzero(p & t) / (t.sum() + 1e-8)
        assert table.loc[sample.stem, "Mean DSC"] == pytest.approx(dsc)  # with background it would be ≈ (1 + DSC)/2
        assert table.loc[sample.stem, "Mean REC"] == pytest.approx(rec)


def test_resume_into_run_of_other_task_is_an_error(tmp_path, hand_ds):
    fit(_cfg("hand-jsn-score", tmp_path / "r"), dataset=hand_ds, quiet=True)
    with pytest.raises(RamkitError, match="holds a run of task hand-jsn-score"):
        fit(_cfg("hand-be-score", tmp_path / "r"), dataset=hand_ds, quiet=True)


def test_checkpoint_state_loads_weights_only(tmp_path, hand_ds):
    run = fit(_cfg("hand-be-score", tmp_path / "r"), dataset=hand_ds, quiet=True)
    state = torch.load(run / "last_state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "torch_rng"} <= set(state)
    from ramkit.train.trainer import load_run

    model, spec, cfg, meta = load_run(run)
    assert spec.id == "hand-be-score" and meta["score_values"] == [0, 1, 2, 3, 5]
    (run / "best.safetensors").write_bytes(b"garbage")
    with pytest.raises(RamkitError, match="best.safetensors"):
        load_run(run)


def test_patch_sampling_is_deterministic_and_foreground_biased(hand_ds):
    spec = get("hand-be-seg")
    items = cases(spec, hand_ds, "train")
    ds = TaskDataset(spec, items, 16, seed=1, patches_per_image=20, fg_ratio=1.0)
    ds.set_epoch(2)
    x1, y1 = ds[5]
    x2, y2 = ds[5]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (1, 16, 16) and y1.dtype == torch.int64
    hits = sum(int((ds[i][1] > 0).any()) for i in range(len(ds)))
    assert hits >= 0.8 * len(ds)  # lesion-centred patches (a few may lose it to the affine shift)
    ds.set_epoch(3)
    assert not torch.equal(ds[5][0], x1)


def test_augment_keeps_masks_binary():
    rng = np.random.default_rng(0)
    img = torch.rand(1, 32, 32)
    masks = (torch.rand(3, 32, 32) > 0.5).float()
    label = torch.randint(0, 3, (32, 32))
    always = DEFAULT_AUGMENTATION.with_probability(1.0)
    for _ in range(5):
        a, m = augment(img, masks, rng, always)
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        assert a.min() >= 0 and a.max() <= 1
        _, lab = augment(img, label, rng, replace(DEFAULT_AUGMENTATION, p_affine=1.0))
        assert set(lab.unique().tolist()) <= {0, 1, 2} and lab.shape == (32, 32) and lab.dtype == torch.int64


def _phantom(side: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth image in (0, 1) with a bright square, and the square's 1×H×W mask."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    img = 0.2 + 0.3 * (xx + yy).float() / (2 * side)
    mask = torch.zeros(1, side, side)
    mask[0, 14:30, 18:34] = 1.0
    return (img + 0.4 * mask[0]).unsqueeze(0), mask


def test_augment_is_deterministic():
    img, mask = _phantom()
    for seed in range(20):  # the default probabilities: a different subset of transforms per seed
        a1, m1 = augment(img, mask, np.random.default_rng([seed, 3]))
        a2, m2 = augment(img, mask, np.random.default_rng([seed, 3]))
        assert torch.equal(a1, a2) and torch.equal(m1, m2)
    x1 = augment(img, None, np.random.default_rng(1), DEFAULT_AUGMENTATION.with_probability(1.0))[0]
    x2 = augment(img, None, np.random.default_rng(2), DEFAULT_AUGMENTATION.with_probability(1.0))[0]
    assert not torch.equal(x1, x2)
    torch.manual_seed(0)  # torch's global RNG plays no part
    y = augment(img, None, np.random.default_rng(1), DEFAULT_AUGMENTATION.with_probability(1.0))[0]
    assert torch.equal(x1, y)


def test_augment_probability_zero_is_identity():
    img, mask = _phantom()
    off = DEFAULT_AUGMENTATION.with_probability(0.0)
    for seed in range(5):
        a, m = augment(img, mask, np.random.default_rng(seed), off)
        assert torch.equal(a, img) and torch.equal(m, mask)


@pytest.mark.parametrize("name", ["noise", "blur", "brightness", "contrast", "lowres", "gamma"])
def test_augment_intensity_transform_changes_image_only(name):
    from dataclasses import fields

    img, mask = _phantom()
    p_ = {f.name: 0.0 for f in fields(Augmentation) if f.name.startswith("p_") and f.name != "p_gamma_invert"}
    # brightness / contrast / gamma: exclude the near-identity part of their range, so the change is certain
    ranges = {"brightness": (1.2, 1.25), "contrast": (0.75, 0.8), "gamma": (1.4, 1.5), "lowres": (0.5, 0.5)}
    extra = {name: ranges[name]} if name in ranges else {}
    aug = replace(Augmentation(), **{**p_, f"p_{name}": 1.0}, **extra)
    for seed in range(4):
        a, m = augment(img, mask, np.random.default_rng(seed), aug)
        assert a.shape == img.shape and a.dtype == img.dtype
        assert a.min() >= 0 and a.max() <= 1
        assert (a - img).abs().max() > 1e-3
        assert torch.equal(m, mask)  # intensity transforms leave the target alone


def test_augment_gamma_inverted_half_of_the_time():
    img, _ = _phantom()
    aug = replace(Augmentation().with_probability(0.0), p_gamma=1.0, gamma=(1.5, 1.5))
    darker = [bool(augment(img, None, np.random.default_rng(s), aug)[0].mean() < img.mean()) for s in range(40)]
    assert 10 <= sum(darker) <= 30  # x^1.5 darkens, 1 − (1 − x)^1.5 brightens


def test_augment_affine_moves_target_with_image():
    img, mask = _phantom()
    aug = replace(Augmentation().with_probability(0.0), p_affine=1.0)
    for seed in range(6):
        a, m = augment(img, mask, np.random.default_rng(seed), aug)
        assert not torch.equal(m, mask) and m.shape == mask.shape
        inside, outside = a[0][m[0] > 0], a[0][m[0] == 0]
        # the bright square (≥ 0.6) stays under its warped mask; only bilinear edge pixels may differ
        assert inside.float().median() > 0.6 and (outside > 0.65).float().mean() < 0.02


def test_augmentation_rejects_bad_parameters():
    with pytest.raises(RamkitError, match="p_blur"):
        Augmentation(p_blur=1.5)
    with pytest.raises(RamkitError, match="gamma"):
        Augmentation(gamma=(1.5, 0.7))


def test_task_spec_carries_its_augmentation(hand_ds):
    spec = get("hand-be-seg")
    assert spec.augmentation is None and augmentation_of(spec) is DEFAULT_AUGMENTATION
    items = cases(spec, hand_ds, "train")
    plain = TaskDataset(spec, items, 16, seed=1, patches_per_image=8, train=False)  # the same crops, not augmented
    off = TaskDataset(
        replace(spec, augmentation=Augmentation().with_probability(0.0)), items, 16, seed=1, patches_per_image=8
    )
    on = TaskDataset(spec, items, 16, seed=1, patches_per_image=8)
    assert all(torch.equal(off[i][0], plain[i][0]) for i in range(len(plain)))
    assert not all(torch.equal(on[i][0], plain[i][0]) for i in range(len(plain)))


def test_test_and_predict_outputs(tmp_path, hand_ds):
    from ramkit.io.images import write_gray
    from ramkit.train.evaluate import run_predict, run_test

    run = fit(_cfg("hand-bone-seg", tmp_path / "seg"), dataset=hand_ds, quiet=True)
    s = run_test(run, "unused", dataset=hand_ds, quiet=True, warmup=1)
    assert 0.0 <= s["DSC"] <= 1.0 and s["timing"]["n"] == 3 and s["timing"]["median_ms"] > 0
    out = run / "test_test"
    for f in ("predictions.json", "per_case.csv", "summary.csv", "timing.json"):
        assert (out / f).is_file(), f
    img = tmp_path / "new_R.png"
    write_gray(img, hand_ds.seg("test")[0].image())
    files = run_predict(run, [str(img)], tmp_path / "pred")
    masks = np.load(tmp_path / "pred" / "new_R.npy")
    assert masks.shape == (30, 40, 48)
    rle = json.loads((tmp_path / "pred" / "new_R.json").read_text())
    assert len(rle["masks"]) == 30 and len(files) == 4 and (tmp_path / "pred" / "new_R_overlay.png").is_file()
    # a left hand is mirrored for the model and its masks mirrored back onto the input grid
    write_gray(tmp_path / "mirror_L.png", hand_ds.seg("test")[0].image()[:, ::-1])
    run_predict(run, [str(tmp_path / "mirror_L.png")], tmp_path / "pred")
    assert np.array_equal(np.load(tmp_path / "pred" / "mirror_L.npy"), masks[:, :, ::-1])
    # released RAM-H1200 images are already in right-hand orientation: never flipped again
    released = tmp_path / "JP_HU1_P0001_20200101_1_L.png"
    write_gray(released, hand_ds.seg("test")[0].image())
    run_predict(run, [str(released)], tmp_path / "pred")
    assert np.array_equal(np.load(tmp_path / "pred" / "JP_HU1_P0001_20200101_1_L.npy"), masks)

    run = fit(_cfg("hand-jsn-score", tmp_path / "jsn"), dataset=hand_ds, quiet=True)
    s = run_test(run, "unused", dataset=hand_ds, quiet=True, warmup=1)
    assert "QWK" in s and 0.0 <= s["non_monotone_share"] <= 1.0
    assert (run / "test_test" / "confusion.csv").is_file()
    roi = tmp_path / "roi.png"
    write_gray(roi, hand_ds.scores("test")[0].image())
    run_predict(run, [str(roi)], tmp_path / "pscore")
    text = (tmp_path / "pscore" / "scores.csv").read_text()
    assert text.startswith("image,class,score")


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ramkit", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_cli_bad_inputs(tmp_path):
    r = _cli("train", "no-such-task", "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "unknown task 'no-such-task'" in r.stderr and "Traceback" not in r.stderr
    r = _cli("train", "hand-bone-seg", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--model", "Nope")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = _cli("test", str(tmp_path / "missing-run"), "--data", str(tmp_path))
    assert r.returncode == 2 and "best.json" in r.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochz: 3\n")
    r = _cli("train", "hand-bone-seg", "--config", str(cfg), "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "unknown configuration keys ['epochz']" in r.stderr


def test_wrong_layout_is_one_line(tmp_path):
    from ramkit.train.data import open_dataset

    with pytest.raises(RamkitError):
        open_dataset(get("wrist-bone-seg"), tmp_path)


DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from train_fakes import FakeDataset
from ramkit.train import TrainConfig, fit
cfg = TrainConfig(task="hand-be-score", data="unused", out={out!r}, model="MobileNet", model_size="tiny", epochs=2,
                  batch_size=2, patch_size=32, tensorboard=False, threads=1, seed=0)
fit(cfg, dataset=FakeDataset(n=3, size=40), quiet=True)
"""


@pytest.mark.slow
def test_ddp_two_process_gloo(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run")))
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((tmp_path / "run" / "last.json").read_text())
    assert meta["epoch"] == 1


def test_be_seg_three_class_protocol(tmp_path, hand_ds):
    run = fit(_cfg("hand-be-seg", tmp_path / "be3", be_protocol="3class"), dataset=hand_ds, quiet=True)
    meta = json.loads((run / "best.json").read_text())
    assert meta["class_names"] == ["background", "SvdH-BE-90", "SvdH-BE-50", "Non-SvdH-BE"]
    from ramkit.train.trainer import load_run

    model, *_ = load_run(run)
    assert model(torch.zeros(1, 1, 32, 32)).shape[1] == 4


def test_sigmoid_output_bias_prior():
    from ramkit.models import create
    from ramkit.train.trainer import init_output_bias

    m = create("Unet", "seg", 1, 30, size="tiny")
    assert init_output_bias(m, 30)
    with torch.no_grad():
        p = torch.sigmoid(m(torch.zeros(1, 1, 32, 32))).mean()
    assert p < 0.2


def test_augment_clamps_overshooting_input():
    """Antialiased resizing overshoots [0, 1] by ~1e-7; gamma of such a pixel was NaN (a whole bench run trained
    on NaN losses). The input is clamped first."""
    img, _ = _phantom()
    img = img.clone()
    img[0, 0, :4] = torch.tensor([-1e-6, -1e-7, 1 + 1e-7, 1 + 1e-6])
    aug = replace(Augmentation().with_probability(0.0), p_gamma=1.0)
    for seed in range(8):
        a, _ = augment(img, None, np.random.default_rng(seed), aug)
        assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1


def test_fit_stops_on_a_non_finite_loss(tmp_path, wrist_ds, monkeypatch):
    import ramkit.train.data as data_mod

    def nan_augment(img, target, rng, aug=None):
        return torch.full_like(img, float("nan")), target

    monkeypatch.setattr(data_mod, "augment", nan_augment)
    with pytest.raises(RamkitError, match=r"training loss is nan in epoch 1 \(non-finite values in the input"):
        fit(_cfg("wrist-bone-seg", tmp_path / "nan"), dataset=wrist_ds, quiet=True)
