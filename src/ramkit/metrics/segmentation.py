"""Segmentation metrics on binary 2-D masks (pixel units), bit-compatible with the MONAI classes the papers used.

Conventions (``shared/spec/METRICS.md``; ``empty="paper"``, the default, reproduces the published tables):

========  ==================================================================  =====================================
metric    definition                                                          empty masks (``empty="paper"``)
========  ==================================================================  =====================================
DSC       2|P∩G| / (|P|+|G|)                                                  NaN when G is empty (whatever P)
NSD       boundary = mask XOR its erosion (4-connected cross, outside the     NaN if both empty, 0 if one empty
          image counts as background, as ``scipy.ndimage.binary_erosion`` in
          MONAI ``get_mask_edges``); (#P-boundary within τ of G-boundary +
          #G-boundary within τ of P-boundary) / (#P-boundary + #G-boundary),
          Euclidean, τ = 2 px
VOE       1 − |P∩G| / |P∪G|                                                   NaN when G is empty
MSD       symmetric mean surface distance (ASSD) over both boundary sets      inf if one empty, NaN if both
RAVD      |ΣP − ΣG| / ΣG                                                      0 when G is empty
REC       TP / (TP + FN + 1e-8)                                               0 on empty G
PREC      TP / (TP + FP + 1e-8)                                               0 on empty P
F1        2TP / (2TP + FP + FN + 1e-8)                                        0 when both empty
========  ==================================================================  =====================================

``empty="metricsreloaded"`` instead scores two empty masks as a perfect match (DSC = NSD = REC = PREC = F1 = 1,
VOE = MSD = RAVD = 0) and exactly one empty mask as a complete miss (DSC = NSD = REC = PREC = F1 = 0, VOE = 1,
MSD = inf, RAVD = inf when G is empty), following the Metrics Reloaded recommendations.

Speed: per channel the boundaries and the exact Euclidean boundary-to-boundary distances are computed once, inside
the union of the prediction's and truth's bounding boxes grown by one pixel of zero padding, and shared by NSD and
MSD. Because every boundary pixel of both masks lies inside that box, the crop gives exactly the full-image values
(erosion with background outside the image, as MONAI does). Distances come from a KD-tree over boundary pixels
(cost ∝ boundary length, not area), like MONAI's CPU path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from ramkit.metrics import names
from ramkit.metrics.conventions import IMAGE_MEANS, ImageMean

EmptyPolicy = Literal["paper", "metricsreloaded"]
EMPTY_POLICIES: tuple[str, ...] = ("paper", "metricsreloaded")
EPS = 1e-8  #: added to the REC/PREC/F1 denominators, as the official BE code does

ALL_METRICS: tuple[str, ...] = names.BE_SEG_METRICS


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------
def as_binary(mask: np.ndarray, what: str = "mask") -> np.ndarray:
    """Return ``mask`` as a bool array (a view for bool/uint8/int8 input), raising ValueError if not 0/1."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    if mask.dtype.kind in "ui":
        if mask.size and (mask.max() > 1 or mask.min() < 0):
            raise ValueError(f"{what} holds values other than 0 and 1")
        if mask.dtype.itemsize == 1:
            return mask.view(bool)
        return mask != 0
    if mask.dtype.kind == "f":
        if mask.size and not np.isin(mask, (0.0, 1.0)).all():
            raise ValueError(f"{what} holds values other than 0 and 1")
        return mask != 0
    raise ValueError(f"{what} has unsupported dtype {mask.dtype}")


def _as_stack(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    p = as_binary(pred, "prediction")
    t = as_binary(truth, "truth")
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from truth shape {t.shape}")
    if p.ndim == 2:
        return p[None], t[None], True
    if p.ndim != 3:
        raise ValueError(f"masks must be H×W or C×H×W, got shape {p.shape}")
    return p, t, False


# --------------------------------------------------------------------------------------------------
# The fast core: per-channel counts
# --------------------------------------------------------------------------------------------------
@dataclass
class ChannelCounts:
    """Raw per-channel counts from which every segmentation metric follows (arrays of shape (C,))."""

    n_pred: np.ndarray  #: |P|
    n_truth: np.ndarray  #: |G|
    n_inter: np.ndarray  #: |P ∩ G|
    edge_pred: np.ndarray  #: number of P boundary pixels
    edge_truth: np.ndarray  #: number of G boundary pixels
    correct: np.ndarray  #: boundary pixels of either mask within the tolerance of the other boundary
    dist_sum: np.ndarray  #: sum of the boundary-to-boundary distances of both directions (px)
    tolerance: float

    @classmethod
    def empty(cls, n: int, tolerance: float) -> ChannelCounts:
        z = lambda: np.zeros(n, np.int64)  # noqa: E731
        return cls(z(), z(), z(), z(), z(), z(), np.zeros(n, np.float64), float(tolerance))


def _boxes(masks: np.ndarray) -> np.ndarray:
    """C×5 int array (has, r0, r1, c0, c1) of the tight bounding box of each channel of a C×H×W bool stack.

    One pass over the stack for the row projection; columns are then scanned only inside each row band.
    """
    c = masks.shape[0]
    out = np.zeros((c, 5), np.int64)
    rows: np.ndarray = np.any(masks, axis=2)
    for k in np.flatnonzero(np.any(rows, axis=1)):
        r = np.flatnonzero(rows[k])
        cols = np.flatnonzero(masks[k, r[0] : r[-1] + 1].any(axis=0))
        out[k] = (1, r[0], r[-1], cols[0], cols[-1])
    return out


def _union_box(*boxes) -> tuple[int, int, int, int] | None:
    """Smallest box holding every given (r0, r1, c0, c1) box (``None`` entries skipped)."""
    bs = [b for b in boxes if b is not None]
    if not bs:
        return None
    return (min(b[0] for b in bs), max(b[1] for b in bs), min(b[2] for b in bs), max(b[3] for b in bs))


def _box(row: np.ndarray) -> tuple[int, int, int, int] | None:
    return (int(row[1]), int(row[2]), int(row[3]), int(row[4])) if row[0] else None


def _intersect(a, b) -> tuple[int, int, int, int] | None:
    if a is None or b is None:
        return None
    box = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[1] and box[2] <= box[3] else None


def _padded_crop(mask: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Crop rows r0..r1 and columns c0..c1 (inclusive) of an H×W mask with one pixel of zero padding around."""
    out = np.zeros((r1 - r0 + 3, c1 - c0 + 3), bool)
    out[1:-1, 1:-1] = mask[r0 : r1 + 1, c0 : c1 + 1]
    return out


def _edges(m: np.ndarray) -> np.ndarray:
    """mask XOR erosion (cross structuring element) of a zero-bordered mask."""
    inner = m[1:-1, 1:-1]
    eroded = inner & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    e = np.zeros_like(m)
    e[1:-1, 1:-1] = inner & ~eroded
    return e


def _surface(p: np.ndarray, t: np.ndarray, tolerance: float) -> tuple[int, int, int, float]:
    """Boundary counts, within-tolerance count and distance sum of two non-empty zero-bordered crops.

    Nearest-boundary distances are exact Euclidean distances from a KD-tree over the other boundary's pixels
    (as MONAI does on CPU); the cost grows with the boundary length, not with the crop area.
    """
    cp = np.argwhere(_edges(p)).astype(np.float64)
    ct = np.argwhere(_edges(t)).astype(np.float64)
    d_pt = cKDTree(ct).query(cp, k=1)[0]
    d_tp = cKDTree(cp).query(ct, k=1)[0]
    correct = int(np.count_nonzero(d_pt <= tolerance)) + int(np.count_nonzero(d_tp <= tolerance))
    return d_pt.size, d_tp.size, correct, float(d_pt.sum() + d_tp.sum())


def _edge_count(m: np.ndarray) -> int:
    return int(np.count_nonzero(_edges(m)))


def _fill(counts: ChannelCounts, k: int, p: np.ndarray, t: np.ndarray, surface: bool) -> None:
    npred = int(np.count_nonzero(p))
    ntruth = int(np.count_nonzero(t))
    counts.n_pred[k] = npred
    counts.n_truth[k] = ntruth
    counts.n_inter[k] = int(np.count_nonzero(p & t)) if npred and ntruth else 0
    if not surface:
        return
    if npred and ntruth:
        ep, et, correct, dsum = _surface(p, t, counts.tolerance)
        counts.edge_pred[k], counts.edge_truth[k] = ep, et
        counts.correct[k] = correct
        counts.dist_sum[k] = dsum
    else:  # one side empty: no distance is finite, only the boundary sizes matter
        counts.edge_pred[k] = _edge_count(p) if npred else 0
        counts.edge_truth[k] = _edge_count(t) if ntruth else 0


def image_counts(
    pred: np.ndarray,
    truth: np.ndarray,
    pairs: Sequence[tuple[int, int]] = (),
    tolerance: float = 2.0,
    surface: bool = True,
) -> tuple[ChannelCounts, ChannelCounts]:
    """Counts of every channel and of every overlap pair of one image, sharing one bounding-box pass.

    Per channel, boundaries and distances are computed once inside the union of the prediction's and truth's
    bounding boxes plus a one-pixel zero border, which gives exactly the full-image values (MONAI erodes with
    background outside the image). For a pair (a, b) the ANDs are built only inside the intersections of the
    two channels' boxes, separately for prediction and truth.
    """
    p, t, _ = _as_stack(pred, truth)
    c = p.shape[0]
    for a, b in pairs:
        if not (0 <= a < c and 0 <= b < c):
            raise ValueError(f"overlap pair ({a}, {b}) is outside the {c} channels")
    classes = ChannelCounts.empty(c, tolerance)
    overlaps = ChannelCounts.empty(len(pairs), tolerance)
    bp = [_box(r) for r in _boxes(p)]
    bt = [_box(r) for r in _boxes(t)]
    for k in range(c):
        box = _union_box(bp[k], bt[k])
        if box is not None:
            _fill(classes, k, _padded_crop(p[k], *box), _padded_crop(t[k], *box), surface)
    for k, (a, b) in enumerate(pairs):
        box = _union_box(_intersect(bp[a], bp[b]), _intersect(bt[a], bt[b]))
        if box is not None:
            pk = _padded_crop(p[a], *box) & _padded_crop(p[b], *box)
            tk = _padded_crop(t[a], *box) & _padded_crop(t[b], *box)
            _fill(overlaps, k, pk, tk, surface)
    return classes, overlaps


def channel_counts(pred: np.ndarray, truth: np.ndarray, tolerance: float = 2.0, surface: bool = True) -> ChannelCounts:
    """Per-channel pixel, boundary and distance counts of C×H×W (or H×W) binary masks (see :func:`image_counts`).

    ``surface=False`` skips boundaries and distances (DSC/VOE/RAVD/REC/PREC/F1 only).
    """
    return image_counts(pred, truth, (), tolerance, surface)[0]


def overlap_channel_counts(
    pred: np.ndarray,
    truth: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    tolerance: float = 2.0,
    surface: bool = True,
) -> ChannelCounts:
    """:func:`channel_counts` of the overlap regions ``mask[a] & mask[b]`` of each channel pair."""
    return image_counts(pred, truth, pairs, tolerance, surface)[1]


# --------------------------------------------------------------------------------------------------
# Metrics from counts
# --------------------------------------------------------------------------------------------------
def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def scores_from_counts(
    counts: ChannelCounts, metrics: Sequence[str] = ALL_METRICS, empty: EmptyPolicy = "paper"
) -> dict[str, np.ndarray]:
    """Turn :class:`ChannelCounts` into ``{metric: (C,) float64}`` under an empty-mask policy."""
    if empty not in EMPTY_POLICIES:
        raise ValueError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")
    npred = counts.n_pred.astype(np.float64)
    ntruth = counts.n_truth.astype(np.float64)
    ninter = counts.n_inter.astype(np.float64)
    p_empty = counts.n_pred == 0
    t_empty = counts.n_truth == 0
    both = p_empty & t_empty
    one = p_empty ^ t_empty
    out: dict[str, np.ndarray] = {}
    for m in metrics:
        if m == names.DSC:
            v = _div(2 * ninter, npred + ntruth)
            if empty == "paper":
                v[t_empty] = np.nan
        elif m == names.VOE:
            v = 1.0 - _div(ninter, npred + ntruth - ninter)
            if empty == "paper":
                v[t_empty] = np.nan
            else:
                v[both] = 0.0
        elif m == names.NSD:
            v = _div(counts.correct, counts.edge_pred + counts.edge_truth)
        elif m == names.MSD:
            v = _div(counts.dist_sum, counts.edge_pred + counts.edge_truth)
            v[one] = np.inf
            v[both] = np.nan
            if empty != "paper":
                v[both] = 0.0
        elif m == names.RAVD:
            v = _div(np.abs(npred - ntruth), ntruth)
            v[t_empty] = 0.0
            if empty != "paper":
                v[t_empty & ~p_empty] = np.inf
        elif m == names.REC:
            v = ninter / (ntruth + EPS)
        elif m == names.PREC:
            v = ninter / (npred + EPS)
        elif m == names.F1:
            v = 2 * ninter / (npred + ntruth + EPS)
        else:
            raise ValueError(f"unknown segmentation metric {m!r}; expected one of {ALL_METRICS}")
        if empty == "metricsreloaded" and m in (names.DSC, names.NSD, names.REC, names.PREC, names.F1):
            v[both] = 1.0
        out[m] = v
    return out


def segmentation_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    metrics: Sequence[str] = ALL_METRICS,
    tolerance: float = 2.0,
    empty: EmptyPolicy = "paper",
) -> dict[str, np.ndarray]:
    """All requested metrics of C×H×W (or H×W) binary masks in one pass: ``{metric: (C,) array}``.

    Parameters
    ----------
    pred, truth : bool/0-1 arrays of equal shape, C×H×W (one binary mask per class) or H×W.
    metrics : subset of ``DSC, NSD, VOE, MSD, RAVD, REC, PREC, F1``.
    tolerance : NSD tolerance τ in pixels (papers: 2).
    empty : ``"paper"`` (MONAI / official code) or ``"metricsreloaded"``; see the module docstring.
    """
    surface = any(m in (names.NSD, names.MSD) for m in metrics)
    return scores_from_counts(channel_counts(pred, truth, tolerance, surface), metrics, empty)


def overlap_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    metrics: Sequence[str] = names.OVERLAP_METRICS,
    tolerance: float = 2.0,
    empty: EmptyPolicy = "paper",
) -> dict[str, np.ndarray]:
    """Overlap-aware metrics: each metric between AND(pred[a], pred[b]) and AND(truth[a], truth[b]) per pair."""
    surface = any(m in (names.NSD, names.MSD) for m in metrics)
    return scores_from_counts(overlap_channel_counts(pred, truth, pairs, tolerance, surface), metrics, empty)


def overlap_masks(masks: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """P×H×W bool stack of the overlap regions ``masks[a] & masks[b]`` (reference implementation, full image)."""
    m = as_binary(masks)
    if not pairs:
        return np.zeros((0,) + m.shape[1:], bool)
    return np.stack([m[a] & m[b] for a, b in pairs])


def _one(metric: str, pred, truth, empty, tolerance=2.0) -> np.ndarray | float:
    p = np.asarray(pred)
    v = segmentation_scores(pred, truth, (metric,), tolerance, empty)[metric]
    return float(v[0]) if p.ndim == 2 else v


def dice(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper") -> np.ndarray | float:
    """Dice similarity coefficient 2|P∩G|/(|P|+|G|) per channel (float for H×W input). NaN on empty truth."""
    return _one(names.DSC, pred, truth, empty)


def nsd(pred: np.ndarray, truth: np.ndarray, tolerance: float = 2.0, empty: EmptyPolicy = "paper"):
    """Normalised surface distance (surface Dice) at ``tolerance`` px. NaN both empty, 0 one empty."""
    return _one(names.NSD, pred, truth, empty, tolerance)


def voe(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Volumetric overlap error 1 − IoU per channel. NaN on empty truth."""
    return _one(names.VOE, pred, truth, empty)


def iou(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Intersection over union (MONAI MeanIoU per channel) = 1 − VOE."""
    return 1.0 - voe(pred, truth, empty)


def msd(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Symmetric mean surface distance (ASSD, px, Euclidean). inf when one mask is empty, NaN when both."""
    return _one(names.MSD, pred, truth, empty)


def ravd(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Relative absolute volume difference |ΣP − ΣG| / ΣG. 0 on empty truth (paper convention)."""
    return _one(names.RAVD, pred, truth, empty)


def recall(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Pixel recall TP/(TP+FN+1e-8) (0 on empty truth)."""
    return _one(names.REC, pred, truth, empty)


def precision(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Pixel precision TP/(TP+FP+1e-8) (0 on empty prediction)."""
    return _one(names.PREC, pred, truth, empty)


def f1(pred: np.ndarray, truth: np.ndarray, empty: EmptyPolicy = "paper"):
    """Pixel F1 2TP/(2TP+FP+FN+1e-8)."""
    return _one(names.F1, pred, truth, empty)


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------
def finite_mean(values, axis: int | None = None):
    """Mean of the finite values (NaN and ±inf skipped); NaN where none is finite."""
    a = np.asarray(values, np.float64)
    fin = np.isfinite(a)
    n = fin.sum(axis=axis)
    s = np.where(fin, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def class_mean(values, metric: str, image_mean: ImageMean = "finite") -> float:
    """Per-image mean of one metric's per-class values under an aggregation convention.

    ``"finite"`` (RAM-H1200 code): mean of the finite values. ``"plain"`` (RAM-W600 code): plain mean, so one NaN
    class makes the result NaN (the image then drops out of the dataset average) — except MSD, which the W600 code
    also averages over its finite values only.
    """
    if image_mean not in IMAGE_MEANS:
        raise ValueError(f"image_mean must be one of {IMAGE_MEANS}, got {image_mean!r}")
    a = np.asarray(values, np.float64)
    if image_mean == "finite" or metric == names.MSD:
        return float(finite_mean(a))
    return float(np.mean(a)) if a.size else float("nan")


def finite_sd(values) -> float:
    """Sample SD (ddof 1) of the finite values of a 1-D array; NaN with fewer than two."""
    a = np.asarray(values, np.float64).ravel()
    a = a[np.isfinite(a)]
    return float(np.std(a, ddof=1)) if a.size >= 2 else float("nan")
