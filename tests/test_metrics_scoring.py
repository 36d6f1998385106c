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


def test_qwk_rank_vs_value_weights_by_hand():
    t = [0, 3, 5, 3, 0]
    p = [0, 5, 5, 3, 3]
    # observed pairs (truth, pred): (0,0) (3,5) (5,5) (3,3) (0,3); row sums 0:2 3:2 5:1; column sums 0:1 3:2 5:2
    # value weights (a − b)²: Σw·O = 4 + 9 = 13; Σw·E = (2·(2·9 + 2·25) + 2·(1·9 + 2·4) + 1·(1·25 + 2·4))/5 = 203/5
    assert quadratic_kappa(t, p, "value") == pytest.approx(1 - 13 / (203 / 5))
    # rank weights (labels 0,3,5 at ranks 0,1,2): Σw·O = 1 + 1 = 2; Σw·E = (2·(2·1 + 2·4) + 2·(1 + 2) + (4 + 2))/5
    assert quadratic_kappa(t, p, "rank") == pytest.approx(1 - 2 / 6.4)
    assert quadratic_kappa(t, p, "rank") == pytest.approx(cohen_kappa_score(t, p, weights="quadratic"))
    # value weights with consecutive scores equal rank weights
    t2, p2 = [0, 1, 2, 2, 1], [0, 2, 2, 1, 1]
    assert quadratic_kappa(t2, p2, "value") == pytest.approx(quadratic_kappa(t2, p2, "rank"))
    assert math.isnan(quadratic_kappa([2, 2], [2, 2]))
    with pytest.raises(ValueError):
        quadratic_kappa(t, p, "linear")


@pytest.mark.parametrize("seed", range(6))
def test_sklearn_backed_metrics_equal_direct_definitions(seed):
    """BACC, value QWK and confusion matrices (scikit-learn) equal their definitions written out with numpy."""
    rng = np.random.default_rng(100 + seed)
    values = [0, 1, 2, 3, 5]
    n = int(rng.integers(2, 50))
    t = rng.choice(values, n)
    p = np.where(rng.random(n) < 0.5, t, rng.choice(values, n))
    labels = np.union1d(t, p)
    recalls = [np.mean(p[t == c] == c) if (t == c).any() else 0.0 for c in labels]
    assert balanced_accuracy(t, p) == pytest.approx(np.mean(recalls), abs=1e-12)
    obs = np.array([[np.sum((t == a) & (p == b)) for b in values] for a in values])
    np.testing.assert_array_equal(confusion_matrix(t, p, values), obs)
    if labels.size >= 2:
        v = np.asarray(values, float)
        w = (v[:, None] - v[None, :]) ** 2
        exp = np.outer(obs.sum(1), obs.sum(0)) / n
        assert quadratic_kappa(t, p, "value") == pytest.approx(1 - (w * obs).sum() / (w * exp).sum(), abs=1e-12)


@pytest.mark.parametrize(
    "truth,pred,expected",
    [
        # one class everywhere: kappa undefined (NaN), everything else perfect; PN_SEN = 3/(3 + 1e-8)
        ([2, 2, 2], [2, 2, 2], {"QWK": math.nan, "BACC": 1.0, "ACC": 1.0, "MAE": 0.0, "W1_ACC": 1.0,
                                "PN_ACC": 1.0, "PN_SEN": 3 / (3 + 1e-8)}),
        # no positive truth: PN_SEN 0 (TP + FN = 0, the official +1e-8 denominator)
        ([0, 0], [0, 0], {"QWK": math.nan, "BACC": 1.0, "ACC": 1.0, "PN_SEN": 0.0, "PN_ACC": 1.0}),
        # single truth class, other predicted: BACC over {0, 1} = (1/3 + 0)/2; QWK = 1 − Σw·O/Σw·E = 1 − 2/2 = 0
        ([0, 0, 0], [1, 1, 0], {"QWK": 0.0, "BACC": 1 / 6, "ACC": 1 / 3, "MAE": 2 / 3, "W1_ACC": 1.0,
                                "PN_ACC": 1 / 3, "PN_SEN": 0.0}),
        # everything positive but wrong: PN_SEN 1, ACC 0
        ([5, 5], [1, 1], {"ACC": 0.0, "MAE": 4.0, "W1_ACC": 0.0, "PN_ACC": 1.0, "PN_SEN": 2 / (2 + 1e-8),
                          "BACC": 0.0}),
        # no samples: every metric undefined
        ([], [], dict.fromkeys(names.SCORE_COLUMNS, math.nan)),
    ],
)  # fmt: skip
def test_ordinal_zero_denominators_and_single_class(truth, pred, expected):
    s = ordinal_scores(np.array(truth, int), np.array(pred, int))
    for k, v in expected.items():
        if math.isnan(v):
            assert math.isnan(s[k]), (k, s[k])
        else:
            assert s[k] == pytest.approx(v, abs=1e-12), (k, s[k])


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


def test_icc_from_ratings_matrix_by_hand():
    r = np.array([[1, 2], [3, 3], [5, 4], [2, 2], [0, 1]], float)
    # subject means 1.5, 3, 4.5, 2, 0.5; grand mean 2.3
    # SSB = 2·(0.64 + 0.49 + 4.84 + 0.09 + 3.24) = 18.6 -> MSB = 18.6/4 = 4.65
    # SSW = 0.5 + 0 + 0.5 + 0 + 0.5 = 1.5 -> MSW = 1.5/(5·1) = 0.3
    msb, msw = one_way_ms(r)
    assert msb == pytest.approx(4.65) and msw == pytest.approx(0.3)
    assert icc1(r) == pytest.approx((4.65 - 0.3) / (4.65 + 0.3))  # = 29/33
    assert icc1(r) == pytest.approx(29 / 33)
    assert icc1(np.array([[1, 1], [2, 2], [3, 3]], float)) == pytest.approx(1.0)  # raters agree exactly
    # three raters, by hand: means 2, 5; grand 3.5; MSB = 3·(2.25 + 2.25)/1 = 13.5; MSW = (2 + 2)/(2·2) = 1
    assert icc1(np.array([[1, 2, 3], [4, 5, 6]], float)) == pytest.approx((13.5 - 1) / (13.5 + 2 * 1))
    with pytest.raises(ValueError):
        one_way_ms(np.array([[1.0, 2.0]]))


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
