"""Ordinal scoring metrics (BE 0/1/2/3/5, JSN 0–4) on raw integer scores, as the official code computes them.

=========  ==========================================================================================
ACC        plain accuracy
BACC       macro recall over the classes present in truth ∪ prediction (a class only predicted counts
           recall 0; classes absent from both are ignored) — torchmetrics ``MulticlassRecall(macro)``;
           computed with scikit-learn ``recall_score``
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
    """Macro recall over the classes in truth ∪ prediction (torchmetrics macro recall convention).

    scikit-learn ``recall_score(labels=truth ∪ pred, average="macro", zero_division=0)``: a class only predicted
    counts recall 0, a class absent from both is ignored (``balanced_accuracy_score`` would drop predicted-only
    classes instead).
    """
    t, p = _pair(truth, pred)
    if not t.size:
        return float("nan")
    from sklearn.metrics import recall_score

    return float(recall_score(t, p, labels=np.union1d(t, p), average="macro", zero_division=0))


def quadratic_kappa(truth, pred, weights: QwkWeights = "rank") -> float:
    """Quadratic weighted Cohen's kappa on raw scores (see module docstring for ``weights``).

    Both through scikit-learn ``cohen_kappa_score(weights="quadratic")``: ``"rank"`` with the labels present,
    ``"value"`` with every integer between the smallest and largest label present, so absent values (BE 4) keep
    their place and the weight of a → b is (a − b)².
    """
    if weights not in ("rank", "value"):
        raise ValueError(f"qwk_weights must be 'rank' or 'value', got {weights!r}")
    t, p = _pair(truth, pred)
    labels = np.union1d(t, p)
    if labels.size < 2:
        return float("nan")
    from sklearn.metrics import cohen_kappa_score

    if weights == "value":
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("qwk_weights='value' needs integer scores")
        labels = np.arange(int(labels.min()), int(labels.max()) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(t, p, labels=labels, weights="quadratic"))


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
    """Counts, rows = truth, columns = prediction, in ``labels`` order (values outside ``labels`` ignored).

    scikit-learn ``confusion_matrix(labels=...)``; all zeros when no truth value is among ``labels``.
    """
    t, p = _pair(truth, pred)
    lab = list(labels)
    if not t.size or not np.isin(t, lab).any():
        return np.zeros((len(lab), len(lab)), np.int64)
    from sklearn.metrics import confusion_matrix as sk_confusion

    return sk_confusion(t, p, labels=lab).astype(np.int64)


def hand_totals(hands: Sequence[str], values: Sequence[int]) -> dict[str, float]:
    """Per-hand sum of scores: ``{hand: total}`` in first-seen order."""
    out: dict[str, float] = {}
    for h, v in zip(hands, values, strict=False):
        out[h] = out.get(h, 0.0) + float(v)
    return out
