"""RAM-W600 vs RAM-H1200 aggregation conventions, checked against the official codes' logic written out here.

The reference side never calls ramkit's metric code: per-bone values come from MONAI's metric classes (what both
official codes call) and RAVD from numpy; the reductions are the official ones spelled out with numpy —
W600 ``SegmentationMetrics.update_metrics`` (plain ``.mean()`` per image, finite mean for MSD) and
``SegTester.create_csv`` (``np.nanmean`` of the finite values over images for the ``Average`` row); H1200
``_safe_nanmean`` (finite mean per image). Binary metrics: torchmetrics ``Binary*`` rules (0 on a zero
denominator) and the W600 hand-written DOR (NaN when FP·FN = 0).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from ramkit import anatomy
from ramkit.cli import main
from ramkit.metrics import BinaryEvaluator, SegmentationEvaluator, binary_scores, names
from ramkit.metrics.conventions import H1200, W600, for_dataset, get_convention
from ramkit.metrics.segmentation import class_mean

SEG = (names.DSC, names.NSD, names.VOE, names.MSD, names.RAVD)


# --------------------------------------------------------------------------------------------------
# Reference implementation of the official logic
# --------------------------------------------------------------------------------------------------
def monai_per_bone(p: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    import torch
    from monai.metrics import DiceMetric, MeanIoU, SurfaceDiceMetric, SurfaceDistanceMetric

    c = p.shape[0]
    P = torch.from_numpy(p[None].astype(np.float32))
    T = torch.from_numpy(t[None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            names.DSC: DiceMetric(reduction="none")(P, T)[0].numpy().astype(np.float64),
            names.NSD: SurfaceDiceMetric(class_thresholds=[2] * c, include_background=True, reduction="none")(P, T)[0]
            .numpy()
            .astype(np.float64),
            names.VOE: 1 - MeanIoU(include_background=True, reduction="none")(P, T)[0].numpy().astype(np.float64),
            names.MSD: SurfaceDistanceMetric(include_background=True, symmetric=True, reduction="none")(P, T)[0]
            .numpy()
            .astype(np.float64),
        }
    gt = t.reshape(c, -1).sum(1).astype(np.float64)
    pv = p.reshape(c, -1).sum(1).astype(np.float64)
    out[names.RAVD] = np.where(gt == 0, 0.0, np.abs(pv - gt) / np.where(gt == 0, 1, gt))
    return out


def official_w600_image_mean(per_bone: dict[str, np.ndarray]) -> dict[str, float]:
    """W600 ``update_metrics``: ``x.mean()`` (NaN propagates), MSD over its finite values."""
    out = {m: float(np.mean(per_bone[m])) for m in (names.DSC, names.NSD, names.VOE, names.RAVD)}
    msd = per_bone[names.MSD]
    out[names.MSD] = float(msd[np.isfinite(msd)].mean()) if np.isfinite(msd).any() else math.nan
    return out


def official_h1200_image_mean(per_bone: dict[str, np.ndarray]) -> dict[str, float]:
    """H1200 ``_safe_nanmean``: mean of the finite values."""
    out = {}
    for m, v in per_bone.items():
        f = v[np.isfinite(v)]
        out[m] = float(f.mean()) if f.size else math.nan
    return out


def official_average(column: list[float]) -> float:
    """``create_csv``: ``np.nanmean(np.where(np.isfinite(vals), vals, np.nan), axis=0)``."""
    v = np.asarray(column, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.nanmean(np.where(np.isfinite(v), v, np.nan)))


def blobs(rng, c, h, w):
    m = np.zeros((c, h, w), bool)
    for k in range(c):
        x = ndimage.gaussian_filter(rng.normal(size=(h, w)), 3.0)
        m[k] = x > rng.uniform(0.02, 0.08)
        if not m[k].any():
            m[k, 5:12, 5:12] = True
    return m


@pytest.fixture(scope="module")
def three_wrists():
    """3 wrists × 14 bones: #1 clean, #2 a bone empty in both, #3 a bone empty only in the truth."""
    rng = np.random.default_rng(11)
    cases = {}
    for i in range(3):
        t = blobs(rng, 14, 40, 44)
        p = t.copy()
        for k in range(14):  # perturb the prediction: shift some bones, dilate others
            p[k] = np.roll(t[k], int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
            if k % 3 == 0:
                p[k] = ndimage.binary_dilation(p[k])
        cases[f"w{i + 1}"] = (p, t)
    p2, t2 = cases["w2"]
    p2[4] = t2[4] = False  # Lunate empty in both: DSC, VOE, NSD NaN for that bone
    p3, t3 = cases["w3"]
    t3[6] = False  # Scaphoid empty in the truth only: DSC, VOE NaN; NSD 0; MSD inf
    assert p3[6].any()
    return cases


# --------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("convention,reference", [(W600, official_w600_image_mean), (H1200, official_h1200_image_mean)])
def test_wrist_means_equal_official_per_image_and_average(three_wrists, convention, reference):
    ev = SegmentationEvaluator(anatomy.WRIST_BONES, convention=convention)
    ref_rows = {}
    for stem, (p, t) in three_wrists.items():
        row = ev.add(stem, p, t)
        ref_rows[stem] = reference(monai_per_bone(p, t))
        for m in SEG:
            got, want = row[names.mean_column(m)], ref_rows[stem][m]
            if math.isnan(want):
                assert math.isnan(got), (stem, m, got)
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), (stem, m)
    tab, summary = ev.table(), ev.summary()
    for m in SEG:
        want = official_average([ref_rows[s][m] for s in three_wrists])
        assert tab.loc[names.AVERAGE_ROW, names.mean_column(m)] == pytest.approx(want, rel=1e-6), m
        assert summary[m] == pytest.approx(want, rel=1e-6), m


def test_w600_drops_images_the_h1200_rule_keeps(three_wrists):
    w6 = SegmentationEvaluator(anatomy.WRIST_BONES, convention="w600")
    h12 = SegmentationEvaluator(anatomy.WRIST_BONES, convention="h1200")
    for stem, (p, t) in three_wrists.items():
        w6.add(stem, p, t)
        h12.add(stem, p, t)
    a, b = w6.table(), h12.table()
    # wrist 2 (bone empty in both): NaN DSC, VOE and NSD under W600; wrist 3 (empty in truth): NaN DSC and VOE only
    for stem, nan_metrics in (("w2", {names.DSC, names.VOE, names.NSD}), ("w3", {names.DSC, names.VOE})):
        for m in SEG:
            assert math.isnan(a.loc[stem, names.mean_column(m)]) == (m in nan_metrics), (stem, m)
            assert math.isfinite(b.loc[stem, names.mean_column(m)]), (stem, m)
    # so the W600 DSC average is wrist 1's alone, the H1200 one averages all three
    assert w6.summary()[names.DSC] == a.loc["w1", "Mean DSC"]
    assert h12.summary()[names.DSC] == pytest.approx(b.loc[["w1", "w2", "w3"], "Mean DSC"].mean())
    assert w6.summary()[names.NSD] == pytest.approx(a.loc[["w1", "w3"], "Mean NSD"].mean())
    # per-bone values and overlap means do not depend on the convention
    per_bone = [c for c in a.columns if not c.startswith("Mean ")]
    pd.testing.assert_frame_equal(a[per_bone], b[per_bone])
    assert w6.summary()["DSC_O"] == h12.summary()["DSC_O"]


def test_class_mean_rules():
    v = np.array([0.5, np.nan, 1.0])
    assert class_mean(v, names.DSC, "finite") == 0.75
    assert math.isnan(class_mean(v, names.DSC, "plain"))
    assert class_mean(np.array([1.0, np.inf, 3.0]), names.MSD, "plain") == 2.0  # MSD: finite under W600 too
    assert math.isnan(class_mean(np.array([np.inf, np.nan]), names.MSD, "plain"))
    with pytest.raises(ValueError, match="image_mean"):
        class_mean(v, names.DSC, "median")


def test_convention_lookup():
    assert get_convention("W600") is W600 and get_convention(H1200) is H1200
    assert for_dataset("w600") is W600 and for_dataset("h1200") is H1200
    with pytest.raises(ValueError, match="unknown convention"):
        get_convention("isbi")
    with pytest.raises(ValueError, match="unknown convention"):
        SegmentationEvaluator(["A"], convention="nope")


# --------------------------------------------------------------------------------------------------
# Binary
# --------------------------------------------------------------------------------------------------
def official_binary(truth, pred) -> dict[str, float]:
    """torchmetrics Binary* (zero_division=0) + the W600 code's BACC and DOR, from explicit counts."""
    tn = fp = fn = tp = 0
    for a, b in zip(truth, pred, strict=True):
        a, b = int(a > 0), int(b > 0)
        tp += a and b
        tn += (not a) and (not b)
        fp += (not a) and b
        fn += a and (not b)

    def safe(x, y):
        return x / y if y else 0.0

    rec, spec = safe(tp, tp + fn), safe(tn, tn + fp)
    return {
        names.ACC: safe(tp + tn, tp + tn + fp + fn),
        names.SEN: rec,
        names.SPC: spec,
        names.PRE: safe(tp, tp + fp),
        names.F1: safe(2 * tp, 2 * tp + fp + fn),
        names.BACC: (rec + spec) / 2,
        names.DOR: (tp * tn) / (fp * fn) if fp * fn > 0 else math.nan,
    }


def assert_same(got: dict, want: dict) -> None:
    for k, w in want.items():
        if math.isnan(w):
            assert math.isnan(got[k]), (k, got[k])
        else:
            assert got[k] == pytest.approx(w, abs=1e-12), (k, got[k], w)


@pytest.mark.parametrize(
    "truth,pred",
    [
        ([0, 0, 0, 0], [0, 0, 0, 0]),  # no positive at all: SEN, PRE, F1 0; BACC = SPC/2 = 0.5
        ([0, 0, 0, 0], [0, 1, 0, 1]),  # no positive truth: SEN 0
        ([1, 1, 1], [1, 1, 1]),  # no negative at all: SPC 0, BACC 0.5
        ([1, 1, 1], [0, 0, 0]),  # nothing predicted positive: PRE 0, F1 0
        ([0, 3, 5, 0, 2, 0], [1, 2, 0, 0, 0, 0]),  # raw scores, positive = score > 0
        ([1, 0, 1, 0, 1, 1, 0, 0], [1, 0, 0, 1, 1, 1, 0, 1]),
    ],
)
def test_binary_zero_denominators_equal_torchmetrics_rules(truth, pred):
    assert_same(binary_scores(truth, pred), official_binary(truth, pred))


def test_binary_zero_denominators_by_hand_and_nan_option():
    s = binary_scores([0, 0, 0, 0], [0, 1, 0, 0])  # TN 3, FP 1, no positive truth
    assert (s[names.SEN], s[names.PRE], s[names.F1]) == (0.0, 0.0, 0.0)
    assert s[names.SPC] == 0.75 and s[names.BACC] == 0.375 and s[names.ACC] == 0.75 and math.isnan(s[names.DOR])
    n = binary_scores([0, 0, 0, 0], [0, 1, 0, 0], zero_division="nan")
    assert math.isnan(n[names.SEN]) and math.isnan(n[names.BACC]) and n[names.SPC] == 0.75
    assert n[names.PRE] == 0.0 and n[names.F1] == 0.0  # TP + FP = 1 > 0, 2TP + FP + FN = 1 > 0: defined
    with pytest.raises(ValueError, match="zero_division"):
        binary_scores([0], [0], zero_division="one")


def test_binary_evaluator_overall_and_per_joint_rows_equal_official():
    joints = [j.stem for j in anatomy.JOINTS["w600"]]
    rng = np.random.default_rng(5)
    hands, js, truth, pred = [], [], [], []
    for h in range(7):
        for j in joints:
            t = int(rng.choice([0, 0, 1, 2, 3, 5]))
            if j == joints[0]:
                t = 0  # this joint has no erosion in the truth: SEN 0 per torchmetrics
            hands.append(f"w{h}")
            js.append(j)
            truth.append(t)
            pred.append(t if rng.random() < 0.6 else int(rng.choice([0, 1])))
    ev = BinaryEvaluator()
    ev.add_many(hands, js, truth, pred)
    tab = ev.table()
    assert_same(tab.iloc[0].to_dict(), official_binary(truth, pred))
    by_display = {j.display: j.stem for j in anatomy.JOINTS["w600"]}
    for _, row in tab.iloc[1:].iterrows():
        stem = by_display[row[names.NAME]]
        m = [x == stem for x in js]
        want = official_binary(
            [t for t, k in zip(truth, m, strict=True) if k], [p for p, k in zip(pred, m, strict=True) if k]
        )
        assert_same(row.to_dict(), want)
    first = tab[tab[names.NAME] == anatomy.JOINTS["w600"][0].display].iloc[0]
    assert first[names.SEN] == 0.0 and first[names.BACC] == pytest.approx(first[names.SPC] / 2)
    nan_ev = BinaryEvaluator(convention="h1200")
    nan_ev.add_many(hands, js, truth, pred)
    assert math.isnan(nan_ev.table().loc[1, names.SEN])


# --------------------------------------------------------------------------------------------------
# CLI defaults
# --------------------------------------------------------------------------------------------------
def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_wrist_defaults_to_w600_and_h1200_is_selectable(three_wrists, tmp_path, capsys):
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    ref_w6, ref_h12 = {}, {}
    for stem, (p, t) in three_wrists.items():
        np.save(pred / f"{stem}.npy", p.astype(np.uint8))
        np.save(truth / f"{stem}.npy", t.astype(np.uint8))
        per = monai_per_bone(p, t)
        ref_w6[stem], ref_h12[stem] = official_w600_image_mean(per), official_h1200_image_mean(per)
    base = ["evaluate", "segmentation", "--task", "wrist", "--pred", str(pred), "--truth", str(truth)]
    code, _, err = _run([*base, "--out", str(tmp_path / "w6.csv")], capsys)
    assert code == 0, err
    code, _, err = _run([*base, "--out", str(tmp_path / "h12.csv"), "--convention", "h1200"], capsys)
    assert code == 0, err
    for csv, ref in (("w6.csv", ref_w6), ("h12.csv", ref_h12)):
        df = pd.read_csv(tmp_path / csv, index_col=0)
        assert "DSC Capitate" in df.columns and "Mean Overlap DSC" in df.columns
        for m in (names.DSC, names.NSD, names.VOE):
            col = names.mean_column(m)
            for stem in three_wrists:
                want = ref[stem][m]
                assert (math.isnan(df.loc[stem, col]) and math.isnan(want)) or df.loc[stem, col] == pytest.approx(
                    want, rel=1e-6
                ), (csv, stem, m)
            assert df.loc[names.AVERAGE_ROW, col] == pytest.approx(
                official_average([ref[s][m] for s in three_wrists]), rel=1e-6
            )
    code, _, err = _run([*base, "--out", str(tmp_path / "x.csv"), "--convention", "isbi"], capsys)
    assert code == 2 and "--convention must be one of h1200, w600" in err
    np.save(pred / "w1.npy", np.zeros((30, 40, 44), np.uint8))
    code, _, err = _run([*base, "--out", str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "--task wrist needs the 14 wrist bones" in err


def test_cli_binary_defaults_to_zero_division_zero(tmp_path, capsys):
    # Lunate: no erosion in truth or prediction -> SEN = PRE = F1 = 0 (W600) or NaN SEN (h1200)
    rows_t = [("w1", "Lunate", 0), ("w2", "Lunate", 0), ("w1", "Scaphoid", 3), ("w2", "Scaphoid", 0)]
    rows_p = [("w1", "Lunate", 0), ("w2", "Lunate", 0), ("w1", "Scaphoid", 1), ("w2", "Scaphoid", 1)]
    for name, rows in (("t.csv", rows_t), ("p.csv", rows_p)):
        (tmp_path / name).write_text("hand,joint,score\n" + "".join(f"{h},{j},{s}\n" for h, j, s in rows))
    base = ["evaluate", "scores", "--kind", "binary", "--pred", str(tmp_path / "p.csv"),
            "--truth", str(tmp_path / "t.csv")]  # fmt: skip
    assert _run([*base, "--out", str(tmp_path / "w6.csv")], capsys)[0] == 0
    assert _run([*base, "--out", str(tmp_path / "h12.csv"), "--convention", "h1200"], capsys)[0] == 0
    w6 = pd.read_csv(tmp_path / "w6.csv").set_index(names.NAME)
    h12 = pd.read_csv(tmp_path / "h12.csv").set_index(names.NAME)
    assert w6.loc["Lunate", [names.SEN, names.PRE, names.F1]].tolist() == [0.0, 0.0, 0.0]
    assert w6.loc["Lunate", names.SPC] == 1.0 and w6.loc["Lunate", names.BACC] == 0.5
    assert math.isnan(h12.loc["Lunate", names.SEN]) and math.isnan(h12.loc["Lunate", names.BACC])
    # Scaphoid: TP 1, FP 1 -> SPC 0 (TN 0 of 1 negative), SEN 1, BACC 0.5 in both conventions
    assert w6.loc["Scaphoid", names.BACC] == 0.5 == h12.loc["Scaphoid", names.BACC]


# --------------------------------------------------------------------------------------------------
# `ramkit test`: the run's dataset picks the convention, --convention overrides it
# --------------------------------------------------------------------------------------------------
def test_ramkit_test_on_a_wrist_run_uses_w600_unless_told(tmp_path):
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from train_fakes import FakeDataset

    from ramkit.train import TrainConfig, fit
    from ramkit.train.evaluate import run_test

    torch.set_num_threads(1)
    ds = FakeDataset(n_channels=14, n=3, size=40, w600=True)
    ds.seg("test")[0].masks_[4][:] = 0  # a bone empty in the truth of one test wrist
    cfg = TrainConfig(task="wrist-bone-seg", data="unused", out=str(tmp_path / "run"), model_size="tiny", epochs=1,
                      batch_size=2, patch_size=32, tensorboard=False, threads=1, seed=3)  # fmt: skip
    run = fit(cfg, dataset=ds, quiet=True)
    s6 = run_test(run, "unused", dataset=ds, quiet=True, warmup=0, out=tmp_path / "w600")
    s12 = run_test(run, "unused", dataset=ds, quiet=True, warmup=0, out=tmp_path / "h1200", convention="h1200")
    assert s6["convention"] == "w600" and s12["convention"] == "h1200"
    per = pd.read_csv(tmp_path / "h1200" / "per_case.csv", index_col=0).drop(index=names.AVERAGE_ROW)
    dsc = per[[names.class_column(names.DSC, b) for b in anatomy.WRIST_BONES]].to_numpy()
    assert np.isnan(dsc[0, 4]) and np.isfinite(np.delete(dsc, 4, axis=1)).all()
    # official reductions of the same per-bone values
    w600 = official_average([float(np.mean(r)) for r in dsc])  # wrist 0 drops out
    h1200 = official_average([float(np.nanmean(r)) for r in dsc])
    assert s6["DSC"] == pytest.approx(w600) and s12["DSC"] == pytest.approx(h1200)
    assert s6["DSC"] == pytest.approx(np.mean([np.mean(r) for r in dsc[1:]]))
    assert s6["DSC"] != pytest.approx(s12["DSC"])


def test_ramkit_test_rejects_unknown_convention(tmp_path, capsys):
    code, _, err = _run(["test", str(tmp_path), "--data", str(tmp_path), "--convention", "isbi"], capsys)
    assert code == 2 and err.strip() == "ramkit: error: --convention must be one of h1200, w600, got 'isbi'"
