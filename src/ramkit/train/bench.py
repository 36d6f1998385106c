"""``ramkit bench``: synthetic cohort -> ``check`` -> brief CPU training of every task -> test -> summary tables.

The presets below are sized for 2 CPU cores on the ``size="small"`` cohort: about 12–15 minutes by default and
under 3 minutes with ``--quick`` (tiny models, a few epochs). ``--epochs-scale`` multiplies every epoch count.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from ramkit.errors import RamkitError

#: task -> CPU preset (TrainConfig overrides); "quick" variants shrink models and epochs further
PRESETS: dict[str, dict] = {
    "hand-bone-seg": dict(model="Unet", model_kw={"filters": (16, 32, 64, 128, 256)}, patch_size=128,
                          patches_per_image=4, batch_size=8, epochs=20, lr=3e-3, patience=0, max_val_cases=2),
    "hand-be-seg": dict(model="Unet", model_kw={"filters": (16, 32, 64, 128)}, patch_size=96, patches_per_image=8,
                        batch_size=8, epochs=12, lr=3e-3, patience=0, max_val_cases=3),
    "hand-be-score": dict(model="ResNet18", patch_size=64, batch_size=32, epochs=15, lr=1e-3, patience=0,
                          ordinal_pos_weight=True),
    "hand-jsn-score": dict(model="ResNet18", patch_size=64, batch_size=32, epochs=15, lr=1e-3, patience=0,
                           ordinal_pos_weight=True),
    "wrist-bone-seg": dict(model="Unet", model_kw={"filters": (16, 32, 64, 128, 256)}, patch_size=128,
                           batch_size=4, epochs=40, lr=3e-3, patience=0, max_val_cases=4),
    "wrist-be-cls": dict(model="ResNet18", patch_size=64, batch_size=32, epochs=20, lr=1e-3, patience=0),
}
QUICK: dict[str, dict] = {
    "hand-bone-seg": dict(model_size="tiny", model_kw={}, patch_size=64, patches_per_image=4, epochs=3,
                          max_val_cases=2),
    "hand-be-seg": dict(model_size="tiny", model_kw={}, patch_size=64, patches_per_image=4, epochs=2, max_val_cases=2),
    "hand-be-score": dict(model_size="tiny", model="MobileNet", epochs=3),
    "hand-jsn-score": dict(model_size="tiny", model="MobileNet", epochs=3),
    "wrist-bone-seg": dict(epochs=20, max_val_cases=2),  # the full preset: shows real learning in ~40 s
    "wrist-be-cls": dict(model_size="tiny", model="MobileNet", epochs=3),
}
#: headline metrics printed per task
HEADLINE = {"segmentation": ("DSC", "NSD", "VOE", "MSD"), "score": ("QWK", "MAE", "BACC", "ACC"),
            "binary": ("BACC", "F1", "ACC", "SEN", "SPC")}


def task_config(task: str, data: Path, out: Path, quick: bool = False, epochs_scale: float = 1.0, seed: int = 0,
                device: str = "cpu"):
    """The bench TrainConfig of ``task``."""
    from ramkit.train.trainer import TrainConfig

    kw = dict(PRESETS[task])
    if quick:
        kw.update(QUICK[task])
    kw["epochs"] = max(1, int(round(kw["epochs"] * epochs_scale)))
    return TrainConfig(task=task, data=str(data), out=str(out), seed=seed, device=device, resume=False,
                       threads=int(os.environ.get("RAMKIT_THREADS", "1")), **kw)


def run_bench(out: str | os.PathLike, quick: bool = False, hands: int | None = None, epochs_scale: float = 1.0,
              tasks: list[str] | None = None, seed: int = 0, device: str = "cpu") -> dict[str, dict]:
    """Run the benchmark; returns {task: summary}. Writes OUT/summary/<task>.csv and OUT/summary/summary.md."""
    from rich.console import Console

    from ramkit.io.atomic import write_text
    from ramkit.tasks import TASKS, get
    from ramkit.train.evaluate import run_test
    from ramkit.train.trainer import fit

    console = Console(stderr=False, width=200)
    out = Path(out)
    tasks = tasks or list(TASKS)
    for t in tasks:
        get(t)
    hands = hands or (8 if quick else 24)
    if hands < 6:
        raise RamkitError(f"--hands must be >= 6 so that every split has cases (got {hands})")
    data = out / "data"
    t0 = time.perf_counter()
    if not (data / "RAM-H1200-v1").is_dir() or not (data / "RAM-W600").is_dir():
        from ramkit.synth import generate_cohort

        console.print(f"[bold]generating a synthetic cohort of {hands} hands[/bold] -> {data}")
        generate_cohort(data, hands=hands, seed=seed, size="small")
    from ramkit.check import check

    for sub in ("RAM-H1200-v1", "RAM-W600"):
        rep = check(data / sub)
        if not rep.ok:
            raise RamkitError("the synthetic cohort failed `ramkit check`; see `ramkit check` for details", data / sub)
    console.print(f"check passed ({time.perf_counter() - t0:.0f} s)")
    results: dict[str, dict] = {}
    md = [f"# ramkit bench ({'quick' if quick else 'default'}; {hands} synthetic hands; device {device})", ""]
    for task in tasks:
        spec = get(task)
        root = data / ("RAM-H1200-v1" if spec.dataset == "h1200" else "RAM-W600")
        cfg = task_config(task, root, out / "runs" / task, quick, epochs_scale, seed, device)
        t1 = time.perf_counter()
        fit(cfg, quiet=True)
        train_s = time.perf_counter() - t1
        summary = run_test(cfg.out, root, split="test", device=device, quiet=True)
        summary["train_s"] = train_s
        summary["epochs"] = cfg.epochs
        results[task] = summary
        cols = [c for c in HEADLINE[spec.evaluator] if c in summary]
        row = {"task": task, "model": f"{cfg.model}{' (tiny)' if cfg.model_size == 'tiny' else ''}",
               "epochs": cfg.epochs, "train_s": round(train_s, 1), "n_test": summary["n_cases"],
               **{c: summary[c] for c in cols}, "ms_per_item": summary["timing"].get("median_ms")}
        df = pd.DataFrame([row])
        from ramkit.io.atomic import atomic_path

        with atomic_path(out / "summary" / f"{task}.csv") as tmp:
            df.to_csv(tmp, index=False)
        console.print(f"[bold]{task}[/bold] ({spec.description})")
        console.print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"), highlight=False)
        md += [f"## {task}", "", "| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns),
               "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()) + " |", ""]
    md.append(f"Total wall-clock: {time.perf_counter() - t0:.0f} s")
    write_text(out / "summary" / "summary.md", "\n".join(md) + "\n")
    console.print(f"total {time.perf_counter() - t0:.0f} s; tables in {out / 'summary'}")
    return results
