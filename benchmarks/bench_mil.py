"""Total SvdH on the synthetic test split: sum of per-joint ordinal predictions vs MIL scheme 1 / 2 / ensemble.

Usage::

    python benchmarks/bench_mil.py --bench /work/runs/bench0 --out /tmp/mil_cmp [--budget cpu] [--threads 1]
    # or the two MIL schemes in parallel first:
    python benchmarks/bench_mil.py --bench B --out O --train-only 2 & python benchmarks/bench_mil.py --bench B \
        --out O --train-only 1; wait; python benchmarks/bench_mil.py --bench B --out O --reuse

``--bench`` is a ``ramkit bench`` output folder (``data/`` with the synthetic cohort and ``runs/hand-be-score``,
``runs/hand-jsn-score``). The per-joint runs are re-tested into ``OUT/`` (the bench folder is only read); MIL
scheme 2 and scheme 1 are trained with the task's ``--budget`` into ``OUT/mil_s2``, ``OUT/mil_s1`` (reused when
``--reuse`` and present) and tested. Writes ``OUT/comparison.csv`` and ``OUT/comparison.md``: PCC, MAE, RMSE with
percentile-bootstrap 95 % CIs over test hands (1000 resamples, seed 0), the paired-bootstrap RMSE difference of
each MIL variant against the per-joint sum, and the measured train / inference time per hand.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ramkit.io.atomic import write_csv, write_text
from ramkit.metrics.regression import regression_scores
from ramkit.metrics.stats import bootstrap_ci, paired_bootstrap


def per_joint_totals(bench: Path, data: Path, out: Path, target: str) -> pd.DataFrame:
    """Per-hand sums of the BE and JSN scorers' test predictions (re-tested into ``out``)."""
    from ramkit.train.evaluate import run_test

    parts = []
    for kind in ("be", "jsn"):
        if target not in ("total", kind):
            continue
        dest = out / f"per_joint_{kind}"
        if not (dest / "predictions.csv").is_file():
            run_test(bench / "runs" / f"hand-{kind}-score", data, out=dest, quiet=True)
        df = pd.read_csv(dest / "predictions.csv")
        parts.append(df.groupby("hand")[["truth", "pred"]].sum())
    tot = parts[0] if len(parts) == 1 else parts[0].add(parts[1], fill_value=0)
    return tot.reset_index()


def mil_run(data: Path, out: Path, scheme: int, budget: str, threads: int, target: str, reuse: bool) -> dict:
    """Train (unless reused) and test one MIL run; returns predictions and timings."""
    from ramkit.train import TrainConfig, fit
    from ramkit.train.evaluate import run_test

    run = out / f"mil_s{scheme}"
    train_s = None
    if not (reuse and (run / "best.json").is_file()):
        cfg = TrainConfig(
            task="total-svdh-mil",
            data=str(data),
            out=str(run),
            budget=budget,
            mil_scheme=scheme,
            target=target,
            threads=threads,
            seed=0,
            device="cpu",
            resume=False,
            tensorboard=False,
        )
        t0 = time.perf_counter()
        fit(cfg, quiet=True)
        train_s = time.perf_counter() - t0
        write_text(run / "train_seconds.txt", f"{train_s:.1f}\n")
    elif (run / "train_seconds.txt").is_file():
        train_s = float((run / "train_seconds.txt").read_text())
    summary = run_test(run, data, quiet=True)
    pred = pd.read_csv(run / "test_test" / "predictions.csv")
    return {"pred": pred, "train_s": train_s, "ms_per_hand": summary["timing"].get("median_ms")}


def row(name: str, truth: np.ndarray, pred: np.ndarray, ref: np.ndarray | None) -> dict:
    out: dict = {"method": name, "n": len(truth)}
    for k in ("PCC", "MAE", "RMSE"):
        est, lo, hi = bootstrap_ci(lambda t, p, k=k: regression_scores(t, p)[k], truth, pred, n_boot=1000, seed=0)
        out[k], out[f"{k}_lo"], out[f"{k}_hi"] = est, lo, hi
    if ref is not None:
        d = paired_bootstrap(lambda t, p: regression_scores(t, p)["RMSE"], truth, pred, ref, n_boot=1000, seed=0)
        out.update({"dRMSE_vs_sum": d["diff"], "dRMSE_lo": d["lower"], "dRMSE_hi": d["upper"], "dRMSE_p": d["p"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target", default="total", choices=("be", "jsn", "total"))
    ap.add_argument("--reuse", action="store_true", help="reuse trained MIL runs in OUT")
    ap.add_argument("--train-only", type=int, choices=(1, 2), help="only train (and test) this scheme, then stop")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = args.bench / "data" / "RAM-H1200-v1"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.train_only:  # e.g. both schemes in parallel processes, then a final run with --reuse
        mil_run(data, args.out, args.train_only, args.budget, args.threads, args.target, args.reuse)
        return
    pj = per_joint_totals(args.bench, data, args.out, args.target)
    runs = {s: mil_run(data, args.out, s, args.budget, args.threads, args.target, args.reuse) for s in (2, 1)}
    df = pj.rename(columns={"pred": "per_joint_sum"})
    for s, r in runs.items():
        df = df.merge(r["pred"][["hand", "truth", "pred"]].rename(columns={"pred": f"mil_s{s}", "truth": f"t{s}"}))
        assert (df[f"t{s}"] == df["truth"]).all(), "per-joint and MIL truths differ"
    df["ensemble"] = (df["mil_s1"] + df["mil_s2"]) / 2
    t = df["truth"].to_numpy(float)
    ref = df["per_joint_sum"].to_numpy(float)
    rows = [row("sum of per-joint ordinal predictions (hand-be-score + hand-jsn-score)", t, ref, None)]
    for col, name in (
        ("mil_s1", "MIL scheme 1 (top-K tiles)"),
        ("mil_s2", "MIL scheme 2 (joint patches)"),
        ("ensemble", "MIL ensemble (mean of schemes 1 and 2)"),
    ):
        rows.append(row(name, t, df[col].to_numpy(float), ref))
    table = pd.DataFrame(rows)
    write_csv(args.out / "per_hand.csv", df)
    write_csv(args.out / "comparison.csv", table)
    lines = [
        f"Synthetic test split, {len(t)} hands, target {args.target}; 95 % percentile-bootstrap CIs (1000 resamples); "
        "ΔRMSE = RMSE(method) − RMSE(per-joint sum), paired bootstrap.",
        "",
        "| method | PCC [95 % CI] | MAE [95 % CI] | RMSE [95 % CI] | ΔRMSE vs sum [95 % CI] |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cell = [f"{r[k]:.3f} [{r[k + '_lo']:.3f}, {r[k + '_hi']:.3f}]" for k in ("PCC", "MAE", "RMSE")]
        d = f"{r['dRMSE_vs_sum']:+.2f} [{r['dRMSE_lo']:+.2f}, {r['dRMSE_hi']:+.2f}]" if "dRMSE_vs_sum" in r else "—"
        lines.append(f"| {r['method']} | " + " | ".join(cell) + f" | {d} |")
    from ramkit.io.h1200 import H1200
    from ramkit.tasks.mil import hand_cases

    n_train = len(hand_cases(H1200(data), "train"))
    lines += [
        "",
        f"| MIL run | train s (incl. patch classifier; {n_train} training hands) | train s per hand | "
        "inference ms per hand (median) |",
        "|---|---|---|---|",
    ]
    for s, r in runs.items():
        ts = f"{r['train_s']:.0f} | {r['train_s'] / n_train:.2f}" if r["train_s"] is not None else "n/a | n/a"
        lines.append(f"| scheme {s} | {ts} | {r['ms_per_hand']:.1f} |")
    write_text(args.out / "comparison.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
