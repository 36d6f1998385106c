"""Joint localisation from anatomy (ramkit.joints) against the release's joint boxes of a synthetic cohort.

    python benchmarks/bench_joints.py --data /work/runs/bench0/data [--bone-run RUN] [--wrist-run RUN]
    python benchmarks/bench_joints.py --data DATA --calibrate      # fit (k, du, dv) per joint on the train split

Prints, per kind (BE 16, JSN 15, wrist 6) and per joint, the IoU with the true box, the detection rate at
IoU >= 0.5 and the centre error in mm (ramkit.metrics.landmarks), from TRUE bone masks (the method's ceiling)
and, with --bone-run/--wrist-run, from the bone masks PREDICTED by that run (ramkit.Predictor).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ramkit import anatomy, joints
from ramkit.metrics.landmarks import box_iou, radial_errors


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def evaluate(pairs: dict[str, list[tuple[list | None, list]]], spacing: float) -> dict:
    """pairs: joint -> [(pred box or None, true box)]; per-joint and overall IoU / detection / centre error."""
    rows, allp, allt = {}, [], []
    for joint, items in pairs.items():
        p = np.array([b if b is not None else [np.nan] * 4 for b, _ in items], float)
        t = np.array([tb for _, tb in items], float)
        iou = box_iou(p, t)
        err = radial_errors(_centres(p), _centres(t), spacing)
        rows[joint] = {
            "IoU": float(iou.mean()),
            "det@0.5": float((iou >= 0.5).mean()),
            "centre_mm": float(np.nanmedian(err)) if np.isfinite(err).any() else float("nan"),
            "missing": int(np.isnan(p).any(1).sum()),
        }
        allp.append(p)
        allt.append(t)
    p, t = np.concatenate(allp), np.concatenate(allt)
    iou = box_iou(p, t)
    err = radial_errors(_centres(p), _centres(t), spacing)
    rows["ALL"] = {
        "IoU": float(iou.mean()),
        "det@0.5": float((iou >= 0.5).mean()),
        "centre_mm": float(np.nanmedian(err)),
        "missing": int(np.isnan(p).any(1).sum()),
    }
    return rows


def hand_cases(data: Path, split: str):
    from ramkit.io.h1200 import H1200

    ds = H1200(data)
    sp = float(np.median(ds.metadata()["PixelSpacing"].astype(float)))
    truth = {k: ds.joint_boxes(k, split) for k in ("be", "jsn")}
    return ds.seg(split), truth, sp


def wrist_cases(data: Path, split: str):
    from ramkit.io.w600 import W600

    ds = W600(data)
    return ds.seg(split), ds.joint_boxes()


def _fit(acc: dict, key, rule, bones, sp: float, tb, shape) -> None:
    m = joints.measure(rule, bones, sp)
    if m is None:
        return
    c, u, size = m
    v = np.array([-u[1], u[0]])
    tc = np.array([tb[0] + tb[2] / 2, tb[1] + tb[3] / 2])
    side = tb[2]
    clamped = tb[0] <= 0 or tb[1] <= 0 or tb[0] + tb[2] >= shape[1] - 1 or tb[1] + tb[3] >= shape[0] - 1
    acc.setdefault(key, []).append((side / size, (tc - c) @ u / side, (tc - c) @ v / side, clamped))


def calibrate(data: Path, wrist: bool = False) -> dict:
    """Median (k, du, dv) per joint on the train split from true masks and true boxes (hand, or W600 wrists)."""
    rules = joints.joint_rules()
    acc: dict = {}
    if not wrist:
        samples, truth, sp = hand_cases(data, "train")
        for s in samples:
            bones = joints._Bones(s.bones(), anatomy.HAND_BONES, max(1, int(4.0 / sp**2)))
            for kind in ("be", "jsn"):
                for stem, tb in truth[kind].get(s.stem, {}).items():
                    _fit(acc, (kind, stem), rules[kind, stem], bones, sp, tb, (s.height, s.width))
    else:
        wsamples, wtruth = wrist_cases(data, "train")
        names = [anatomy.WRIST_TO_HAND[n] for n in anatomy.WRIST_BONES]
        for s in wsamples:
            m = s.masks()
            wsp = 90.0 / m.shape[-1]
            left = s.side == "L"
            if left:
                m = m[..., ::-1]
            bones = joints._Bones(m, names, max(1, int(4.0 / wsp**2)))
            for stem, tb in wtruth.get(s.stem, {}).items():
                if left:
                    tb = (m.shape[-1] - tb[0] - tb[2], tb[1], tb[2], tb[3])
                rule = rules["be", anatomy.W600_JOINT_TO_BE_STEM[stem]]
                _fit(acc, stem, rule, bones, wsp, tb, m.shape[-2:])
    out = {}
    for key, vals in sorted(acc.items()):
        a = np.array([v[:3] for v in vals if not v[3]] or [v[:3] for v in vals])
        out[key] = tuple(round(float(x), 3) for x in np.median(a, 0))
    return out


def run(args) -> dict:
    from ramkit.predictor import Predictor

    results: dict = {}
    bone = Predictor.from_run(args.bone_run, device="cpu") if args.bone_run else None
    samples, truth, sp = hand_cases(args.data, args.split)
    if args.max_cases:
        samples = samples[: args.max_cases]
    src = {"true": {"be": {}, "jsn": {}}, "pred": {"be": {}, "jsn": {}}}
    t_pred = []
    for s in samples:
        stacks = {"true": s.bones()}
        if bone is not None:
            t0 = time.perf_counter()
            r = bone.predict(s.image_path, spacing_mm=sp)
            stacks["pred"] = r.model_masks
            t_pred.append(time.perf_counter() - t0)
        for which, m in stacks.items():
            for kind in ("be", "jsn"):
                boxes = joints.joint_boxes(m, sp, kind)
                for stem, tb in truth[kind].get(s.stem, {}).items():
                    src[which][kind].setdefault(stem, []).append((boxes.get(stem), list(tb)))
    for which in src:
        for kind in ("be", "jsn"):
            if src[which][kind]:
                results[f"hand-{kind}/{which}"] = evaluate(src[which][kind], sp)
    if args.wrist:
        wbone = Predictor.from_run(args.wrist_run, device="cpu") if args.wrist_run else None
        wsamples, wtruth = wrist_cases(args.data, args.split)
        if args.max_cases:
            wsamples = wsamples[: args.max_cases]
        wsrc: dict = {"true": {}, "pred": {}}
        for s in wsamples:
            img = s.image()
            wsp = 90.0 / img.shape[1]  # RAM-W600 crops span 90 mm (0.15 mm/px at 600 px; the medium cohort 0.3)
            left = s.side == "L"  # RAM-W600 stores left wrists as they are: mirror for the rules, boxes back
            m = s.masks()[..., ::-1] if left else s.masks()
            stacks = {"true": (m, wsp, m.shape[-2:], left)}
            if wbone is not None:
                r = wbone.predict(s.image_path, spacing_mm=wsp, side=s.side)
                stacks["pred"] = (r.model_masks, r.spacing_mm, img.shape, r.radiograph.flipped)
            for which, (m, msp, shape, flipped) in stacks.items():
                boxes = {
                    k: (joints.box_to_source(b, m.shape[-2:], shape, flipped) if b is not None else None)
                    for k, b in joints.wrist_joint_boxes(m, msp).items()
                }
                for stem, tb in wtruth.get(s.stem, {}).items():
                    wsrc[which].setdefault(stem, []).append((boxes.get(stem), list(tb)))
        for which, pairs in wsrc.items():
            if pairs:
                results[f"wrist/{which}"] = evaluate(pairs, wsp)
    if t_pred:
        results["bone_seg_s_per_hand"] = float(np.median(t_pred))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--bone-run", type=Path)
    ap.add_argument("--wrist-run", type=Path)
    ap.add_argument("--no-wrist", dest="wrist", action="store_false")
    ap.add_argument("--max-cases", type=int)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--calibrate-wrist", action="store_true", help="with --calibrate: the W600 wrist joints")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.calibrate:
        for key, v in calibrate(args.data, wrist=args.calibrate_wrist).items():
            print(f"    {key!r}: {v},")
        return 0
    res = run(args)
    for name, rows in res.items():
        if not isinstance(rows, dict):
            print(f"{name}: {rows:.2f}")
            continue
        print(f"\n== {name}")
        print(f"{'joint':<14}{'IoU':>7}{'det@0.5':>9}{'centre mm':>11}{'missing':>9}")
        for j, r in rows.items():
            print(f"{j:<14}{r['IoU']:>7.3f}{r['det@0.5']:>9.3f}{r['centre_mm']:>11.2f}{r['missing']:>9d}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
