"""Sim-to-real check: wrist models trained on the synthetic cohort, applied to real RAM-W600 wrists.

Run (one command: bench-trains the two wrist tasks when ``WORK/runs`` lacks them, then analyses the real wrists)::

    python benchmarks/sim_to_real.py WORK ../shared/data/real-radiographs/ram-w600-wrist [--budget cpu]

``WORK/runs/wrist-bone-seg`` and ``WORK/runs/wrist-be-cls`` are trained by ``ramkit bench WORK --tasks
wrist-bone-seg,wrist-be-cls`` (the bench cohort and presets; synthetic data only — never the real wrists). Any
``ramkit bench`` output folder can be given as ``WORK`` to reuse its wrist runs.

The real wrists then go through the product's wrist path, ``ramkit analyze`` (:func:`ramkit.pipeline.analyze`):
the predictor brings each 0.15 mm/px image to the runs' training spacing in right-hand orientation (stems ending
in ``L`` are mirrored), segments the 14 bones, derives the 6 W600 joint boxes from the predicted masks
(:func:`ramkit.joints.wrist_joint_boxes`) and classifies the 6 crops. An image counts as erosive when any joint is
predicted positive; its probability is the max over joints. Image-level AUROC against ``labels.csv``
(``bone_erosion_label``) with a 95 % percentile bootstrap CI (2000 resamples, seed 0). Writes
``WORK/sim_to_real/analyze/`` (per-image overlays, ``report.html``), ``bone_overlays.png`` (a montage of every
overlay), ``bone_labels.png`` (every predicted bone outlined and named on the model grid: the montage to judge
the anatomy by) and ``sim_to_real.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")

WRIST_TASKS = ("wrist-bone-seg", "wrist-be-cls")


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


def montage(paths: list[Path], out: Path, cols: int = 6, side: int = 240) -> None:
    """The overlays in one PNG (``cols`` per row), each captioned with its file stem."""
    from PIL import Image, ImageDraw

    rows = (len(paths) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * side, rows * side))
    draw = ImageDraw.Draw(canvas)
    for k, p in enumerate(paths):
        x, y = (k % cols) * side, (k // cols) * side
        if p.is_file():
            canvas.paste(Image.open(p).convert("RGB").resize((side, side)), (x, y))
        draw.text((x + 4, y + 4), p.parent.name, fill=(255, 255, 0))
    canvas.save(out)


#: short names drawn at each predicted bone (display only; the channel names are ``anatomy.WRIST_BONES``)
SHORT = {"Capitate": "C", "DistalRadius": "R", "DistalUlna": "U", "Hamate": "H", "Lunate": "L",
         "Pisifrom&Triquetrum": "Tq", "Scaphoid": "S", "Trapzium": "Tm", "Trapzoid": "Td"}  # fmt: skip


def bone_labels(files: list[Path], seg_run: Path, out: Path, cols: int = 5, side: int = 320) -> None:
    """A montage of the predicted bones on the model grid: each mask outlined in its own colour and named at the
    centroid of its largest part (metacarpals outlined, unnamed), so a reader can tell the lunate from the
    capitate; stems ending in L are shown mirrored (right-hand orientation, as the model sees them)."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

    from ramkit.predictor import Predictor
    from ramkit.report.overlay import palette

    pred = Predictor.from_run(seg_run)
    colours = [tuple(int(v) for v in c) for c in palette(len(pred.class_names))]
    rows = (len(files) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * side, rows * side))
    for k, f in enumerate(files):
        seg = pred.predict(f, spacing_mm=0.15)
        rgb = np.repeat((np.clip(seg.pixels, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
        for c, m in enumerate(seg.model_masks):
            rgb[m & ~ndimage.binary_erosion(m)] = colours[c]
        tile = Image.fromarray(rgb).resize((side, side), Image.NEAREST)
        draw = ImageDraw.Draw(tile)
        sy, sx = side / rgb.shape[0], side / rgb.shape[1]
        for c, m in enumerate(seg.model_masks):
            name = SHORT.get(pred.class_names[c])
            if name is None or m.sum() < 5:
                continue
            lab, n = ndimage.label(m)
            big = lab == 1 + int(np.argmax(ndimage.sum(m, lab, range(1, n + 1))))
            cy, cx = ndimage.center_of_mass(big)
            draw.text((cx * sx - 4, cy * sy - 5), name, fill=colours[c])
        draw.text((4, 4), Path(f).stem, fill=(255, 255, 0))
        canvas.paste(tile, ((k % cols) * side, (k // cols) * side))
    canvas.save(out)


def train_if_missing(work: Path, budget: str, seed: int) -> None:
    """``ramkit bench WORK --tasks wrist-bone-seg,wrist-be-cls`` unless both runs finished training (a run killed
    half-way is trained again; runs of older versions, whose state is unknown, are reused)."""
    import subprocess

    from ramkit.train.checkpoint import is_finished

    if all(is_finished(work / "runs" / t) is not False for t in WRIST_TASKS):
        return
    cmd = [sys.executable, "-m", "ramkit", "bench", str(work), "--tasks", ",".join(WRIST_TASKS),
           "--budget", budget, "--seed", str(seed)]  # fmt: skip
    print("training:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def image_level(results_dir: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per image: max P(erosion) over its located joints, any joint called erosive, and the unlocated joints."""
    p, pos, missing = [], [], []
    for name in names:
        r = json.loads((results_dir / name / "result.json").read_text())
        joints = [j for j in r.get("joints", []) if "p_erosion" in j]
        p.append(max((j["p_erosion"] for j in joints), default=0.0))
        pos.append(any(j["erosion"] for j in joints))
        missing += [f"{name}:{j['joint']}" for j in r.get("joints", []) if j.get("box") is None]
    return np.array(p, float), np.array(pos, bool), missing


def main(argv: list[str] | None = None) -> dict:
    import pandas as pd

    from ramkit.pipeline.analyze import analyze

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work", type=Path, help="bench folder: its runs/wrist-* are trained here when missing")
    ap.add_argument("real", type=Path, help="real wrist folder (images/ and labels.csv)")
    ap.add_argument("--budget", default="cpu", help="training budget when training (quick, cpu)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if not (a.real / "labels.csv").is_file():
        sys.exit(f"ramkit: error: {a.real / 'labels.csv'}: missing")
    train_if_missing(a.work, a.budget, a.seed)
    labels = pd.read_csv(a.real / "labels.csv")
    files = [a.real / f for f in labels["image"]]
    out = a.work / "sim_to_real"
    runs = {t: a.work / "runs" / t for t in WRIST_TASKS}
    res = analyze(files, out / "analyze", runs, anatomy_hint="wrist", spacing_mm=0.15, threads=a.threads)
    if res["failed"]:
        print(f"ramkit: warning: {res['failed']} of {res['n']} real wrists failed (see {res['report']})")
    names = [Path(f).stem for f in labels["image"]]
    montage([out / "analyze" / n / "overlay.png" for n in names], out / "bone_overlays.png")
    bone_labels(files, runs["wrist-bone-seg"], out / "bone_labels.png")
    p, pred, missing = image_level(out / "analyze", names)
    y = (labels["bone_erosion_label"].to_numpy() == "erosive").astype(int)
    auc, lo, hi = bootstrap_auc(y, p)
    summary = {
        "n": len(y),
        "erosive": int(y.sum()),
        "auroc": auc,
        "auroc_ci95": [lo, hi],
        "predicted_erosive": int(pred.sum()),
        "sensitivity": float(pred[y == 1].mean()),
        "specificity": float((~pred[y == 0]).mean()),
        "unlocated_joints": missing,
    }
    (out / "sim_to_real.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"bone overlays to look at: {out / 'bone_overlays.png'}; report: {res['report']}")
    return summary


if __name__ == "__main__":
    main()
