"""Training benchmarks on CPU: throughput, data-loading share, inference time, and "does it learn".

    python benchmarks/bench_train.py throughput [--cohort DIR]
    python benchmarks/bench_train.py learn [--cohort DIR] [--minutes 4] [--tasks hand-bone-seg,hand-jsn-score,...]

``throughput``: training patches/s (median over steps after warm-up) and the share of step time spent fetching
data, for the bench presets of hand-bone-seg (U-Net, 160² patches at scale 0.25) and hand-jsn-score
(ResNet18, 64² ROIs), and
inference ms per image (sliding window over a whole medium-cohort hand) / per ROI.
``learn``: trains the bench presets (epochs × ``--epochs-scale``) on the synthetic cohort with a wall-clock cap
per task (``--minutes``) and reports the
test headline metric (bone DSC, JSN QWK, BE QWK, wrist DSC). Results are printed and written as JSON to
``--out`` (default benchmarks/results_train.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")


def _cohort(path: Path | None, hands: int) -> Path:
    from ramkit.synth import generate_cohort
    from ramkit.train.bench import COHORT

    path = path or Path(f"/tmp/ramkit_bench_train_cohort_{COHORT['size']}_{hands}")
    if not (path / "RAM-H1200-v1").is_dir():  # the bench presets are sized for the bench cohort
        generate_cohort(path, hands=hands, seed=0, size=COHORT["size"], progress=False)
    return path


def throughput(cohort: Path, steps: int = 6) -> dict:
    import torch

    from ramkit.tasks import get
    from ramkit.train.bench import task_config
    from ramkit.train.data import TaskDataset, cases, open_dataset, rescale_case
    from ramkit.train.inference import roi_predict, seg_logits
    from ramkit.train.trainer import build_model

    torch.set_num_threads(int(os.environ.get("RAMKIT_THREADS", "1")))
    out = {}
    for task in ("hand-bone-seg", "hand-jsn-score"):
        spec = get(task)
        cfg = task_config(task, cohort / "RAM-H1200-v1", Path("/tmp/unused")).resolve()
        ds = open_dataset(spec, cfg.data)
        train_cases = cases(spec, ds, "train")
        loss_fn = spec.kind.loss(spec, cfg, train_cases)
        train_cases = [rescale_case(c, cfg.input_scale) for c in train_cases]
        train = TaskDataset(spec, train_cases, cfg.patch_size, seed=0, patches_per_image=cfg.patches_per_image)
        loader = torch.utils.data.DataLoader(train, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
        model = build_model(cfg, spec)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        step_s, data_s = [], []
        it = iter(loader)
        for i in range(steps + 1):
            t0 = time.perf_counter()
            x, y = next(it)
            t1 = time.perf_counter()
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t2 = time.perf_counter()
            if i:  # first step = warm-up (cache fill, allocator)
                data_s.append(t1 - t0)
                step_s.append(t2 - t0)
        med = statistics.median(step_s)
        model.eval()
        if spec.kind.model_kind == "seg":
            img = cases(spec, ds, "test")[0].image()
            seg_logits(model, img, spec, cfg.patch_size, torch.device("cpu"), scale=cfg.input_scale)
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                seg_logits(model, img, spec, cfg.patch_size, torch.device("cpu"), scale=cfg.input_scale)
                ts.append(time.perf_counter() - t0)
            infer = {"ms_per_image": 1000 * statistics.median(ts), "image_shape": list(img.shape)}
        else:
            rois = [c.image() for c in cases(spec, ds, "test")[:32]]
            roi_predict(model, rois, spec, cfg.patch_size, torch.device("cpu"))
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                roi_predict(model, rois, spec, cfg.patch_size, torch.device("cpu"))
                ts.append((time.perf_counter() - t0) / len(rois))
            infer = {"ms_per_roi": 1000 * statistics.median(ts)}
        out[task] = {
            "model": cfg.model,
            "input": cfg.patch_size,
            "batch": cfg.batch_size,
            "items_per_s": cfg.batch_size / med,
            "step_s_median": med,
            "data_share": sum(data_s) / sum(step_s),
            **infer,
            "threads": torch.get_num_threads(),
        }
        print(task, json.dumps(out[task]), flush=True)
    return out


HEADLINE = {
    "hand-bone-seg": "DSC",
    "hand-be-seg": "DSC",
    "hand-jsn-score": "QWK",
    "hand-be-score": "QWK",
    "wrist-bone-seg": "DSC",
    "wrist-be-cls": "BACC",
}


def learn(cohort: Path, minutes: float, tasks: list[str], out_dir: Path, epochs_scale: float = 1.0) -> dict:
    from ramkit.train import fit
    from ramkit.train.bench import task_config
    from ramkit.train.evaluate import run_test

    res = {}
    for task in tasks:
        root = cohort / ("RAM-W600" if task.startswith("wrist") else "RAM-H1200-v1")
        cfg = task_config(task, root, out_dir / task, epochs_scale=epochs_scale)
        cfg.max_minutes = minutes
        t0 = time.perf_counter()
        fit(cfg, quiet=True)
        train_s = time.perf_counter() - t0
        s = run_test(cfg.out, root, quiet=True)
        log = (Path(cfg.out) / "log.csv").read_text().strip().splitlines()
        res[task] = {
            "model": cfg.model,
            "metric": HEADLINE[task],
            "value": s.get(HEADLINE[task]),
            "epochs_run": len(log) - 1,
            "epochs_planned": cfg.epochs,
            "train_s": round(train_s, 1),
            "best_epoch": s.get("best_epoch"),
            "n_test": s["n_cases"],
            "infer_median_ms": s["timing"].get("median_ms"),
        }
        print(task, json.dumps(res[task]), flush=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("throughput", "learn"))
    ap.add_argument("--cohort", type=Path, default=None)
    ap.add_argument("--hands", type=int, default=48)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply the bench preset epochs")
    ap.add_argument("--tasks", default="hand-bone-seg,hand-jsn-score,hand-be-score,wrist-bone-seg")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/ramkit_bench_train_runs"))
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_train.json"))
    a = ap.parse_args(argv)
    cohort = _cohort(a.cohort, a.hands)
    if a.mode == "throughput":
        res = throughput(cohort)
    else:
        res = learn(cohort, a.minutes, a.tasks.split(","), a.runs, a.epochs_scale)
    old = json.loads(a.out.read_text()) if a.out.is_file() else {}
    old[a.mode] = res
    a.out.write_text(json.dumps(old, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
