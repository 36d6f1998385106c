"""Binary classification metrics (RAM-W600 BE present/absent per joint), as the official W600 code reports them.

ACC, SEN = TP/(TP+FN), SPC = TN/(TN+FP), PRE = TP/(TP+FP), F1 = 2TP/(2TP+FP+FN), BACC = (SEN+SPC)/2,
DOR = TP·TN/(FP·FN).

Zero denominators (``zero_division``): ``"zero"`` (default, the official W600 code, which uses torchmetrics
``BinaryAccuracy/Precision/Recall/F1Score/Specificity``) makes such a ratio 0 — a joint with no positive truth has
SEN 0, so BACC = SPC/2; ``"nan"`` leaves it undefined (NaN) and BACC is then NaN too. DOR is NaN whenever
FP·FN = 0 under both (as the W600 code computes it by hand).
"""

from __future__ import annotations

import numpy as np

from ramkit.metrics import names
from ramkit.metrics.conventions import ZERO_DIVISIONS, ZeroDivision


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


def binary_scores(truth, pred, zero_division: ZeroDivision = "zero") -> dict[str, float]:
    """``{ACC, SEN, SPC, PRE, F1, BACC, DOR}`` of binary labels (positive = non-zero); see the module docstring."""
    if zero_division not in ZERO_DIVISIONS:
        raise ValueError(f"zero_division must be one of {ZERO_DIVISIONS}, got {zero_division!r}")
    undefined = 0.0 if zero_division == "zero" else float("nan")

    def ratio(a: int, b: int) -> float:
        return float(a / b) if b else undefined

    tp, tn, fp, fn = binary_counts(truth, pred)
    sen = ratio(tp, tp + fn)
    spc = ratio(tn, tn + fp)
    return {
        names.ACC: ratio(tp + tn, tp + tn + fp + fn),
        names.SEN: sen,
        names.SPC: spc,
        names.PRE: ratio(tp, tp + fp),
        names.F1: ratio(2 * tp, 2 * tp + fp + fn),
        names.BACC: (sen + spc) / 2,
        names.DOR: float(tp * tn / (fp * fn)) if fp * fn else float("nan"),
    }
