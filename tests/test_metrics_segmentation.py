"""Segmentation metrics: hand-computed cases, every empty-mask branch, and cross-checks against MONAI."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

from ramkit import anatomy
from ramkit.metrics import (
    SegmentationEvaluator,
    dice,
    f1,
    finite_mean,
    finite_sd,
    iou,
    msd,
    names,
    nsd,
    overlap_masks,
    overlap_scores,
    precision,
    ravd,
    recall,
    segmentation_scores,
    voe,
)


def square(h, w, r0, r1, c0, c1):
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


# --------------------------------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------------------------------
def test_dice_voe_ravd_rec_prec_f1_by_hand():
    p = square(10, 10, 2, 6, 2, 6)  # 16 px
    t = square(10, 10, 2, 6, 4, 8)  # 16 px, overlap 2x4 = 8
    assert dice(p, t) == pytest.approx(2 * 8 / 32)
    assert voe(p, t) == pytest.approx(1 - 8 / 24)
    assert iou(p, t) == pytest.approx(8 / 24)
    assert ravd(p, t) == 0.0
    assert recall(p, t) == pytest.approx(8 / (16 + 1e-8))
    assert precision(p, t) == pytest.approx(8 / 16)
    assert f1(p, t) == pytest.approx(16 / 32)
    big = square(10, 10, 0, 6, 2, 6)  # 24 px
    assert ravd(big, t) == pytest.approx(8 / 16)


def test_surface_metrics_by_hand_shifted_square():
    # 4x4 square vs the same square shifted by 1 column: boundaries (12 px each)
    p = square(12, 12, 4, 8, 4, 8)
    t = square(12, 12, 4, 8, 5, 9)
    # pred boundary pixels: column 4 (4 px) is at distance 1 from t's boundary column 5; everything else on t's
    # boundary or 1 px off -> all within 2 px -> NSD 1
    assert nsd(p, t) == pytest.approx(1.0)
    d_pt = ndimage.distance_transform_edt(~(t ^ ndimage.binary_erosion(t)))[p ^ ndimage.binary_erosion(p)]
    d_tp = ndimage.distance_transform_edt(~(p ^ ndimage.binary_erosion(p)))[t ^ ndimage.binary_erosion(t)]
    assert msd(p, t) == pytest.approx((d_pt.sum() + d_tp.sum()) / (d_pt.size + d_tp.size))
    # far apart: 2 single pixels 3 px apart -> NSD 0 at tau 2, 1 at tau 3; MSD 3
    a = np.zeros((9, 9), bool)
    b = np.zeros((9, 9), bool)
    a[4, 1] = True
    b[4, 4] = True
    assert nsd(a, b) == 0.0
    assert nsd(a, b, tolerance=3.0) == 1.0
    assert msd(a, b) == pytest.approx(3.0)


def test_boundary_uses_cross_erosion_and_image_border_is_background():
    # full image mask: every pixel on the image border is boundary (erosion with background outside)
    full = np.ones((6, 7), bool)
    inner = square(6, 7, 1, 5, 1, 6)
    # boundary of full = 6*7 - 4*5 = 22 pixels; inner's boundary ring = 4*5 - 2*3 = 14 pixels, 1 px apart
    v = segmentation_scores(full, inner, (names.NSD, names.MSD))
    assert v[names.NSD][0] == pytest.approx(1.0)
    # inner ring pixels are 1 px from the border ring; border ring corners are sqrt(2) from inner corners
    assert 1.0 <= v[names.MSD][0] <= math.sqrt(2)


@pytest.mark.parametrize(
    "p_empty,t_empty,expected",
    [
        # DSC, NSD, VOE, MSD, RAVD, REC, PREC, F1 under the paper convention
        (True, True, (math.nan, math.nan, math.nan, math.nan, 0.0, 0.0, 0.0, 0.0)),
        (False, True, (math.nan, 0.0, math.nan, math.inf, 0.0, 0.0, 0.0, 0.0)),
        (True, False, (0.0, 0.0, 1.0, math.inf, 1.0, 0.0, 0.0, 0.0)),
    ],
)
def test_empty_conventions_paper(p_empty, t_empty, expected):
    m = square(8, 8, 2, 5, 2, 5)
    z = np.zeros((8, 8), bool)
    v = segmentation_scores(z if p_empty else m, z if t_empty else m)
    got = [float(v[k][0]) for k in names.BE_SEG_METRICS]
    for g, e, k in zip(got, expected, names.BE_SEG_METRICS, strict=False):
        if math.isnan(e):
            assert math.isnan(g), k
        else:
            assert g == e, k


def test_empty_conventions_metricsreloaded():
    m = square(8, 8, 2, 5, 2, 5)
    z = np.zeros((8, 8), bool)
    both = segmentation_scores(z, z, empty="metricsreloaded")
    assert [float(both[k][0]) for k in names.BE_SEG_METRICS] == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    fp = segmentation_scores(m, z, empty="metricsreloaded")
    assert float(fp[names.DSC][0]) == 0.0 and float(fp[names.NSD][0]) == 0.0 and float(fp[names.VOE][0]) == 1.0
    assert math.isinf(fp[names.MSD][0]) and math.isinf(fp[names.RAVD][0])
    with pytest.raises(ValueError, match="empty"):
        segmentation_scores(m, z, empty="nope")


def test_input_validation():
    m = square(8, 8, 2, 5, 2, 5)
    with pytest.raises(ValueError, match="shape"):
        dice(m, m[:7])
    with pytest.raises(ValueError, match="other than 0 and 1"):
        dice(m.astype(np.uint8) * 2, m)
    # uint8 0/1 and float 0/1 are accepted and give the same values as bool
    assert dice(m.astype(np.uint8), m) == 1.0 and dice(m.astype(np.float32), m) == 1.0


def test_finite_mean_and_sd():
    assert finite_mean([1.0, np.nan, np.inf, 3.0]) == 2.0
    assert math.isnan(finite_mean([np.nan, np.inf]))
    np.testing.assert_allclose(finite_mean(np.array([[1, np.nan], [3, 4.0]]), axis=0), [2.0, 4.0])
    assert finite_sd([1.0, 3.0, np.nan]) == pytest.approx(math.sqrt(2))
    assert math.isnan(finite_sd([1.0]))


# --------------------------------------------------------------------------------------------------
# MONAI cross-checks on small random blobs (incl. masks touching the image border)
# --------------------------------------------------------------------------------------------------
def blobs(rng, c, h, w):
    m = np.zeros((c, h, w), bool)
    for k in range(c):
        for _ in range(rng.integers(0, 3)):
            x = ndimage.gaussian_filter(rng.normal(size=(h, w)), 2.5)
            m[k] |= x > rng.uniform(0.05, 0.15)
    return m


def monai_values(p, t, tol=2.0):
    import torch
    from monai.metrics import DiceMetric, MeanIoU, SurfaceDiceMetric, SurfaceDistanceMetric

    c = p.shape[0]
    P = torch.from_numpy(p[None].astype(np.float32))
    T = torch.from_numpy(t[None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            names.DSC: DiceMetric(include_background=True, reduction="none")(P, T)[0].numpy(),
            names.NSD: SurfaceDiceMetric(class_thresholds=[tol] * c, include_background=True, reduction="none")(P, T)[
                0
            ].numpy(),
            names.MSD: SurfaceDistanceMetric(include_background=True, symmetric=True, reduction="none")(P, T)[
                0
            ].numpy(),
            names.VOE: 1 - MeanIoU(include_background=True, reduction="none")(P, T)[0].numpy(),
        }


def assert_matches_monai(ours, ref):
    for k, r in ref.items():
        o = ours[k]
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r), err_msg=k)
        np.testing.assert_array_equal(np.isinf(o), np.isinf(r), err_msg=k)
        f = np.isfinite(r)
        # MONAI returns float32: compare within 1e-6 relative to max(1, |value|)
        assert np.all(np.abs(o[f] - r[f]) <= 1e-6 * np.maximum(1.0, np.abs(r[f]))), (k, o, r)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_monai_random_blobs(seed):
    rng = np.random.default_rng(seed)
    c, h, w = 6, 36, 44
    p, t = blobs(rng, c, h, w), blobs(rng, c, h, w)
    t[0] = p[0]  # identical
    t[1] = ndimage.binary_dilation(p[1])  # 1-px boundary shift
    p[2, 0, :] = True  # touching the image border
    t[2, :, -1] = True
    p[3] = False  # empty prediction
    t[4] = False  # empty truth
    p[5] = t[5] = False  # both empty
    assert_matches_monai(segmentation_scores(p, t), monai_values(p, t))


def test_matches_monai_other_tolerance_and_full_image_masks():
    rng = np.random.default_rng(7)
    p = blobs(rng, 3, 30, 30)
    t = blobs(rng, 3, 30, 30)
    p[0] = True  # the whole image
    t[1] = True
    assert_matches_monai(segmentation_scores(p, t, tolerance=1.5), monai_values(p, t, tol=1.5))


def test_overlap_scores_equal_metrics_on_explicit_ands():
    rng = np.random.default_rng(3)
    p, t = blobs(rng, 5, 32, 32), blobs(rng, 5, 32, 32)
    pairs = [(0, 1), (1, 2), (2, 3), (0, 4), (3, 4)]
    fast = overlap_scores(p, t, pairs)
    slow = segmentation_scores(overlap_masks(p, pairs), overlap_masks(t, pairs), names.OVERLAP_METRICS)
    for k in names.OVERLAP_METRICS:
        np.testing.assert_allclose(fast[k], slow[k], rtol=0, atol=1e-12, equal_nan=True, err_msg=k)
    assert_matches_monai(fast, monai_values(overlap_masks(p, pairs), overlap_masks(t, pairs)))


# --------------------------------------------------------------------------------------------------
# Evaluator: columns, aggregation, overlap pairs by name
# --------------------------------------------------------------------------------------------------
def test_evaluator_table_and_summary_aggregation():
    ev = SegmentationEvaluator(["A", "B"], task="bone")
    a = square(10, 10, 2, 6, 2, 6)
    z = np.zeros((10, 10), bool)
    ev.add("img1", np.stack([a, a]), np.stack([a, z]))  # DSC A = 1, DSC B NaN (empty truth)
    half = square(10, 10, 2, 6, 2, 4)
    ev.add("img2", np.stack([half, a]), np.stack([a, a]))  # DSC A = 2*8/24, DSC B = 1
    tab = ev.table()
    assert list(tab.index) == ["img1", "img2", names.AVERAGE_ROW]
    assert tab.columns[:3].tolist() == ["DSC A", "DSC B", "Mean DSC"]
    assert "Overlap DSC A&B" not in tab.columns  # no overlap pairs for arbitrary classes
    assert tab.loc["img1", "Mean DSC"] == 1.0  # NaN class skipped
    assert tab.loc["img2", "Mean DSC"] == pytest.approx((2 / 3 + 1) / 2)
    assert tab.loc[names.AVERAGE_ROW, "DSC B"] == 1.0  # finite column mean
    assert tab.loc["img1", "RAVD B"] == 0.0  # empty truth -> 0
    assert math.isinf(tab.loc["img1", "MSD B"])
    assert tab.loc["img1", "Mean MSD"] == 0.0  # inf skipped
    s = ev.summary()
    dsc_img = [1.0, (2 / 3 + 1) / 2]
    assert s["DSC"] == pytest.approx(np.mean(dsc_img))
    assert s["DSC_sd"] == pytest.approx(np.std(dsc_img, ddof=1))
    assert "DSC_O" not in s
    with pytest.raises(ValueError, match="twice"):
        ev.add("img1", np.stack([a, a]), np.stack([a, a]))
    with pytest.raises(ValueError, match="2×H×W"):
        ev.add("img3", a, a)


def test_evaluator_be_task_has_rec_prec_f1():
    ev = SegmentationEvaluator(anatomy.BE_PROTOCOL_CLASSES["svdh90"], task="be")
    z = np.zeros((1, 8, 8), bool)
    m = square(8, 8, 1, 4, 1, 4)[None]
    ev.add("lesion_free", z, z)
    ev.add("fp", m, z)
    tab = ev.table()
    assert tab.loc["lesion_free", "REC SvdH-BE-90"] == 0.0 and tab.loc["fp", "PREC SvdH-BE-90"] == 0.0
    assert tab.loc["fp", "NSD SvdH-BE-90"] == 0.0 and math.isnan(tab.loc["lesion_free", "NSD SvdH-BE-90"])
    s = ev.summary()
    assert s["REC"] == 0.0 and math.isnan(s["DSC"])  # zeros averaged in; images without lesion drop out of DSC


def test_evaluator_overlap_columns_resolved_by_name(tmp_path):
    h, w = 24, 24
    # hand bones in a shuffled order: pairs must follow names, not channel positions
    order = list(anatomy.HAND_BONES)[::-1]
    pred = np.zeros((30, h, w), bool)
    truth = np.zeros((30, h, w), bool)
    r, s = order.index("Radius"), order.index("Scaphoid")
    pred[r] = square(h, w, 2, 12, 2, 12)
    pred[s] = square(h, w, 8, 20, 8, 20)
    truth[r] = square(h, w, 2, 12, 2, 12)
    truth[s] = square(h, w, 9, 20, 9, 20)
    ev = SegmentationEvaluator(order)
    row = ev.add("x", pred, truth)
    pair = anatomy.overlap_pair_name("Radius", "Scaphoid")
    # pred AND = rows 8..11 x cols 8..11 (16 px), truth AND = 9..11 x 9..11 (9 px)
    assert row[names.overlap_column(names.DSC, pair)] == pytest.approx(2 * 9 / 25)
    assert row[names.overlap_mean_column(names.DSC)] == pytest.approx(2 * 9 / 25)  # other pairs NaN
    assert ev.summary()["DSC_O"] == pytest.approx(2 * 9 / 25)
    out = tmp_path / "seg.csv"
    ev.to_csv(out)
    import pandas as pd

    back = pd.read_csv(out, index_col=0)
    assert back.index[-1] == names.AVERAGE_ROW and f"Overlap DSC {pair}" in back.columns
    wrist = SegmentationEvaluator(anatomy.WRIST_BONES)
    assert len(wrist.pairs) == 14
