"""Statistics the papers report (Spearman, Mann–Whitney U, ICC(1,1)) and bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def spearman(x, y) -> tuple[float, float]:
    """Spearman ρ and two-sided p (``scipy.stats.spearmanr``); NaNs with < 3 pairs or a constant input."""
    a = np.asarray(x, np.float64).ravel()
    b = np.asarray(y, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{a.size} vs {b.size} values")
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    from scipy.stats import spearmanr

    r = spearmanr(a, b)
    return float(r.statistic), float(r.pvalue)


def mann_whitney(x, y) -> tuple[float, float]:
    """Two-sided Mann–Whitney U test of two independent samples (finite values): (U of x, p)."""
    from scipy.stats import mannwhitneyu

    a = np.asarray(x, np.float64).ravel()
    b = np.asarray(y, np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not a.size or not b.size:
        return float("nan"), float("nan")
    r = mannwhitneyu(a, b, alternative="two-sided")
    return float(r.statistic), float(r.pvalue)


def icc1_from_ms(msb: float, msw: float, k: int) -> float:
    """ICC(1,1) = (MSB − MSW) / (MSB + (k − 1)·MSW) from one-way ANOVA mean squares and k raters."""
    return float((msb - msw) / (msb + (k - 1) * msw))


def one_way_ms(ratings) -> tuple[float, float]:
    """(MSB, MSW) of an n-subjects × k-raters matrix (one-way random-effects ANOVA)."""
    r = np.asarray(ratings, np.float64)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise ValueError(f"ratings must be n×k with n, k ≥ 2, got shape {r.shape}")
    n, k = r.shape
    grand = r.mean()
    means = r.mean(axis=1)
    msb = k * ((means - grand) ** 2).sum() / (n - 1)
    msw = ((r - means[:, None]) ** 2).sum() / (n * (k - 1))
    return float(msb), float(msw)


def icc1(ratings) -> float:
    """ICC(1,1) of an n-subjects × k-raters matrix."""
    msb, msw = one_way_ms(ratings)
    return icc1_from_ms(msb, msw, np.asarray(ratings).shape[1])


def _resample(arrays: tuple[np.ndarray, ...], idx: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(a[idx] for a in arrays)


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of ``metric(*arrays)``, resampling the rows (first axis) jointly.

    Returns (estimate on the full data, lower, upper); replicates giving non-finite values are skipped.
    Deterministic for a seed.
    """
    arrs = tuple(np.asarray(a) for a in arrays)
    n = len(arrs[0])
    if any(len(a) != n for a in arrs):
        raise ValueError("all arrays must have the same length")
    est = float(metric(*arrs))
    rng = np.random.default_rng(seed)
    vals = np.array([metric(*_resample(arrs, rng.integers(0, n, n))) for _ in range(n_boot)], np.float64)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return est, float("nan"), float("nan")
    lo, hi = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return est, float(lo), float(hi)


def paired_bootstrap(
    metric: Callable[[np.ndarray, np.ndarray], float],
    truth,
    pred_a,
    pred_b,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Paired bootstrap of ``metric(truth, pred_a) − metric(truth, pred_b)`` over the same resampled rows.

    Returns ``{"diff", "lower", "upper", "p"}``; p is the two-sided bootstrap p-value
    (2 × the smaller share of replicate differences on either side of 0, capped at 1).
    """
    t, a, b = np.asarray(truth), np.asarray(pred_a), np.asarray(pred_b)
    n = len(t)
    if len(a) != n or len(b) != n:
        raise ValueError("truth and both predictions must have the same length")
    diff = float(metric(t, a) - metric(t, b))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        reps.append(metric(t[i], a[i]) - metric(t[i], b[i]))
    d = np.asarray(reps, np.float64)
    d = d[np.isfinite(d)]
    if not d.size:
        return {"diff": diff, "lower": float("nan"), "upper": float("nan"), "p": float("nan")}
    lo, hi = np.percentile(d, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    p = min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    return {"diff": diff, "lower": float(lo), "upper": float(hi), "p": p}
