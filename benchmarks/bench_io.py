"""I/O benchmark: COCO RLE decode speed of one full-size hand and peak memory of iterating a split.

    python benchmarks/bench_io.py                      # builds a temporary full-size tree (8 hands)
    python benchmarks/bench_io.py --root DATA/RAM-H1200-v1 --split train
    python benchmarks/bench_io.py --repeats 20 --hands 8

1. Decode: one 1720×1280 hand with 30 bone-like ellipse masks (phalanges, metacarpals, carpals, radius/ulna,
   soft tissue), encoded as compressed COCO RLE and written to JSON; time ``CocoFile.masks`` for all 30 bones
   over ``--repeats`` runs; report the median (target < 50 ms).
2. Memory: iterate a whole split (``image()``, ``bones()``, ``be()`` per sample) and report the tracemalloc
   peak (numpy buffers included) and the process max RSS, next to the size of one decoded sample, to show that
   the split is never held in memory at once.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit.io.atomic import write_json
from ramkit.io.coco import CocoFile, build_coco, encode_mask, mask_bbox
from ramkit.io.h1200 import H1200
from ramkit.io.images import write_gray

H, W = 1720, 1280


def _ellipse(cy: float, cx: float, ry: float, rx: float, angle: float = 0.0) -> np.ndarray:
    """Rotated filled ellipse on the H×W grid (computed on its bounding box only)."""
    m = np.zeros((H, W), np.uint8)
    r = int(max(ry, rx)) + 2
    y0, y1, x0, x1 = max(0, int(cy) - r), min(H, int(cy) + r), max(0, int(cx) - r), min(W, int(cx) + r)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    c, s = np.cos(angle), np.sin(angle)
    u = ((yy - cy) * c + (xx - cx) * s) / ry
    v = (-(yy - cy) * s + (xx - cx) * c) / rx
    m[y0:y1, x0:x1] = (u * u + v * v <= 1.0).astype(np.uint8)
    return m


def hand_masks(rng: np.random.Generator) -> np.ndarray:
    """30×H×W bone-like masks in anatomy.HAND_BONES order (overlapping neighbours, realistic sizes)."""
    out = np.zeros((30, H, W), np.uint8)
    j = lambda: rng.normal(0, 8)  # noqa: E731
    finger_x = {1: 330, 2: 520, 3: 660, 4: 790, 5: 910}
    idx = anatomy.HAND_BONES.index
    for f, x in finger_x.items():
        tilt = (f - 3) * 0.12
        base = 1020 if f > 1 else 1180
        out[idx(f"MC{f}")] = _ellipse(base + j(), x + j(), 150, 40, tilt)
        out[idx(f"PP{f}")] = _ellipse(base - 250 + j(), x + 20 * (f - 3) + j(), 100, 32, tilt)
        if f > 1:
            out[idx(f"MP{f}")] = _ellipse(base - 420 + j(), x + 35 * (f - 3) + j(), 65, 28, tilt)
        out[idx(f"DP{f}")] = _ellipse(base - (540 if f > 1 else 380) + j(), x + 45 * (f - 3) + j(), 45, 24, tilt)
    carpals = {
        "Capitate": (1230, 650, 70, 50),
        "Hamate": (1230, 790, 65, 50),
        "Lunate": (1360, 650, 50, 55),
        "Pisifrom_Triquetrum": (1340, 800, 55, 55),
        "Scaphoid": (1350, 500, 70, 45),
        "Trapezium": (1250, 420, 55, 50),
        "Trapezoid": (1215, 530, 45, 40),
        "Sesamoid": (1090, 360, 15, 15),
    }
    for name, (cy, cx, ry, rx) in carpals.items():
        out[idx(name)] = _ellipse(cy + j(), cx + j(), ry, rx, rng.uniform(-0.4, 0.4))
    out[idx("Radius")] = _ellipse(1560, 560, 170, 130)
    out[idx("Ulna")] = _ellipse(1580, 820, 160, 70)
    out[idx("SoftTissue")] = np.maximum(_ellipse(1100, 640, 700, 520), out.max(0))
    return out


def build_tree(parent: Path, hands: int, seed: int = 0) -> Path:
    """A RAM-H1200-v1 tree with ``hands`` full-size hands in train (bone + BE JSON; no scoring)."""
    rng = np.random.default_rng(seed)
    root = parent / "RAM-H1200-v1"
    seg = root / "Segmentation" / "train"
    bone_cats, be_cats = anatomy.h1200_bone_categories(), anatomy.h1200_be_categories()
    cid = {c["name"]: c["id"] for c in bone_cats}
    beid = {c["name"]: c["id"] for c in be_cats}
    images, banns, eanns = [], [], []
    for i in range(hands):
        fname = f"JP_HU1_P{i:04d}_20200101_{i:04d}_{'L' if i % 2 else 'R'}.bmp"
        masks = hand_masks(rng)
        img = (40 + 120 * masks[anatomy.HAND_BONES.index("SoftTissue")] + 60 * masks[:26].max(0)).astype(np.uint8)
        write_gray(seg / fname, img)
        images.append({"id": i, "file_name": fname, "height": H, "width": W})
        for k, name in enumerate(anatomy.HAND_BONES):
            banns.append(
                {
                    "id": len(banns),
                    "image_id": i,
                    "category_id": cid[name],
                    "bbox": mask_bbox(masks[k]),
                    "area": float(masks[k].sum()),
                    "segmentation": encode_mask(masks[k]),
                    "iscrowd": 0,
                }
            )
        lesion = _ellipse(1020 + rng.normal(0, 30), 520 + rng.normal(0, 30), 20, 15)
        eanns.append(
            {
                "id": len(eanns),
                "image_id": i,
                "category_id": beid["SvdH-BE-90"],
                "bbox": mask_bbox(lesion),
                "area": float(lesion.sum()),
                "segmentation": encode_mask(lesion),
                "iscrowd": 0,
            }
        )
    write_json(seg / "_annotations_bone_rle.coco.json", build_coco(images, bone_cats, banns))
    write_json(seg / "_annotations_be_rle.coco.json", build_coco(images, be_cats, eanns))
    return root


def bench_decode(tmp: Path, repeats: int) -> dict:
    root = build_tree(tmp / "decode", hands=1, seed=1)
    path = root / "Segmentation" / "train" / "_annotations_bone_rle.coco.json"
    t0 = time.perf_counter()
    coco = CocoFile(path)
    index_ms = (time.perf_counter() - t0) * 1e3
    im = next(iter(coco.images.values()))
    res = {"index_ms": index_ms, "json_kb": path.stat().st_size / 1024}
    ref = coco.masks(im, anatomy.HAND_BONES)
    for name, fn in (
        ("rows", lambda: coco.masks(im, anatomy.HAND_BONES, fast=True)),
        ("pycocotools", lambda: coco.masks(im, anatomy.HAND_BONES, fast=False)),
    ):
        m = fn()  # warm-up
        if not np.array_equal(m, ref):
            raise SystemExit("fast decode differs from pycocotools decode")
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        res[name] = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}
    return res


def bench_memory(root: Path, split: str) -> dict:
    ds = H1200(root)
    tracemalloc.start()
    t0 = time.perf_counter()
    samples = ds.seg(split)
    one = 0
    for s in samples:
        img, bones, be = s.image(), s.bones(), s.be()
        one = max(one, img.nbytes + bones.nbytes + be.nbytes)
        del img, bones, be
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {
        "images": len(samples),
        "peak_mb": peak / 2**20,
        "one_sample_mb": one / 2**20,
        "split_decoded_mb": one * len(samples) / 2**20,
        "max_rss_mb": rss,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, help="RAM-H1200 root for the memory run (default: a temporary tree)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--hands", type=int, default=8, help="hands in the temporary tree")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dec = bench_decode(tmp, args.repeats)
        root = args.root or build_tree(tmp / "mem", args.hands)
        mem = bench_memory(root, args.split)
    from rich.console import Console
    from rich.table import Table

    t = Table(title="ramkit I/O benchmark")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for name, label in (
        ("rows", "CocoFile.masks (fast row-major decode)"),
        ("pycocotools", "CocoFile.masks(fast=False) (pycocotools)"),
    ):
        d = dec[name]
        ok = "met" if d["median_ms"] < 50 else "MISSED"
        t.add_row(f"30 bone masks {H}x{W}: {label}, median of {args.repeats}", f"{d['median_ms']:.1f} ms ({ok})")
        t.add_row("  min / max", f"{d['min_ms']:.1f} / {d['max_ms']:.1f} ms")
    t.add_row("  target", "< 50 ms")
    t.add_row("  JSON size / index time", f"{dec['json_kb']:.0f} kB / {dec['index_ms']:.1f} ms")
    t.add_row(f"iterate split '{args.split}' ({mem['images']} images, image+bones+be)", f"{mem['seconds']:.2f} s")
    t.add_row("  tracemalloc peak", f"{mem['peak_mb']:.1f} MB")
    t.add_row("  one decoded sample", f"{mem['one_sample_mb']:.1f} MB")
    t.add_row("  whole split if decoded up front", f"{mem['split_decoded_mb']:.1f} MB")
    t.add_row("  process max RSS", f"{mem['max_rss_mb']:.0f} MB")
    Console().print(t)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpu threads {os.cpu_count()}")


if __name__ == "__main__":
    main()
