"""ONNX export benchmark: ONNX Runtime vs PyTorch (fp32, CPU) inference time and agreement for trained runs.

    python benchmarks/bench_export.py RUN [RUN ...] [--batch 1,8] [--reps 10] [--threads 1] [--out FILE]

Each run is exported with ``ramkit.export.export_run`` to a temporary file (the run directory is not touched),
then both engines run the same random N×1×S×S batch (S = the run's
input side) ``--reps`` times after 2 warm-up passes; the median ms per batch, the ratio and max |ORT − torch| are
printed and written as JSON to ``--out`` (default benchmarks/results_export.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")


def bench_run(run: Path, batches: list[int], reps: int, threads: int) -> list[dict]:
    import torch

    from ramkit.export import compare, export_run, time_inference
    from ramkit.train.trainer import load_run

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        res = export_run(run, Path(tmp) / "model.onnx")
        model, spec, cfg, _ = load_run(run, "best", "cpu")
        side = res.input_shape[-1]
        rows = []
        for b in batches:
            x = torch.rand(b, 1, side, side, generator=torch.Generator().manual_seed(0))
            diff, _ = compare(model, res.path, x)
            t = time_inference(model, res.path, x, reps=reps, threads=threads)
            rows.append(
                {
                    "run": str(run),
                    "task": spec.id,
                    "model": cfg.model,
                    "input": f"{b}x1x{side}x{side}",
                    "threads": threads,
                    **t,
                    "max_abs_diff": diff,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results_export.json")
    a = ap.parse_args(argv)
    rows = []
    for run in a.runs:
        rows += bench_run(run, [int(b) for b in a.batch.split(",")], a.reps, a.threads)
    print(f"{'task':16} {'model':10} {'input':>14} {'torch ms':>9} {'ORT ms':>8} {'speed-up':>8} {'max|diff|':>10}")
    for r in rows:
        print(
            f"{r['task']:16} {r['model']:10} {r['input']:>14} {r['torch_ms']:9.2f} {r['ort_ms']:8.2f} "
            f"{r['speedup']:8.2f} {r['max_abs_diff']:10.2e}"
        )
    a.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
