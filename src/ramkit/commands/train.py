"""``ramkit train | test | predict | bench``: train a benchmark task, evaluate a run, predict new images, and the
CPU benchmark of every task on a synthetic cohort."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer


def _train_options() -> list[inspect.Parameter]:
    """One ``--field-name`` option per :class:`~ramkit.train.TrainConfig` field (help text from the field)."""
    import typing
    from dataclasses import fields

    from ramkit.train.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    params = []
    for f in fields(TrainConfig):
        if f.name in ("task", "model_kw"):
            continue
        base = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        flag = "--" + f.name.replace("_", "-")
        help_ = f.metadata.get("help", "")
        if f.name in ("data", "out"):
            help_ = {"data": "Dataset root (RAM-H1200-v1/ or RAM-W600/ or parent).", "out": "Run directory."}[f.name]
        if base == [bool]:
            opt = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_, show_default=False)
            ann: object = bool | None
        else:
            typ = base[0] if len(base) == 1 and base[0] in (int, float, str) else str
            opt = typer.Option(None, flag, help=help_, show_default=False)
            ann = typ | None
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann))
    return params


def _parse_sets(items: list[str]) -> dict:
    """``key=value`` pairs (values parsed as YAML) -> dict; RamkitError on a malformed pair."""
    import yaml

    from ramkit.errors import RamkitError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RamkitError(f"--set {item!r}: expected key=value")
        try:
            out[key.strip().replace("-", "_")] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise RamkitError(f"--set {item!r}: invalid value ({str(exc).splitlines()[0]})") from None
    return out


def _read_config(config: Path | None) -> dict:
    from ramkit.errors import RamkitError

    if config is None:
        return {}
    import yaml

    if not config.is_file():
        raise RamkitError("configuration file not found", config)
    try:
        base = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RamkitError(f"invalid YAML ({str(exc).splitlines()[0]})", config) from None
    if not isinstance(base, dict):
        raise RamkitError("expected a mapping of option: value", config)
    return {k.replace("-", "_"): v for k, v in base.items()}


def train_command(task: str, config: Path | None = None, set_: list[str] | None = None, **options) -> None:
    """Train a model for a task; the resolved configuration is saved to OUT/config.yaml.

    Precedence: command-line options > --set > --config file > the --budget (quick, cpu, paper) > the task's
    paper protocol. Every option is a TrainConfig field (docs/training.md).
    """
    from ramkit.errors import RamkitError
    from ramkit.tasks import get

    get(task)  # unknown task -> one line, before the heavy imports
    base = _read_config(config)
    base.update(_parse_sets(set_ or []))
    base.update({k: (str(v) if isinstance(v, Path) else v) for k, v in options.items() if v is not None})
    base["task"] = task
    for req in ("data", "out"):
        if not base.get(req):
            raise RamkitError(f"--{req} is required (on the command line or in --config)")
    from ramkit.io.atomic import check_output_dir
    from ramkit.train.checkpoint import run_dir_guard

    check_output_dir(base["out"], "--out")
    from ramkit.models import resolve_name
    from ramkit.train.trainer import TrainConfig, fit

    if base.get("model"):
        resolve_name(str(base["model"]))
    cfg = TrainConfig.from_dict(base, where=str(config) if config else "options")
    with run_dir_guard(cfg.out):  # a failed train leaves no empty run folder
        run = fit(cfg)
    typer.echo(f"trained {task}: run directory {run}")


def _train_signature() -> inspect.Signature:
    from ramkit.tasks import list_tasks

    head = [
        inspect.Parameter(
            "task",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument(..., help="Task id: " + ", ".join(list_tasks()) + "."),
            annotation=str,
        ),
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, "--config", help="YAML file of TrainConfig keys."),
            annotation=Path | None,
        ),
        inspect.Parameter(
            "set_",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, "--set", help="key=value (YAML value) for any TrainConfig key; repeatable."),
            annotation=list[str] | None,
        ),
    ]
    return inspect.Signature(head + _train_options())


train_command.__signature__ = _train_signature()  # type: ignore[attr-defined]
train_command.__annotations__ = {p.name: p.annotation for p in train_command.__signature__.parameters.values()}  # type: ignore[attr-defined]


def test_command(
    run: Path = typer.Argument(..., help="Run directory written by `ramkit train`."),
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    split: str = typer.Option("test", "--split"),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default RUN/test_<split>)."),
    device: str = typer.Option("auto", "--device"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: the run's)."),
    convention: str | None = typer.Option(
        None, "--convention", help="Metric convention h1200 or w600 (default: the run's dataset's; docs/metrics.md)."
    ),
    amp: bool = typer.Option(False, "--amp", help="Use the run's autocast mode (default: fp32, as the papers)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Also write OUT/report.html and OUT/tables/."),
    allow_invalid_data: bool = typer.Option(
        False, "--allow-invalid-data", help="Test even when `ramkit check` finds errors (noted in the summary)."
    ),
) -> None:
    """Evaluate the selected model: predictions, per-case metrics, summary, confusion matrices, timing."""
    from ramkit.io.atomic import check_output_dir
    from ramkit.metrics.conventions import CONVENTIONS
    from ramkit.train.evaluate import run_test
    from ramkit.validate import check_device, check_threads

    check_device(device)
    check_threads(threads)
    if convention is not None and convention.lower() not in CONVENTIONS:
        from ramkit.errors import RamkitError

        raise RamkitError(f"--convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    check_output_dir(out if out is not None else run / f"test_{split}", "--out")
    s = run_test(
        run,
        data,
        split=split,
        out=out,
        device=device,
        threads=threads,
        convention=convention,
        amp=amp,
        allow_invalid_data=allow_invalid_data,
    )
    head = {k: v for k, v in s.items() if not isinstance(v, (dict, list))}
    t = s["timing"]
    typer.echo(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in head.items()))
    typer.echo(
        f"inference: median {t.get('median_ms', float('nan')):.1f} {t['unit']} "
        f"(IQR {t.get('iqr_ms', float('nan')):.1f}, n={t['n']})"
    )
    if report:
        from ramkit.report.build import write_report

        typer.echo(f"report: {write_report(out or Path(run) / f'test_{split}')}")


def predict_command(
    run: Path = typer.Argument(..., help="Run directory written by `ramkit train`."),
    images: list[Path] = typer.Argument(..., help="Images (or ROI crops for scoring tasks)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    device: str = typer.Option("auto", "--device"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: the run's)."),
    spacing: float | None = typer.Option(
        None,
        "--spacing",
        help="Pixel spacing (mm) the model was trained at; inputs are resampled to it. Default: the training "
        "data's Metadata.xlsx PixelSpacing, else the release spacing (0.175 hand, 0.15 wrist).",
    ),
    side: str | None = typer.Option(
        None, "--side", help="L or R for every image (default: DICOM laterality or the file name's _L/_R)."
    ),
    flip_left: bool | None = typer.Option(
        None,
        "--flip-left/--no-flip-left",
        help="Mirror left hands for the model (and the masks back). Default: yes, "
        "except for released RAM-H1200 images (JP_<Center>_P..._L.bmp), which are already in right-hand orientation.",
    ),
    joint_boxes: str | None = typer.Option(
        None,
        "--joint-boxes",
        help="MIL scheme-2 runs: joint-detection COCO file(s) of the release, comma-separated (BE and/or JSN).",
    ),
    input_spacing: float | None = typer.Option(
        None,
        "--input-spacing",
        help="Pixel spacing (mm) of the input files when they carry none (non-DICOM). Default: the release "
        "spacing of the run's dataset (0.175 hand, 0.15 wrist).",
    ),
    amp: bool = typer.Option(False, "--amp/--no-amp", help="bf16/fp16 autocast on CUDA (default: fp32)."),
) -> None:
    """Predict new images: masks (PNG, overlay PNG, .npy, COCO RLE JSON) or scores (CSV).

    Radiographs (BMP/PNG/TIFF 8/16-bit or DICOM) of left hands are mirrored to right-hand orientation for the model
    and the masks are mirrored back, so outputs always lie on the input file's grid.
    """
    from ramkit.io.atomic import check_output_dir
    from ramkit.train.evaluate import run_predict
    from ramkit.validate import check_device, check_threads

    check_device(device)
    check_threads(threads)
    check_output_dir(out, "--out")
    if side is not None and side.upper() not in ("L", "R"):
        from ramkit.errors import RamkitError

        raise RamkitError(f"--side must be L or R, got {side!r}")
    files = run_predict(
        run,
        [str(p) for p in images],
        out,
        device=device,
        threads=threads,
        spacing_mm=spacing,
        side=side.upper() if side else None,
        flip_left=flip_left,
        joint_boxes=joint_boxes,
        amp=amp,
        input_spacing_mm=input_spacing,
    )
    typer.echo(f"wrote {len(files)} files to {out}")


def bench_command(
    out: Path = typer.Argument(..., help="Output folder (synthetic data, runs, summaries)."),
    budget: str = typer.Option("cpu", "--budget", help="Training budget of every task: quick, cpu or paper (GPU)."),
    quick: bool = typer.Option(False, "--quick", help="Alias of --budget quick (tiny models, few epochs, 12 hands)."),
    hands: int | None = typer.Option(None, "--hands", help="Hands in the synthetic cohort."),
    epochs_scale: float = typer.Option(1.0, "--epochs-scale", help="Multiply every task's bench epochs."),
    tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated task ids (default: all)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    threads: int | None = typer.Option(
        None, "--threads", help="torch CPU threads (default: 2 when the CPU is idle, else 1)."
    ),
) -> None:
    """Synthetic cohort -> check -> brief training of every task -> test -> one summary table per task."""
    from ramkit.errors import RamkitError
    from ramkit.io.atomic import check_output_dir
    from ramkit.train.bench import run_bench
    from ramkit.validate import check_device, check_threads

    check_device(device)
    check_threads(threads)
    if not epochs_scale > 0:
        raise RamkitError(f"must be > 0, got {epochs_scale}", "--epochs-scale")
    check_output_dir(out)
    run_bench(
        out,
        budget="quick" if quick else budget,
        hands=hands,
        epochs_scale=epochs_scale,
        tasks=tasks.split(",") if tasks else None,
        seed=seed,
        device=device,
        threads=threads,
    )


def register(app: typer.Typer) -> None:
    """Register ``train``, ``test``, ``predict`` and ``bench``."""
    app.command("train")(train_command)
    app.command("test")(test_command)
    app.command("predict")(predict_command)
    app.command("bench")(bench_command)
