"""``ramkit bench``: synthetic cohort -> ``check`` -> brief CPU training of every task -> test -> summary tables.

The bench protocol (a CPU-scale protocol, *not* the paper's GPU protocol; ``ramkit train`` keeps the paper
defaults of :mod:`ramkit.tasks`):

* cohort: ``generate_cohort(hands=48, size="medium", seed)`` (864×640 hands at 0.35 mm/px, 300×300 wrists, joint
  ROIs ~36–108 px) with the generator's severity-stratified patient splits (~60/20/20); ``--quick``: 12 hands.
* AdamW, 1 warm-up epoch then cosine to 1 % of the LR (1e-3 – 3e-3 instead of the paper's 1e-4: far fewer
  steps), model selection on the validation metric after every epoch, no early stopping; seeds fixed.
* segmentation: narrow MONAI U-Nets. ``hand-bone-seg`` trains on the hand resampled by ``input_scale`` 0.25
  (216×160: the whole hand fits a 160² patch, so the network sees which finger a bone belongs to) and is
  scored at full resolution (logits resized back); ``hand-be-seg`` trains on native-resolution 64² patches,
  90 % of them drawn from the few lesion images (``pos_image_ratio``), with a lesion-class CE weight of 5;
  ``wrist-bone-seg`` resizes the wrist to 128² (metrics on the resized masks, as the paper).
* scoring / wrist classification: ResNet18 on ROIs resized to 64²; ordinal BCE with a per-threshold
  ``pos_weight`` (JSN: #neg/#pos; BE: its square root — the full weight of the rare score 5 (~40) made the model
  over-predict erosions); wrist BE: CE with inverse-frequency class weights from the training labels.
* threads: ``--threads`` or ``RAMKIT_THREADS``; by default 2 (``min(2, cores)``) when the 1-minute load average
  shows an idle CPU, else 1.

``--epochs-scale`` multiplies every epoch count.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from ramkit.errors import RamkitError
from ramkit.io.atomic import write_csv

#: cohort of the bench (size, default hands, --quick hands)
COHORT = {"size": "medium", "hands": 48, "quick_hands": 12}
#: the bench runs every task with one of its named budgets (``TaskSpec.budgets``; default ``cpu``)
DEFAULT_BUDGET = "cpu"


def auto_threads() -> int:
    """torch threads for the bench: ``RAMKIT_THREADS`` if set, else min(2, cores) on an idle CPU, else 1."""
    env = os.environ.get("RAMKIT_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = 0.0
    return min(2, cores) if load < 0.5 * cores else 1


def task_config(
    task: str,
    data: Path,
    out: Path,
    quick: bool = False,
    epochs_scale: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
    budget: str | None = None,
):
    """The resolved bench TrainConfig of ``task``: its ``budget`` (default ``cpu``; ``quick=True`` = ``quick``)."""
    from ramkit.tasks import get
    from ramkit.train.trainer import TrainConfig

    budget = budget or ("quick" if quick else DEFAULT_BUDGET)
    spec = get(task)
    epochs = spec.budget(budget).get("epochs", spec.epochs)
    return TrainConfig(
        task=task,
        data=str(data),
        out=str(out),
        budget=budget,
        epochs=max(1, int(round(epochs * epochs_scale))),
        seed=seed,
        device=device,
        resume=False,
        threads=threads or auto_threads(),
    ).resolve()


def protocol_table(quick: bool = False, epochs_scale: float = 1.0, budget: str | None = None, tasks=None) -> str:
    """Markdown table of the per-task settings of a budget (model, input, epochs, LR, batch, extras)."""
    from ramkit.tasks import TASKS

    lines = ["| task | model | input | epochs | LR | batch | other |", "|---|---|---|---|---|---|---|"]
    for task in tasks or TASKS:
        kind = TASKS[task].kind
        kw = task_config(task, Path("."), Path("."), quick, epochs_scale, threads=1, budget=budget)
        inp = f"{kw.patch_size}² patches" if kind.input == "patch" else f"{kw.patch_size}²"
        if kw.input_scale != 1.0:
            inp += f" at scale {kw.input_scale}"
        model = kw.model + (" tiny" if kw.model_size == "tiny" else "")
        if kw.model_kw.get("filters"):
            model += f" filters {list(kw.model_kw['filters'])}"
        extras = {
            "patches_per_image": kind.input == "patch",
            "ordinal_pos_weight": kind.model_kind == "ordinal",
            "max_val_cases": kw.max_val_cases is not None,
        }
        other = ", ".join(f"{k}={getattr(kw, k)}" for k, on in extras.items() if on)
        if kind.model_kind == "mil":
            other = f"scheme {kw.mil_scheme}, target {kw.target}, patch-classifier epochs {kw.mil_feature_epochs}"
        lines.append(f"| {task} | {model} | {inp} | {kw.epochs} | {kw.lr:g} | {kw.batch_size} | {other} |")
    return "\n".join(lines)


def run_bench(
    out: str | os.PathLike,
    quick: bool = False,
    budget: str | None = None,
    hands: int | None = None,
    epochs_scale: float = 1.0,
    tasks: list[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, dict]:
    """Run the benchmark; returns {task: summary}. Writes OUT/summary/<task>.csv, OUT/summary/summary.md and the
    report (OUT/report.html, OUT/tables/; :mod:`ramkit.report.build`)."""
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
    budget = budget or ("quick" if quick else DEFAULT_BUDGET)
    quick = budget == "quick"
    hands = hands or (COHORT["quick_hands"] if quick else COHORT["hands"])
    threads = threads or auto_threads()
    if hands < 6:
        raise RamkitError(f"--hands must be >= 6 so that every split has cases (got {hands})")
    data = out / "data"
    t0 = time.perf_counter()
    if not (data / "RAM-H1200-v1").is_dir() or not (data / "RAM-W600").is_dir():
        from ramkit.synth import generate_cohort

        console.print(f"[bold]generating a synthetic cohort of {hands} {COHORT['size']} hands[/bold] -> {data}")
        generate_cohort(data, hands=hands, seed=seed, size=COHORT["size"], progress=False)
    from ramkit.check import check

    for sub in ("RAM-H1200-v1", "RAM-W600"):
        rep = check(data / sub)
        if not rep.ok:
            raise RamkitError("the synthetic cohort failed `ramkit check`; see `ramkit check` for details", data / sub)
    console.print(f"check passed ({time.perf_counter() - t0:.0f} s)")
    results: dict[str, dict] = {}
    md = [
        f"# ramkit bench (budget {budget}; {hands} synthetic {COHORT['size']} hands; "
        f"device {device}; {threads} thread(s); seed {seed})",
        "",
        "CPU-scale protocol (not the paper's): AdamW, 1 warm-up epoch + cosine, selection on the validation "
        "metric after every epoch, no early stopping; test split never used for training or selection.",
        "",
        protocol_table(quick, epochs_scale, budget, tasks),
        "",
    ]
    from ramkit.train.data import open_dataset

    readers: dict = {}
    for task in tasks:
        spec = get(task)
        root = data / ("RAM-H1200-v1" if spec.dataset == "h1200" else "RAM-W600")
        cfg = task_config(task, root, out / "runs" / task, quick, epochs_scale, seed, device, threads, budget)
        if spec.dataset not in readers:  # one reader per layout; the full check above replaces the gates of
            readers[spec.dataset] = open_dataset(spec, root)  # fit/run_test, which skip it when given a reader
        t1 = time.perf_counter()
        fit(cfg, quiet=True, dataset=readers[spec.dataset])
        train_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        summary = run_test(cfg.out, root, split="test", device=device, quiet=True, dataset=readers[spec.dataset])
        test_s = time.perf_counter() - t2
        summary["train_s"] = train_s
        summary["test_s"] = test_s
        summary["epochs"] = cfg.epochs
        results[task] = summary
        cols = [c for c in spec.kind.headline if c in summary]
        row = {
            "task": task,
            "model": f"{cfg.model}{' (tiny)' if cfg.model_size == 'tiny' else ''}",
            "epochs": cfg.epochs,
            "best_epoch": summary.get("best_epoch"),
            "train_s": round(train_s, 1),
            "test_s": round(test_s, 1),
            "n_test": summary["n_cases"],
            **{c: summary[c] for c in cols},
            "ms_per_item": summary["timing"].get("median_ms"),
        }
        df = pd.DataFrame([row])
        write_csv(out / "summary" / f"{task}.csv", df)
        console.print(f"[bold]{task}[/bold] ({spec.description})")
        console.print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"), highlight=False)
        md += [
            f"## {task}",
            "",
            "| " + " | ".join(df.columns) + " |",
            "|" + "---|" * len(df.columns),
            "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()) + " |",
            "",
        ]
    md.append(f"Total wall-clock: {time.perf_counter() - t0:.0f} s")
    write_text(out / "summary" / "summary.md", "\n".join(md) + "\n")
    from ramkit.report.build import write_report

    console.print(f"report: {write_report(out)} (tables in {out / 'tables'})")
    console.print(f"total {time.perf_counter() - t0:.0f} s; tables in {out / 'summary'}")
    return results
