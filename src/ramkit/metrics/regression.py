"""Regression metrics on image-level totals (MIL paper): PCC, MAE, RMSE and Bland–Altman agreement."""

from __future__ import annotations

import os

import numpy as np

from ramkit.metrics import names


def _pair(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth, np.float64).ravel()
    p = np.asarray(pred, np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} values, prediction {p.size}")
    return t, p


def pearson(truth, pred) -> float:
    """Pearson correlation coefficient (NaN with fewer than two points or a constant input)."""
    t, p = _pair(truth, pred)
    if t.size < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return float("nan")
    from scipy.stats import pearsonr

    return float(pearsonr(t, p)[0])


def regression_scores(truth, pred) -> dict[str, float]:
    """``{PCC, MAE, RMSE}`` of two numeric arrays."""
    t, p = _pair(truth, pred)
    err = p - t
    return {
        names.PCC: pearson(t, p),
        names.MAE: float(np.mean(np.abs(err))) if t.size else float("nan"),
        names.RMSE: float(np.sqrt(np.mean(err**2))) if t.size else float("nan"),
    }


def bland_altman(truth, pred, z: float = 1.96) -> dict[str, float]:
    """Bland–Altman agreement of ``pred`` vs ``truth``: bias (mean of pred − truth), SD (ddof 1), limits bias ± z·SD."""
    t, p = _pair(truth, pred)
    d = p - t
    bias = float(np.mean(d)) if d.size else float("nan")
    sd = float(np.std(d, ddof=1)) if d.size > 1 else float("nan")
    return {"bias": bias, "sd": sd, "lower": bias - z * sd, "upper": bias + z * sd, "n": int(d.size)}


def plot_bland_altman(truth, pred, path: str | os.PathLike, title: str = "Bland–Altman", z: float = 1.96) -> None:
    """Save a Bland–Altman plot (mean of the pair vs difference, bias and limits of agreement) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ramkit.io.atomic import atomic_path

    t, p = _pair(truth, pred)
    ba = bland_altman(t, p, z)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.scatter((t + p) / 2, p - t, s=10, alpha=0.7)
    for y, style, label in ((ba["bias"], "-", "bias"), (ba["lower"], "--", f"-{z}SD"), (ba["upper"], "--", f"+{z}SD")):
        ax.axhline(y, linestyle=style, color="k", linewidth=1)
        ax.annotate(f"{label} {y:.2f}", xy=(1.0, y), xycoords=("axes fraction", "data"), ha="right", va="bottom")
    ax.set_xlabel("mean of prediction and truth")
    ax.set_ylabel("prediction − truth")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=os.path.splitext(str(path))[1].lstrip(".") or "png")
    plt.close(fig)
