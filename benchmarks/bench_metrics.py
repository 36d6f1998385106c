"""Benchmark: ramkit segmentation metrics vs the MONAI metric classes the official RAM-H1200 code uses.

One 30-class 1720×1280 hand (bone-like elliptical blobs, carpal/metacarpal bones overlapping as in a radiograph),
truth = the prediction with boundaries moved by a few pixels. Computes DSC, NSD (τ = 2 px), VOE, MSD and RAVD for
the 30 classes and the 14 overlap pairs, once with ramkit and once as the official code does (MONAI DiceMetric,
SurfaceDiceMetric, MeanIoU, SurfaceDistanceMetric, each separately on the full image; overlap ANDs built with
torch), and prints both times, the speed-up and the largest absolute difference of the values.

    python benchmarks/bench_metrics.py [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import ndimage

from ramkit import anatomy
from ramkit.metrics import SegmentationEvaluator, names

H, W = 1720, 1280
CLUSTER = {"Radius", "Scaphoid", "Lunate", "Trapezium", "Capitate", "MC1", "MC3", "Hamate", "MC4", "Trapezoid",
           "MC5", "MC2", "Pisifrom_Triquetrum", "Ulna"}  # fmt: skip


def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float, angle: float) -> np.ndarray:
    y, x = np.ogrid[:h, :w]
    y = y - cy
    x = x - cx
    c, s = np.cos(angle), np.sin(angle)
    u = (c * x + s * y) / rx
    v = (-s * x + c * y) / ry
    return u * u + v * v <= 1.0


def make_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, truth) 30×H×W bool: bone-like blobs; truth = prediction with boundaries moved a few px."""
    rng = np.random.default_rng(seed)
    pred = np.zeros((30, H, W), bool)
    for k, name in enumerate(anatomy.HAND_BONES):
        if name in CLUSTER:  # wrist region: bones crowd and overlap
            cy, cx = rng.uniform(1200, 1400), rng.uniform(500, 800)
            ry, rx = rng.uniform(60, 140), rng.uniform(45, 100)
        elif name == "SoftTissue":
            cy, cx, ry, rx = H / 2, W / 2, 800, 560
        else:  # fingers: long thin bones
            cy, cx = rng.uniform(150, 1050), rng.uniform(100, 1180)
            ry, rx = rng.uniform(60, 160), rng.uniform(20, 45)
        m = ellipse(H, W, cy, cx, ry, rx, rng.uniform(0, np.pi))
        # rough the outline a little
        noise = ndimage.gaussian_filter(rng.normal(size=(-(-H // 8), -(-W // 8))), 2)
        noise = np.kron(noise, np.ones((8, 8)))[:H, :W]
        pred[k] = ndimage.binary_opening(m ^ ((noise > 0.12) & ndimage.binary_dilation(m, iterations=6) & ~m))
    truth = np.empty_like(pred)
    for k in range(30):
        field = ndimage.gaussian_filter(rng.normal(size=(-(-H // 16), -(-W // 16))), 1.5)
        field = np.kron(field, np.ones((16, 16)))[:H, :W]
        dist_in = ndimage.distance_transform_edt(pred[k])
        dist_out = ndimage.distance_transform_edt(~pred[k])
        signed = np.where(pred[k], dist_in, -dist_out)
        shift = 4.0 * field / (np.abs(field).max() + 1e-9)  # boundaries move by up to ~4 px
        truth[k] = signed + shift > 0.5
    return pred, truth


def monai_official(pred: np.ndarray, truth: np.ndarray, pairs) -> dict[str, np.ndarray]:
    """The numbers as the official code computes them (MONAI classes, full image, one metric at a time)."""
    import torch
    from monai.metrics import DiceMetric, MeanIoU, SurfaceDiceMetric, SurfaceDistanceMetric

    out = {}
    p = torch.from_numpy(pred[None].astype(np.float32))
    t = torch.from_numpy(truth[None].astype(np.float32))
    for prefix, (pp, tt) in {
        "": (p, t),
        "O ": (
            torch.cat([p[:, a : a + 1] * p[:, b : b + 1] for a, b in pairs], dim=1),
            torch.cat([t[:, a : a + 1] * t[:, b : b + 1] for a, b in pairs], dim=1),
        ),
    }.items():
        c = pp.shape[1]
        out[prefix + names.DSC] = DiceMetric(include_background=True, reduction="none")(pp, tt)[0].numpy()
        out[prefix + names.NSD] = SurfaceDiceMetric(
            class_thresholds=[2] * c, include_background=True, reduction="none"
        )(pp, tt)[0].numpy()
        out[prefix + names.VOE] = 1 - MeanIoU(include_background=True, reduction="none")(pp, tt)[0].numpy()
        out[prefix + names.MSD] = SurfaceDistanceMetric(include_background=True, symmetric=True, reduction="none")(
            pp, tt
        )[0].numpy()
        sp, st = pp.sum(dim=(2, 3))[0], tt.sum(dim=(2, 3))[0]
        ravd = torch.where(st > 0, (sp - st).abs() / st.clamp(min=1), torch.zeros_like(st))
        out[prefix + names.RAVD] = ravd.numpy()
    return out


def ramkit_values(ev: SegmentationEvaluator, pred, truth) -> dict[str, np.ndarray]:
    row = ev.compute(pred, truth)
    out = {}
    for m in names.OVERLAP_METRICS:
        out[m] = np.array([row[names.class_column(m, c)] for c in ev.class_names])
        out["O " + m] = np.array([row[names.overlap_column(m, p)] for p in ev.pair_names])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    pred, truth = make_case(args.seed)
    ev = SegmentationEvaluator(anatomy.HAND_BONES, task="bone")
    print(
        f"case: 30×{H}×{W}, {len(ev.pairs)} overlap pairs; non-empty overlap ANDs in truth: "
        f"{sum(int((truth[a] & truth[b]).any()) for a, b in ev.pairs)}"
    )

    t_ram = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = ramkit_values(ev, pred, truth)
        t_ram.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = monai_official(pred, truth, ev.pairs)
    t_monai = time.perf_counter() - t0

    worst_abs, worst_rel, worst_key = 0.0, 0.0, ""
    for k, r in ref.items():
        o = ours[k]
        if not (np.array_equal(np.isnan(o), np.isnan(r)) and np.array_equal(np.isinf(o), np.isinf(r))):
            raise SystemExit(f"NaN/inf pattern differs for {k}: ramkit {o} vs MONAI {r}")
        f = np.isfinite(r)
        d = np.abs(o[f] - r[f])
        if d.size and d.max() > worst_abs:
            worst_abs, worst_key = float(d.max()), k
        if d.size:
            worst_rel = max(worst_rel, float((d / np.maximum(1.0, np.abs(r[f]))).max()))
    best = min(t_ram)
    print(f"ramkit (all metrics, classes + overlap, best of {args.repeats}): {best:.3f} s")
    print(f"MONAI as the official code (one metric at a time, full image): {t_monai:.3f} s")
    print(f"speed-up: {t_monai / best:.1f}x")
    print(
        f"largest |ramkit - MONAI|: {worst_abs:.3g} ({worst_key}); relative to max(1,|v|): {worst_rel:.3g} "
        "(MONAI returns float32)"
    )
    print(
        f"mean DSC {np.nanmean(ours['DSC']):.4f}, NSD {np.nanmean(ours['NSD']):.4f}, "
        f"MSD {np.nanmean(ours['MSD'][np.isfinite(ours['MSD'])]):.3f} px, DSC_O {np.nanmean(ours['O DSC']):.4f}"
    )


if __name__ == "__main__":
    main()
