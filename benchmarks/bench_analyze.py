"""``ramkit analyze`` end to end: cost per hand, batch throughput, and the cost of automatic joint localisation.

    python benchmarks/bench_analyze.py --bench /work/runs/bench0 [--threads 2] [--json OUT.json]

1. **Cost per hand** — CPU seconds (user+sys of this process) and peak RSS per 1720×1280-class hand radiograph
   (the synthetic example hands, real release scale 0.175 mm/px) for the whole pipeline with the bench models.
2. **Throughput** — radiographs per minute for a batch of 20 inputs (the example hands copied 10×).
3. **Agreement** — on the bench cohort's test split: QWK between analyze's per-joint scores (from its own
   anatomy-derived boxes) and ``ramkit test``'s scores on the release's ROI crops (``RUN/test_test/
   predictions.csv``), and each against the truth.
Joint-box IoU / detection / centre error: ``benchmarks/bench_joints.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "synthetic-hands"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cost_per_hand(runs: dict, repeat: int) -> dict:
    from ramkit.pipeline.analyze import Analyzer

    an = Analyzer(runs, log=lambda m: None)
    hands = sorted(EXAMPLES.glob("*.png"))
    an.analyze(hands[0])  # load every model once (not counted)
    cpu, wall = [], []
    for _ in range(repeat):
        for h in hands:
            c0, t0 = _cpu(), time.perf_counter()
            an.analyze(h)
            cpu.append(_cpu() - c0)
            wall.append(time.perf_counter() - t0)
    return {
        "hands": [h.name for h in hands],
        "cpu_s_per_hand_median": float(np.median(cpu)),
        "wall_s_per_hand_median": float(np.median(wall)),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "n": len(cpu),
    }


def throughput(runs: dict, n: int = 20) -> dict:
    from ramkit.pipeline.analyze import analyze

    hands = sorted(EXAMPLES.glob("*.png"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(n):
            h = hands[i % len(hands)]
            shutil.copy(h, src / f"copy{i:02d}_{h.name}")
        t0 = time.perf_counter()
        s = analyze([str(src)], Path(tmp) / "out", runs, quiet=True)
        dt = time.perf_counter() - t0
    return {"inputs": n, "failed": s["failed"], "wall_s": dt, "per_minute": 60.0 * n / dt}


def agreement(bench: Path, runs: dict, max_hands: int | None) -> dict:
    """QWK(analyze, ramkit test), QWK(analyze, truth), QWK(ramkit test, truth) per kind on the test split."""
    import pandas as pd

    from ramkit.io.h1200 import H1200
    from ramkit.metrics.scoring import quadratic_kappa
    from ramkit.pipeline.analyze import Analyzer

    ds = H1200(bench / "data")
    sp = float(np.median(ds.metadata()["PixelSpacing"].astype(float)))
    samples = ds.seg("test")[: max_hands or None]
    an = Analyzer(runs, anatomy_hint="hand", log=lambda m: None)
    ours: dict[tuple[str, str, str], int] = {}
    for s in samples:
        r = an.analyze(s.image_path, spacing_mm=sp)
        for e in r["joints"]:
            if "score" in e:
                ours[e["kind"], s.stem, e["joint"]] = e["score"]
    out = {}
    for kind, task in (("be", "hand-be-score"), ("jsn", "hand-jsn-score")):
        f = bench / "runs" / task / "test_test" / "predictions.csv"
        if not f.is_file():
            continue
        df = pd.read_csv(f)
        df = df[df["hand"].isin({s.stem for s in samples})]
        a = np.array([ours.get((kind, h, j), -1) for h, j in zip(df["hand"], df["joint"], strict=True)])
        keep = a >= 0
        out[kind] = {
            "n_joints": int(keep.sum()),
            "QWK_analyze_vs_test": float(quadratic_kappa(df["pred"][keep], a[keep])),
            "QWK_analyze_vs_truth": float(quadratic_kappa(df["truth"][keep], a[keep])),
            "QWK_test_vs_truth": float(quadratic_kappa(df["truth"][keep], df["pred"][keep])),
            "exact_agreement": float(np.mean(df["pred"][keep].to_numpy() == a[keep])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True, help="a `ramkit bench` output folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: cost,throughput,agreement")
    ap.add_argument("--max-hands", type=int)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import torch

    from ramkit.pipeline.models import find_runs

    torch.set_num_threads(args.threads)
    runs = find_runs(args.bench)
    skip = set(args.skip.split(","))
    res: dict = {"runs": {k: str(v) for k, v in runs.items()}, "threads": args.threads}
    if "cost" not in skip:
        res["cost"] = cost_per_hand(runs, args.repeat)
        print("cost per hand:", json.dumps(res["cost"]))
    if "throughput" not in skip:
        res["throughput"] = throughput(runs)
        print("throughput:", json.dumps(res["throughput"]))
    if "agreement" not in skip:
        res["agreement"] = agreement(args.bench, runs, args.max_hands)
        print("agreement:", json.dumps(res["agreement"]))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
