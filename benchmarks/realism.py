"""How real do the synthetic wrists look? Image statistics, a real-vs-synthetic classifier and a montage.

Run (one thread, ~1 min for 20 full-size wrists)::

    python benchmarks/realism.py ../shared/data/real-radiographs/ram-w600-wrist/images \
        --n 20 --seed 0 --montage docs/img/synthetic_vs_real_wrist.png --json realism.json

Synthetic wrists are drawn exactly as ``generate_cohort(..., size="full")`` stores them (600×600 at 0.15 mm/px,
left wrists mirrored, like the real RAM-W600 files), without writing a cohort. Per image it measures:

* ``slope``: slope of the radially averaged log10 power spectrum against log10 frequency over 0.1–0.45 cycles/px
  (image minus its mean, 2-D Hann window);
* ``band_power``: mean power at 0.15–0.2 cycles/px (≈ 1 mm at 0.15 mm/px: trabeculae, cortices), log10;
* ``sd_bone`` / ``sd_soft`` / ``sd_bg``: median 15×15 local standard deviation inside bone, soft tissue and
  background;
* ``p95``: 95th-percentile grey level;
* ``contrast``: median bone grey level minus median soft-tissue grey level.

Regions come from the same **intensity-based segmentation for real and synthetic images** (the real images have
no masks): a 3-class multi-Otsu threshold (``skimage.filters.threshold_multiotsu``) of the image smoothed with a
Gaussian of 2 px splits background < soft tissue < bone; each region is eroded by 7 px (half the 15×15 window) so
local sds are measured inside one region, not across its edge. For synthetic images the same statistics from the
drawn masks are reported too (``--masks``) as a check of the segmentation.

The classifier is a standardised logistic regression on those 7 statistics; its AUC is the mean over 20 repeats
of 5-fold stratified cross-validation (scikit-learn). AUC 0.5 = the statistics cannot tell real from synthetic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

STATS = ("slope", "band_power", "sd_bone", "sd_soft", "sd_bg", "p95", "contrast")
ERODE_PX = 7  #: half the 15×15 local-sd window


def segment(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intensity-based background / soft tissue / bone masks (multi-Otsu, 3 classes, of the 2-px-smoothed image)."""
    from scipy import ndimage
    from skimage.filters import threshold_multiotsu

    sm = ndimage.gaussian_filter(img.astype(np.float32), 2.0)
    t0, t1 = threshold_multiotsu(sm, classes=3)
    return sm < t0, (sm >= t0) & (sm < t1), sm >= t1


def spectrum(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum: (frequency in cycles/px, power), Hann-windowed, mean removed."""
    x = img.astype(np.float64)
    x = x - x.mean()
    h, w = x.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.fftshift(np.fft.fft2(x * win))) ** 2 / (h * w)
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    f = np.sqrt(fx**2 + fy**2)
    bins = np.linspace(0, 0.5, 101)
    idx = np.digitize(f.ravel(), bins) - 1
    ok = (idx >= 0) & (idx < 100)
    pw = np.bincount(idx[ok], weights=p.ravel()[ok], minlength=100) / np.maximum(np.bincount(idx[ok], minlength=100), 1)
    return 0.5 * (bins[1:] + bins[:-1]), pw


def image_stats(img: np.ndarray, regions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """The 7 statistics of one 8-bit image (regions: background, soft tissue, bone; segmented when None)."""
    from scipy import ndimage

    f, pw = spectrum(img)
    sel = (f >= 0.1) & (f <= 0.45)
    slope = float(np.polyfit(np.log10(f[sel]), np.log10(pw[sel] + 1e-12), 1)[0])
    band = float(np.log10(pw[(f >= 0.15) & (f <= 0.2)].mean() + 1e-12))
    x = img.astype(np.float64)
    m = ndimage.uniform_filter(x, 15)
    sd = np.sqrt(np.maximum(ndimage.uniform_filter(x * x, 15) - m * m, 0))
    bg, soft, bone = regions if regions is not None else segment(img)
    st = ndimage.generate_binary_structure(2, 1)

    def inner(r: np.ndarray) -> np.ndarray:
        e = ndimage.binary_erosion(r, st, iterations=ERODE_PX)
        return e if e.sum() >= 50 else r

    out = {"slope": slope, "band_power": band}
    for name, r in (("sd_bone", bone), ("sd_soft", soft), ("sd_bg", bg)):
        r = inner(r)
        out[name] = float(np.median(sd[r])) if r.any() else float("nan")
    out["p95"] = float(np.percentile(img, 95))
    out["contrast"] = float(np.median(x[bone]) - np.median(x[soft])) if bone.any() and soft.any() else float("nan")
    return out


def synthetic_wrists(n: int, seed: int, size: str = "full"):
    """(stem, image, masks 14×H×W, soft-tissue mask) of the first ``n`` wrists of a cohort, as stored."""
    from ramkit import anatomy
    from ramkit.synth.cohort import _plan_wrists, _visit_progress, _wrist_anatomy
    from ramkit.synth.phantom import draw_hand

    plan = _plan_wrists(n, seed)
    anats: dict[int, object] = {}
    for entry in plan:
        index, p, pid, sid, side, _, v, nv = entry
        if p not in anats:
            anats[p] = _wrist_anatomy(seed, p)
        d = draw_hand(
            np.random.default_rng([seed, 4, index]), anats[p], progress=_visit_progress(v, nv), size=size, view="wrist"
        )
        img, masks = d.image, d.wrist_masks
        soft = d.bones[anatomy.HAND_BONES.index("SoftTissue")]
        if side == "L":
            img, masks, soft = img[:, ::-1], masks[:, :, ::-1], soft[:, ::-1]
        yield f"{pid}_{sid}_{side}", np.ascontiguousarray(img), masks, soft


def read_real(folder: Path) -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".bmp", ".tif", ".tiff"))
    if not files:
        sys.exit(f"ramkit: error: {folder}: no PNG/BMP/TIFF images")
    return [(p.stem, np.asarray(Image.open(p).convert("L"))) for p in files]


def classifier_auc(real: np.ndarray, synth: np.ndarray, repeats: int = 20) -> tuple[float, float]:
    """Mean and sd over ``repeats`` of the 5-fold cross-validated AUC of a logistic regression real vs synthetic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.concatenate([real, synth])
    y = np.r_[np.ones(len(real)), np.zeros(len(synth))]
    aucs = []
    for r in range(repeats):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        cv = StratifiedKFold(5, shuffle=True, random_state=r)
        p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
        aucs.append(roc_auc_score(y, p))
    return float(np.mean(aucs)), float(np.std(aucs))


def univariate_auc(real: np.ndarray, synth: np.ndarray) -> dict[str, float]:
    """Per statistic, how well it alone separates real from synthetic: max(AUC, 1 - AUC)."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(real)), np.zeros(len(synth))]
    out = {}
    for k, name in enumerate(STATS):
        a = roc_auc_score(y, np.r_[real[:, k], synth[:, k]])
        out[name] = float(max(a, 1 - a))
    return out


def summary_table(real: np.ndarray, synth: np.ndarray) -> list[dict]:
    rows = []
    for k, name in enumerate(STATS):
        r, s = real[:, k], synth[:, k]
        lo, hi = r.min(), r.max()
        rows.append(
            {
                "statistic": name,
                "real_mean": float(r.mean()),
                "real_sd": float(r.std()),
                "real_min": float(lo),
                "real_max": float(hi),
                "synth_mean": float(s.mean()),
                "synth_sd": float(s.std()),
                "synth_min": float(s.min()),
                "synth_max": float(s.max()),
                "synth_in_real_range": float(((s >= lo) & (s <= hi)).mean()),
            }
        )
    return rows


def montage(real: list[np.ndarray], synth: list[np.ndarray], path: Path, k: int = 4) -> None:
    """Top row: ``k`` real wrists, bottom row: ``k`` synthetic wrists (same grey scale, no processing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, k, figsize=(3.2 * k, 6.6))
    for j in range(k):
        for i, (imgs, label) in enumerate(((real, "real RAM-W600"), (synth, "synthetic"))):
            ax[i, j].imshow(imgs[j], cmap="gray", vmin=0, vmax=255)
            ax[i, j].set_title(label, fontsize=9)
            ax[i, j].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("real", type=Path, help="folder of real wrist radiographs (PNG/BMP/TIFF, 600×600 at 0.15 mm/px)")
    ap.add_argument("--n", type=int, default=20, help="synthetic wrists (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--montage", type=Path, help="write a real-vs-synthetic montage PNG here")
    ap.add_argument("--json", type=Path, help="write per-image statistics and the summary here")
    ap.add_argument("--masks", action="store_true", help="also report synthetic statistics on the drawn masks")
    a = ap.parse_args(argv)
    if not a.real.is_dir():
        sys.exit(f"ramkit: error: {a.real}: not a folder")
    t0 = time.perf_counter()
    real = read_real(a.real)
    real_stats = [image_stats(img) for _, img in real]
    syn_imgs, syn_stats, syn_mask_stats = [], [], []
    for _, img, masks, soft in synthetic_wrists(a.n, a.seed):
        syn_imgs.append(img)
        syn_stats.append(image_stats(img))
        if a.masks:
            bone = masks.any(0)
            syn_mask_stats.append(image_stats(img, (~soft.astype(bool) & ~bone, soft.astype(bool) & ~bone, bone)))
    R = np.array([[s[k] for k in STATS] for s in real_stats])
    S = np.array([[s[k] for k in STATS] for s in syn_stats])
    auc, auc_sd = classifier_auc(R, S)
    rows = summary_table(R, S)
    band_ratio = float(10 ** (S[:, 1].mean() - R[:, 1].mean()))
    print(f"{len(real)} real vs {len(S)} synthetic wrists (seed {a.seed}), {time.perf_counter() - t0:.0f} s")
    print(f"{'statistic':<11} {'real mean±sd (min … max)':>34} {'synthetic mean±sd (min … max)':>34} {'in range':>8}")
    for r in rows:
        print(
            f"{r['statistic']:<11} {r['real_mean']:9.2f} ± {r['real_sd']:5.2f}"
            f" ({r['real_min']:7.2f} … {r['real_max']:7.2f})"
            f" {r['synth_mean']:9.2f} ± {r['synth_sd']:5.2f} ({r['synth_min']:7.2f} … {r['synth_max']:7.2f})"
            f" {100 * r['synth_in_real_range']:7.0f}%"
        )
    print(f"band power 0.15-0.2 cycles/px, synthetic / real (geometric means): {band_ratio:.2f}")
    print(f"real-vs-synthetic logistic regression, 5-fold CV AUC: {auc:.3f} ± {auc_sd:.3f} (20 repeats)")
    uni = univariate_auc(R, S)
    print("single-statistic AUC (0.5 = inseparable): " + ", ".join(f"{k} {v:.2f}" for k, v in uni.items()))
    if syn_mask_stats:
        M = np.array([[s[k] for k in STATS] for s in syn_mask_stats])
        print(
            "synthetic statistics on the drawn masks (mean): "
            + ", ".join(f"{k} {v:.2f}" for k, v in zip(STATS, M.mean(0), strict=True))
        )
    result = {
        "real": {n: s for (n, _), s in zip(real, real_stats, strict=True)},
        "synthetic": syn_stats,
        "summary": rows,
        "band_power_ratio": band_ratio,
        "auc": auc,
        "auc_sd": auc_sd,
        "univariate_auc": uni,
        "n_real": len(real),
        "n_synthetic": len(S),
        "seed": a.seed,
    }
    if a.montage:
        montage([img for _, img in real], syn_imgs, a.montage)
        print(f"montage: {a.montage}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
