"""Binary classification metrics (RAM-W600 BE present/absent per joint), as the official W600 code reports them.

ACC, SEN = TP/(TP+FN), SPC = TN/(TN+FP), PRE = TP/(TP+FP), F1 = 2TP/(2TP+FP+FN), BACC = (SEN+SPC)/2,
DOR = TP·TN/(FP·FN). A ratio whose denominator is 0 is NaN (DOR: NaN when FP·FN = 0).
"""

from __future__ import annotations

import numpy as np

from ramkit.metrics import names


def binary_counts(truth, pred) -> tuple[int, int, int, int]:
    """(TP, TN, FP, FN) of two 0/1 (or boolean / non-zero = positive) arrays."""
    t = np.asarray(truth).ravel() != 0
    p = np.asarray(pred).ravel() != 0
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} labels, prediction {p.size}")
    tp = int(np.count_nonzero(t & p))
    tn = int(np.count_nonzero(~t & ~p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    return tp, tn, fp, fn


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def binary_scores(truth, pred) -> dict[str, float]:
    """``{ACC, SEN, SPC, PRE, F1, BACC, DOR}`` of binary labels (positive = non-zero)."""
    tp, tn, fp, fn = binary_counts(truth, pred)
    sen = _ratio(tp, tp + fn)
    spc = _ratio(tn, tn + fp)
    return {
        names.ACC: _ratio(tp + tn, tp + tn + fp + fn),
        names.SEN: sen,
        names.SPC: spc,
        names.PRE: _ratio(tp, tp + fp),
        names.F1: _ratio(2 * tp, 2 * tp + fp + fn),
        names.BACC: (sen + spc) / 2,
        names.DOR: _ratio(tp * tn, fp * fn),
    }
