"""Sim-to-real check: wrist models trained on the synthetic cohort, applied to real RAM-W600 wrists.

Run::

    python benchmarks/sim_to_real.py RUNS ../shared/data/real-radiographs/ram-w600-wrist --out s2r/ [--px 300]

``RUNS`` holds ``wrist-bone-seg/`` and ``wrist-be-cls/`` run folders (``ramkit train`` / ``ramkit bench``; trained
on synthetic data only — never train on the real wrists). ``--px`` is the wrist image side the models were trained
at (300 for a ``medium`` cohort, 600 for ``full``): the real 600×600 images (0.15 mm/px) are resized to it, so the
model sees the millimetre scale it was trained on.

Steps: (1) real wrists are put in right-hand orientation (stems ending in ``L`` are mirrored, like the W600
loaders do) and resized; (2) ``wrist-bone-seg`` predicts the 14 bone masks (overlay PNGs + a montage of all of
them to look at); (3) the 6 W600 joint boxes are derived from the predicted masks by :func:`joint_boxes` — there
are no true boxes for these images; (4) ``wrist-be-cls`` predicts P(erosion) on the 6 crops; an image is erosive
when any joint is predicted positive and its probability is the max over joints; (5) image-level AUROC against
``labels.csv`` (``bone_erosion_label``) with a 95 % percentile bootstrap CI (2000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _joint_bone_channels() -> dict[str, int]:
    """W600 joint stem -> index of its bone in ``anatomy.WRIST_BONES``."""
    from ramkit import anatomy
    from ramkit.synth.geometry import _be_bones

    hand_to_wrist = {h: w for w, h in anatomy.WRIST_TO_HAND.items()}
    out = {}
    for j in anatomy.W600_JOINTS:
        hand_bone = _be_bones(anatomy.W600_JOINT_TO_BE_STEM[j.stem])[0][0]
        out[j.stem] = anatomy.WRIST_BONES.index(hand_to_wrist[hand_bone])
    return out


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    return lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))


def joint_boxes(masks: np.ndarray) -> dict[str, tuple[int, int, int, int] | None]:
    """Square (x, y, w, h) boxes of the 6 W600 joints from 14 predicted wrist masks (right-hand orientation).

    Mirrors the generator's box rule: carpal bones (trapezium, scaphoid, lunate) — centred on the bone, side 1.25×
    its larger extent; distal radius / ulna — centred on the distal end (the top 40 % of the bone's width below its
    highest pixel), side 1.15× / 1.5× the width there; metacarpal 1 — centred on its base (the fifth of the bone
    nearest the trapezium), side 0.5× the bone's length. ``None`` where the bone was not predicted.
    """
    from ramkit import anatomy

    ch = _joint_bone_channels()
    H, W = masks.shape[1:]
    trapezium = masks[ch["Trapezium"]].astype(bool)
    out: dict[str, tuple[int, int, int, int] | None] = {}
    for j in anatomy.W600_JOINTS:
        m = _largest(masks[ch[j.stem]] > 0)
        if m.sum() < 20:
            out[j.stem] = None
            continue
        ys, xs = np.nonzero(m)
        if j.stem in ("DistalRadius", "DistalUlna"):
            width = np.ptp(xs[ys <= ys.min() + 0.1 * H]) + 1
            top = ys <= ys.min() + 0.4 * width
            cx, side = xs[top].mean(), width * (1.15 if j.stem == "DistalRadius" else 1.5)
            cy = ys.min() + 0.35 * side
        elif j.stem == "Metacarpal1st":
            pts = np.stack([xs, ys], 1).astype(float)
            c = pts.mean(0)
            v = np.linalg.eigh(np.cov((pts - c).T))[1][:, -1]
            t = (pts - c) @ v
            ref = np.argwhere(trapezium).mean(0)[::-1] if trapezium.any() else np.array([0.0, H])
            if (ref - c) @ v < 0:
                t = -t
            base = t >= t.max() - 0.2 * np.ptp(t)
            cx, cy = pts[base].mean(0)
            side = 0.5 * np.ptp(t)
        else:
            cx, cy, side = xs.mean(), ys.mean(), 1.25 * max(np.ptp(xs), np.ptp(ys))
        s = int(round(min(max(side, 16), W, H)))
        x = int(min(max(round(cx - s / 2), 0), W - s))
        y = int(min(max(round(cy - s / 2), 0), H - s))
        out[j.stem] = (x, y, s, s)
    return out


def bootstrap_auc(y: np.ndarray, p: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """AUROC and its 95 % percentile bootstrap CI (resamples with a single class are skipped)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    auc = float(roc_auc_score(y, p))
    boots = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if len(np.unique(y[i])) == 2:
            boots.append(roc_auc_score(y[i], p[i]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return auc, float(lo), float(hi)


def montage(paths: list[Path], out: Path, cols: int = 6, side: int = 200) -> None:
    from PIL import Image

    rows = (len(paths) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * side, rows * side))
    for k, p in enumerate(paths):
        im = Image.open(p).convert("RGB").resize((side, side))
        canvas.paste(im, ((k % cols) * side, (k // cols) * side))
    canvas.save(out)


def main(argv: list[str] | None = None) -> dict:
    import pandas as pd
    from PIL import Image

    from ramkit import anatomy
    from ramkit.io.images import write_gray
    from ramkit.train.evaluate import run_predict

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, help="folder with wrist-bone-seg/ and wrist-be-cls/ runs")
    ap.add_argument("real", type=Path, help="real wrist folder (images/ and labels.csv)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--px", type=int, default=300, help="wrist side the models were trained at (300 medium)")
    a = ap.parse_args(argv)
    for p in (a.runs / "wrist-bone-seg", a.runs / "wrist-be-cls", a.real / "labels.csv"):
        if not p.exists():
            sys.exit(f"ramkit: error: {p}: missing")
    labels = pd.read_csv(a.real / "labels.csv")
    oriented = a.out / "oriented"
    oriented.mkdir(parents=True, exist_ok=True)
    files = []
    for _, r in labels.iterrows():
        img = np.asarray(Image.open(a.real / r["image"]).convert("L"))
        if str(r["side"]).upper() == "L":
            img = img[:, ::-1]
        img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((a.px, a.px), Image.BILINEAR))
        stem = Path(r["image"]).stem
        write_gray(oriented / f"{stem}.png", img)
        files.append(oriented / f"{stem}.png")
    bones_dir = a.out / "bones"
    run_predict(a.runs / "wrist-bone-seg", [str(f) for f in files], bones_dir, device="cpu", side="R")
    montage([bones_dir / f"{f.stem}_overlay.png" for f in files], a.out / "bone_overlays.png")
    crops_dir = a.out / "crops"
    crops, owners, boxes_all = [], [], {}
    for f in files:
        masks = np.load(bones_dir / f"{f.stem}.npy", allow_pickle=False)
        img = np.asarray(Image.open(f).convert("L"))
        boxes = joint_boxes(masks)
        boxes_all[f.stem] = boxes
        for j in anatomy.W600_JOINTS:
            if boxes[j.stem] is None:
                continue
            x, y, w, h = boxes[j.stem]
            p = crops_dir / f.stem / f"{j.stem}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            write_gray(p, np.ascontiguousarray(img[y : y + h, x : x + w]))
            crops.append(p)
            owners.append(f.stem)
    run_predict(a.runs / "wrist-be-cls", [str(c) for c in crops], a.out / "cls", device="cpu")
    sc = pd.read_csv(a.out / "cls" / "scores.csv")
    sc["stem"] = owners
    per_image = sc.groupby("stem").agg(p=("p_erosion", "max"), pos=("erosion", "any"))
    stems = [f.stem for f in files]
    per_image = per_image.reindex(stems).fillna({"p": 0.0, "pos": False})
    y = (labels["bone_erosion_label"].to_numpy() == "erosive").astype(int)
    p = per_image["p"].to_numpy(float)
    auc, lo, hi = bootstrap_auc(y, p)
    pred = per_image["pos"].to_numpy(bool)
    res = {
        "n": len(y),
        "erosive": int(y.sum()),
        "auroc": auc,
        "auroc_ci95": [lo, hi],
        "predicted_erosive": int(pred.sum()),
        "sensitivity": float(pred[y == 1].mean()),
        "specificity": float((~pred[y == 0]).mean()),
        "missing_boxes": {
            s: [k for k, v in b.items() if v is None] for s, b in boxes_all.items() if None in b.values()
        },
    }
    (a.out / "sim_to_real.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"bone overlays to look at: {a.out / 'bone_overlays.png'}")
    return res


if __name__ == "__main__":
    main()
