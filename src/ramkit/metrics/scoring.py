"""Ordinal scoring metrics (BE 0/1/2/3/5, JSN 0–4) on raw integer scores, as the official code computes them.

=========  ==========================================================================================
ACC        plain accuracy
BACC       macro recall over the classes present in truth ∪ prediction (a class only predicted counts
           recall 0; classes absent from both are ignored) — torchmetrics ``MulticlassRecall(macro)``
QWK        quadratic weighted kappa. ``qwk_weights="rank"`` (default, the papers): scikit-learn
           ``cohen_kappa_score(weights="quadratic")`` on raw scores, whose weights use the *rank* of a label
           among the labels present, so BE 3→5 is one step. ``"value"``: weights (a − b)² on raw values,
           so BE 3→5 counts two steps. NaN when fewer than two labels occur.
MAE        mean |raw pred − raw truth| (BE 3→5 counts 2)
W1_ACC     share with |raw pred − raw truth| ≤ 1
PN_ACC     accuracy of the binarisation positive = raw score ≠ 0
PN_SEN     sensitivity of that binarisation, TP / (TP + FN + 1e-8)
=========  ==========================================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ramkit.metrics import names

QwkWeights = Literal["rank", "value"]
EPS = 1e-8


def _pair(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth).ravel()
    p = np.asarray(pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} scores, prediction {p.size}")
    return t, p


def accuracy(truth, pred) -> float:
    """Share of exact matches (NaN for no samples)."""
    t, p = _pair(truth, pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def balanced_accuracy(truth, pred) -> float:
    """Macro recall over the classes in truth ∪ prediction (torchmetrics macro recall convention)."""
    t, p = _pair(truth, pred)
    if not t.size:
        return float("nan")
    recalls = []
    for c in np.union1d(t, p):
        n = np.count_nonzero(t == c)
        recalls.append(np.count_nonzero((t == c) & (p == c)) / n if n else 0.0)
    return float(np.mean(recalls))


def quadratic_kappa(truth, pred, weights: QwkWeights = "rank") -> float:
    """Quadratic weighted Cohen's kappa on raw scores (see module docstring for ``weights``)."""
    t, p = _pair(truth, pred)
    labels = np.union1d(t, p)
    if labels.size < 2:
        return float("nan")
    if weights == "rank":
        from sklearn.metrics import cohen_kappa_score

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(cohen_kappa_score(t, p, weights="quadratic"))
    if weights != "value":
        raise ValueError(f"qwk_weights must be 'rank' or 'value', got {weights!r}")
    idx_t = np.searchsorted(labels, t)
    idx_p = np.searchsorted(labels, p)
    k = labels.size
    observed = np.zeros((k, k))
    np.add.at(observed, (idx_t, idx_p), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    v = labels.astype(np.float64)
    w = (v[:, None] - v[None, :]) ** 2
    den = (w * expected).sum()
    return float(1.0 - (w * observed).sum() / den) if den > 0 else float("nan")


def mean_absolute_error(truth, pred) -> float:
    """Mean |pred − truth| on raw values."""
    t, p = _pair(truth, pred)
    return float(np.mean(np.abs(p.astype(np.float64) - t))) if t.size else float("nan")


def within1_accuracy(truth, pred) -> float:
    """Share of predictions within one raw score step (|pred − truth| ≤ 1)."""
    t, p = _pair(truth, pred)
    return float(np.mean(np.abs(p.astype(np.float64) - t) <= 1)) if t.size else float("nan")


def pn_accuracy(truth, pred) -> float:
    """Accuracy of the positive (raw ≠ 0) / negative binarisation."""
    t, p = _pair(truth, pred)
    return float(np.mean((t != 0) == (p != 0))) if t.size else float("nan")


def pn_sensitivity(truth, pred) -> float:
    """Sensitivity TP/(TP+FN+1e-8) of the raw ≠ 0 binarisation (0 when no positive truth)."""
    t, p = _pair(truth, pred)
    if not t.size:
        return float("nan")
    tp = np.count_nonzero((t != 0) & (p != 0))
    fn = np.count_nonzero((t != 0) & (p == 0))
    return float(tp / (tp + fn + EPS))


def ordinal_scores(truth, pred, qwk_weights: QwkWeights = "rank") -> dict[str, float]:
    """All ordinal metrics ``{QWK, MAE, BACC, ACC, W1_ACC, PN_SEN, PN_ACC}`` of raw score arrays."""
    return {
        names.QWK: quadratic_kappa(truth, pred, qwk_weights),
        names.MAE: mean_absolute_error(truth, pred),
        names.BACC: balanced_accuracy(truth, pred),
        names.ACC: accuracy(truth, pred),
        names.W1_ACC: within1_accuracy(truth, pred),
        names.PN_SEN: pn_sensitivity(truth, pred),
        names.PN_ACC: pn_accuracy(truth, pred),
    }


def confusion_matrix(truth, pred, labels: Sequence[int]) -> np.ndarray:
    """Counts, rows = truth, columns = prediction, in ``labels`` order (values outside ``labels`` ignored)."""
    t, p = _pair(truth, pred)
    lab = list(labels)
    index = {v: i for i, v in enumerate(lab)}
    out = np.zeros((len(lab), len(lab)), np.int64)
    for a, b in zip(t.tolist(), p.tolist(), strict=False):
        if a in index and b in index:
            out[index[a], index[b]] += 1
    return out


def hand_totals(hands: Sequence[str], values: Sequence[int]) -> dict[str, float]:
    """Per-hand sum of scores: ``{hand: total}`` in first-seen order."""
    out: dict[str, float] = {}
    for h, v in zip(hands, values, strict=False):
        out[h] = out.get(h, 0.0) + float(v)
    return out
