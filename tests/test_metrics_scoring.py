"""Ordinal, binary, regression, landmark metrics and statistics: hand values and library cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, recall_score

from ramkit import anatomy
from ramkit.metrics import (
    BinaryEvaluator,
    ScoreEvaluator,
    balanced_accuracy,
    binary_scores,
    binary_table,
    bland_altman,
    bootstrap_ci,
    box_iou,
    confusion_matrix,
    detection_rate,
    icc1,
    icc1_from_ms,
    mann_whitney,
    mre,
    names,
    one_way_ms,
    ordinal_scores,
    paired_bootstrap,
    plot_bland_altman,
    quadratic_kappa,
    regression_scores,
    score_table,
    sdr,
    spearman,
)


# --------------------------------------------------------------------------------------------------
# Ordinal scoring
# --------------------------------------------------------------------------------------------------
def test_ordinal_scores_by_hand():
    t = [0, 1, 2, 3, 5, 0]
    p = [0, 2, 2, 5, 5, 1]
    s = ordinal_scores(t, p)
    assert s[names.ACC] == pytest.approx(3 / 6)
    assert s[names.MAE] == pytest.approx((0 + 1 + 0 + 2 + 0 + 1) / 6)  # 3->5 counts 2
    assert s[names.W1_ACC] == pytest.approx(5 / 6)
    assert s[names.PN_ACC] == pytest.approx(5 / 6)  # only (0 -> 1) flips
    assert s[names.PN_SEN] == pytest.approx(4 / (4 + 1e-8))
    # BACC: recalls 0:1/2, 1:0, 2:1, 3:0, 5:1 -> 2.5/5
    assert s[names.BACC] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_qwk_and_bacc_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.choice([0, 1, 2, 3, 5], size=60)
    p = np.where(rng.random(60) < 0.6, t, rng.choice([0, 1, 2, 3, 5], size=60))
    assert quadratic_kappa(t, p) == pytest.approx(cohen_kappa_score(t, p, weights="quadratic"), abs=1e-12)
    labels = np.union1d(t, p)
    ref = recall_score(t, p, labels=labels, average="macro", zero_division=0)
    assert balanced_accuracy(t, p) == pytest.approx(ref, abs=1e-12)


def test_bacc_counts_predicted_only_class_and_ignores_absent():
    # class 3 never in truth but predicted -> recall 0 counts; class 4 absent -> ignored
    assert balanced_accuracy([0, 0, 1, 1], [0, 3, 1, 1]) == pytest.approx((0.5 + 1 + 0) / 3)


def test_qwk_rank_vs_value_weights():
    t = [0, 3, 5, 3, 0]
    p = [0, 5, 5, 3, 3]
    # rank: labels {0,3,5} at ranks 0,1,2; value: weights (a-b)^2 on raw values
    labels = np.array([0, 3, 5])
    obs = confusion_matrix(t, p, labels)
    exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
    for weights, v in (("rank", np.arange(3.0)), ("value", labels.astype(float))):
        w = (v[:, None] - v[None, :]) ** 2
        assert quadratic_kappa(t, p, weights) == pytest.approx(1 - (w * obs).sum() / (w * exp).sum())
    assert quadratic_kappa(t, p, "rank") != pytest.approx(quadratic_kappa(t, p, "value"))
    assert math.isnan(quadratic_kappa([2, 2], [2, 2]))
    with pytest.raises(ValueError):
        quadratic_kappa(t, p, "linear")


def test_score_evaluator_table_spearman_confusion():
    ev = ScoreEvaluator("be")
    truth = {"h1": (0, 1, 3), "h2": (2, 2, 5), "h3": (0, 0, 0), "h4": (5, 3, 1)}
    pred = {"h1": (0, 2, 3), "h2": (2, 1, 5), "h3": (0, 0, 1), "h4": (5, 3, 0)}
    joints = ("R", "BE_MCP-T", "Scaphoid")  # stem, key and display name all resolve
    for h in truth:
        for j, a, b in zip(joints, truth[h], pred[h], strict=False):
            ev.add(h, j, a, b)
    tab = ev.table()
    assert list(tab.columns) == [names.SCOPE, names.NAME, *names.SCORE_COLUMNS, names.N]
    assert tab[names.SCOPE].tolist() == [names.OVERALL, names.JOINT, names.JOINT, names.JOINT]
    assert tab[names.NAME].tolist()[1:] == ["Radius", "MCP1", "Scaphoid"]  # anatomy order, display names
    flat_t = [v for h in truth for v in truth[h]]
    flat_p = [v for h in truth for v in pred[h]]
    assert tab.loc[0, names.QWK] == pytest.approx(cohen_kappa_score(flat_t, flat_p, weights="quadratic"))
    assert tab.loc[0, names.N] == 12
    rho, p = ev.spearman_totals()
    from scipy.stats import spearmanr

    ref = spearmanr([4, 9, 0, 9], [5, 8, 1, 8])
    assert rho == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    cm = ev.confusion()
    assert list(cm.index) == list(anatomy.SCORE_VALUES["be"]) and cm.to_numpy().sum() == 12
    assert ev.confusion("R").to_numpy().sum() == 4
    with pytest.raises(ValueError, match="twice"):
        ev.add("h1", "R", 0, 0)
    with pytest.raises(ValueError, match="score set"):
        ev.add("h9", "R", 4, 0)  # 4 is not a BE score
    with pytest.raises(ValueError, match="unknown"):
        ev.add("h9", "SR", 0, 0)  # a JSN joint
    t2 = score_table(["a", "b", "c"], ["SR", "SR", "STT"], [0, 4, 2], [0, 3, 2], kind="jsn")
    assert t2.loc[0, names.MAE] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------------------------------
# Binary
# --------------------------------------------------------------------------------------------------
def test_binary_scores_by_hand_and_dor_nan():
    t = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [1, 1, 0, 0, 0, 1, 0, 1]  # TP 3, FN 1, TN 3, FP 1
    s = binary_scores(t, p)
    assert s[names.ACC] == pytest.approx(6 / 8)
    assert s[names.SEN] == pytest.approx(3 / 4) and s[names.SPC] == pytest.approx(3 / 4)
    assert s[names.PRE] == pytest.approx(3 / 4) and s[names.F1] == pytest.approx(6 / 8)
    assert s[names.BACC] == pytest.approx(3 / 4)
    assert s[names.DOR] == pytest.approx(9.0)
    assert math.isnan(binary_scores([1, 0], [1, 0])[names.DOR])  # FP*FN = 0


def test_binary_evaluator_binarises_raw_scores():
    tab = binary_table(["a", "a", "b", "b"], ["Lunate", "Trapzium", "Lunate", "Trapezium"], [0, 3, 5, 0], [1, 2, 0, 0])
    assert list(tab.columns) == [names.SCOPE, names.NAME, *names.BINARY_COLUMNS, names.N]
    assert tab.loc[0, names.ACC] == pytest.approx(2 / 4)
    assert tab[names.NAME].tolist()[1:] == ["Trapezium", "Lunate"]
    assert BinaryEvaluator().allowed >= {0, 1, 2, 3, 5}


# --------------------------------------------------------------------------------------------------
# Regression, landmarks
# --------------------------------------------------------------------------------------------------
def test_regression_and_bland_altman(tmp_path):
    t = np.array([10.0, 20.0, 30.0, 40.0])
    p = np.array([12.0, 18.0, 33.0, 41.0])
    s = regression_scores(t, p)
    assert s[names.MAE] == pytest.approx(2.0)
    assert s[names.RMSE] == pytest.approx(math.sqrt((4 + 4 + 9 + 1) / 4))
    assert s[names.PCC] == pytest.approx(np.corrcoef(t, p)[0, 1])
    ba = bland_altman(t, p)
    d = p - t
    assert ba["bias"] == pytest.approx(d.mean()) and ba["sd"] == pytest.approx(d.std(ddof=1))
    assert ba["upper"] == pytest.approx(d.mean() + 1.96 * d.std(ddof=1))
    out = tmp_path / "ba.png"
    plot_bland_altman(t, p, out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_landmarks_and_boxes():
    truth = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    pred = np.array([[3.0, 4.0], [10.0, 10.0], [np.nan, np.nan]])
    assert mre(pred, truth, spacing_mm=0.5) == pytest.approx((2.5 + 0.0) / 2)
    r = sdr(pred, truth, spacing_mm=0.5)
    assert r[2.0] == pytest.approx(1 / 3) and r[3.0] == pytest.approx(2 / 3) and r[10.0] == pytest.approx(2 / 3)
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [5, 5, 2, 2]])
    np.testing.assert_allclose(box_iou(a, b), [50 / 150, 1.0, 0.0])
    assert detection_rate(a, b) == pytest.approx(1 / 3)


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "msb,msw,expected", [(0.9700, 0.2671, 0.5682), (1.4466, 0.5485, 0.4502), (1.2686, 0.4032, 0.5176)]
)
def test_icc_reproduces_h1200_table10(msb, msw, expected):
    assert round(icc1_from_ms(msb, msw, 2), 4) == expected


def test_icc_from_ratings_matrix():
    r = np.array([[1, 2], [3, 3], [5, 4], [2, 2], [0, 1]], float)
    msb, msw = one_way_ms(r)
    n, k = r.shape
    ss_b = k * ((r.mean(1) - r.mean()) ** 2).sum()
    ss_w = ((r - r.mean(1, keepdims=True)) ** 2).sum()
    assert msb == pytest.approx(ss_b / (n - 1)) and msw == pytest.approx(ss_w / (n * (k - 1)))
    assert icc1(r) == pytest.approx((msb - msw) / (msb + msw))
    assert icc1(np.array([[1, 1], [2, 2], [3, 3]], float)) == pytest.approx(1.0)


def test_spearman_and_mann_whitney_match_scipy():
    from scipy.stats import mannwhitneyu, spearmanr

    x = [1, 2, 3, 4, 5, 6]
    y = [2, 1, 4, 3, 6, 5]
    rho, p = spearman(x, y)
    ref = spearmanr(x, y)
    assert rho == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert all(math.isnan(v) for v in spearman([1, 1, 1], [1, 2, 3]))
    u, pu = mann_whitney([0.9, 0.8, 0.95, np.nan], [0.5, 0.6, 0.7])
    ref = mannwhitneyu([0.9, 0.8, 0.95], [0.5, 0.6, 0.7], alternative="two-sided")
    assert u == ref.statistic and pu == pytest.approx(ref.pvalue)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 80)
    p = np.where(rng.random(80) < 0.8, t, 1 - t)
    acc = lambda a, b: float(np.mean(a == b))  # noqa: E731
    est, lo, hi = bootstrap_ci(acc, t, p, n_boot=200, seed=1)
    assert est == pytest.approx(np.mean(t == p)) and lo <= est <= hi and hi - lo > 0
    assert bootstrap_ci(acc, t, p, n_boot=200, seed=1) == (est, lo, hi)
    worse = np.where(rng.random(80) < 0.5, t, 1 - t)
    res = paired_bootstrap(acc, t, p, worse, n_boot=200, seed=0)
    assert res["diff"] == pytest.approx(acc(t, p) - acc(t, worse))
    assert res["lower"] <= res["diff"] <= res["upper"] and 0.0 <= res["p"] <= 1.0
    assert paired_bootstrap(acc, t, p, worse, n_boot=200, seed=0) == res
