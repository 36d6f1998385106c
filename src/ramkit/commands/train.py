"""``ramkit train | test | predict | bench``: train a benchmark task, evaluate a run, predict new images, and the
CPU benchmark of every task on a synthetic cohort."""

from __future__ import annotations

from pathlib import Path

import typer


def train_command(
    task: str = typer.Argument(
        ..., help="Task id: hand-bone-seg, hand-be-seg, hand-be-score, hand-jsn-score, wrist-bone-seg, wrist-be-cls."
    ),
    data: Path | None = typer.Option(None, "--data", help="Dataset root (RAM-H1200-v1/ or RAM-W600/ or parent)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (created; an existing run is resumed)."),
    model: str | None = typer.Option(None, "--model", help="Model name (see docs/training.md); task default."),
    model_size: str | None = typer.Option(None, "--model-size", help="base (paper) or tiny (CPU smoke runs)."),
    epochs: int | None = typer.Option(None, "--epochs"),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    patch_size: int | None = typer.Option(None, "--patch-size", help="Patch / input side in pixels."),
    patches_per_image: int | None = typer.Option(None, "--patches-per-image"),
    fg_ratio: float | None = typer.Option(
        None, "--fg-ratio", help="Patch tasks: share of patches placed on foreground / lesion pixels."
    ),
    pos_image_ratio: float | None = typer.Option(
        None, "--pos-image-ratio", help="Patch tasks: share of patches drawn from images with foreground (lesions)."
    ),
    fg_class_weight: float | None = typer.Option(
        None, "--fg-class-weight", help="BE segmentation: cross-entropy weight of the lesion classes (background 1)."
    ),
    lr: float | None = typer.Option(None, "--lr"),
    weight_decay: float | None = typer.Option(None, "--weight-decay"),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience (0 = off)."),
    input_scale: float | None = typer.Option(
        None, "--input-scale", help="Patch tasks: resample images by this factor (scored at full res)."
    ),
    warmup_epochs: int | None = typer.Option(
        None, "--warmup-epochs", help="Linear LR warm-up epochs before the cosine (default 0)."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or auto."),
    amp: str | None = typer.Option(None, "--amp", help="auto, bf16, fp16 or none."),
    seed: int | None = typer.Option(None, "--seed"),
    config: Path | None = typer.Option(None, "--config", help="YAML file with any of these options."),
    weights: Path | None = typer.Option(None, "--weights", help="Start from a user safetensors file."),
    be_protocol: str | None = typer.Option(None, "--be-protocol", help="svdh90 (default) or 3class."),
    ordinal: str | None = typer.Option(None, "--ordinal", help="independent (paper) or coral."),
    ordinal_pos_weight: bool | None = typer.Option(
        None, "--ordinal-pos-weight/--no-ordinal-pos-weight", help="Per-threshold pos_weight #neg/#pos (scoring)."
    ),
    num_workers: int | None = typer.Option(None, "--num-workers"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop after this wall-clock budget."),
) -> None:
    """Train a model for a benchmark task; the resolved configuration is saved to OUT/config.yaml."""
    from ramkit.errors import RamkitError
    from ramkit.tasks import get

    get(task)  # unknown task -> one line, before the heavy imports
    base: dict = {}
    if config is not None:
        import yaml

        if not config.is_file():
            raise RamkitError("configuration file not found", config)
        try:
            base = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise RamkitError(f"invalid YAML ({str(exc).splitlines()[0]})", config) from None
        if not isinstance(base, dict):
            raise RamkitError("expected a mapping of option: value", config)
        base = {k.replace("-", "_"): v for k, v in base.items()}
    flags = dict(
        data=data,
        out=out,
        model=model,
        model_size=model_size,
        epochs=epochs,
        batch_size=batch_size,
        patch_size=patch_size,
        patches_per_image=patches_per_image,
        fg_ratio=fg_ratio,
        pos_image_ratio=pos_image_ratio,
        fg_class_weight=fg_class_weight,
        lr=lr,
        weight_decay=weight_decay,
        patience=patience,
        input_scale=input_scale,
        warmup_epochs=warmup_epochs,
        device=device,
        amp=amp,
        seed=seed,
        weights=weights,
        be_protocol=be_protocol,
        ordinal=ordinal,
        ordinal_pos_weight=ordinal_pos_weight,
        num_workers=num_workers,
        threads=threads,
        max_minutes=max_minutes,
    )
    base.update({k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None})
    base["task"] = task
    for req in ("data", "out"):
        if not base.get(req):
            raise RamkitError(f"--{req} is required (on the command line or in --config)")
    from ramkit.models import resolve_name
    from ramkit.train.trainer import TrainConfig, fit

    if base.get("model"):
        resolve_name(str(base["model"]))
    cfg = TrainConfig.from_dict(base, where=str(config) if config else "options")
    run = fit(cfg)
    typer.echo(f"trained {task}: run directory {run}")


def test_command(
    run: Path = typer.Argument(..., help="Run directory written by `ramkit train`."),
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    split: str = typer.Option("test", "--split"),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default RUN/test_<split>)."),
    device: str = typer.Option("auto", "--device"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: the run's)."),
) -> None:
    """Evaluate the selected model: predictions, per-case metrics, summary, confusion matrices, timing."""
    from ramkit.train.evaluate import run_test

    s = run_test(run, data, split=split, out=out, device=device, threads=threads)
    head = {k: v for k, v in s.items() if not isinstance(v, dict)}
    t = s["timing"]
    typer.echo(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in head.items()))
    typer.echo(
        f"inference: median {t.get('median_ms', float('nan')):.1f} {t['unit']} "
        f"(IQR {t.get('iqr_ms', float('nan')):.1f}, n={t['n']})"
    )


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
    from ramkit.train.evaluate import run_predict

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
        amp=amp,
        input_spacing_mm=input_spacing,
    )
    typer.echo(f"wrote {len(files)} files to {out}")


def bench_command(
    out: Path = typer.Argument(..., help="Output folder (synthetic data, runs, summaries)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny models, few epochs (about 3 minutes on 2 cores)."),
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
    from ramkit.train.bench import run_bench

    run_bench(
        out,
        quick=quick,
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
