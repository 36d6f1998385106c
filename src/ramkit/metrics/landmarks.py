"""Landmark and box localisation metrics (MIL paper): MRE (mm), SDR at 2/3/4/10 mm, box IoU, detection rate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SDR_RADII_MM: tuple[float, ...] = (2.0, 3.0, 4.0, 10.0)


def radial_errors(pred_xy, truth_xy, spacing_mm: float | Sequence[float] = 1.0) -> np.ndarray:
    """Euclidean distance in mm between N×2 predicted and true (x, y) pixel points (NaN for a missing prediction).

    ``spacing_mm``: pixel spacing, one number or (x, y) spacings.
    """
    p = np.asarray(pred_xy, np.float64).reshape(-1, 2)
    t = np.asarray(truth_xy, np.float64).reshape(-1, 2)
    if p.shape != t.shape:
        raise ValueError(f"{len(p)} predicted points but {len(t)} true points")
    s = np.broadcast_to(np.asarray(spacing_mm, np.float64), (2,))
    return np.sqrt((((p - t) * s) ** 2).sum(axis=1))


def mre(pred_xy, truth_xy, spacing_mm: float | Sequence[float] = 1.0) -> float:
    """Mean radial error in mm over points with a prediction (missing = NaN rows are skipped)."""
    e = radial_errors(pred_xy, truth_xy, spacing_mm)
    e = e[np.isfinite(e)]
    return float(e.mean()) if e.size else float("nan")


def sdr(
    pred_xy, truth_xy, spacing_mm: float | Sequence[float] = 1.0, radii_mm: Sequence[float] = SDR_RADII_MM
) -> dict[float, float]:
    """Successful detection rate: share of points within each radius (mm); a missing prediction is a failure."""
    e = radial_errors(pred_xy, truth_xy, spacing_mm)
    if not e.size:
        return {float(r): float("nan") for r in radii_mm}
    ok = np.where(np.isfinite(e), e, np.inf)
    return {float(r): float(np.mean(ok <= r)) for r in radii_mm}


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Element-wise IoU of N×4 COCO boxes ``[x, y, w, h]`` (pairs in the same order); 0 for disjoint boxes."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} boxes vs {len(b)} boxes")
    x0 = np.maximum(a[:, 0], b[:, 0])
    y0 = np.maximum(a[:, 1], b[:, 1])
    x1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    out = np.zeros(len(a))
    np.divide(inter, union, out=out, where=union > 0)
    return np.where(np.isfinite(a).all(1) & np.isfinite(b).all(1), out, 0.0)


def detection_rate(pred_boxes, truth_boxes, threshold: float = 0.5) -> float:
    """Share of true boxes whose paired prediction has IoU ≥ ``threshold`` (missing prediction = NaN row = miss)."""
    iou = box_iou(pred_boxes, truth_boxes)
    return float(np.mean(iou >= threshold)) if iou.size else float("nan")
