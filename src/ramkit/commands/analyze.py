"""``ramkit analyze INPUTS... --models DIR --out DIR``: per-joint SvdH scores, erosion areas, totals and a report."""

from __future__ import annotations

from pathlib import Path

import typer


def analyze_command(
    inputs: list[Path] = typer.Argument(..., help="Radiographs (BMP/PNG/TIFF/DICOM) or folders of them."),
    out: Path = typer.Option(..., "--out", help="Output folder (result.json + overlay per input, CSV, report)."),
    models: Path | None = typer.Option(
        None, "--models", help="A `ramkit bench` output (runs/<task>/) or a folder of run directories."
    ),
    model: list[str] = typer.Option([], "--model", help="TASK=RUN (repeatable; adds to or overrides --models)."),
    anatomy_hint: str | None = typer.Option(
        None, "--anatomy", help="hand or wrist for every input (default: decided from the image)."
    ),
    spacing: float | None = typer.Option(
        None, "--input-spacing", help="Pixel spacing (mm) of inputs without one (default: the release spacing)."
    ),
    side: str | None = typer.Option(None, "--side", help="L or R for every input (default: DICOM/file name)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    amp: bool = typer.Option(False, "--amp/--no-amp", help="bf16/fp16 autocast on CUDA (default fp32)."),
    workers: int = typer.Option(1, "--workers", help="Processes (each takes every N-th input)."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads per process."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Skip inputs whose result is current."),
) -> int:
    """Analyse radiographs: bones -> joints -> BE/JSN scores -> erosion areas -> totals -> overlays and a report.

    Exit status 0 when every input was analysed, 1 when some failed (each has a row with its `error` in
    results.csv), 2 for a usage error.
    """
    from ramkit.errors import RamkitError
    from ramkit.pipeline.analyze import analyze
    from ramkit.pipeline.models import find_runs

    if models is None and not model:
        raise RamkitError("give --models DIR or --model TASK=RUN")
    if side is not None and side.upper() not in ("L", "R"):
        raise RamkitError(f"--side must be L or R, got {side!r}")
    if workers < 1:
        raise RamkitError(f"--workers must be >= 1, got {workers}")
    runs = find_runs(models, model)
    s = analyze(
        [str(p) for p in inputs],
        out,
        runs,
        anatomy_hint=anatomy_hint,
        device=device,
        amp=amp,
        spacing_mm=spacing,
        side=side.upper() if side else None,
        workers=workers,
        threads=threads,
        resume=resume,
    )
    if s["report"] is None:  # a torchrun rank other than 0
        return 0
    typer.echo(f"analysed {s['n'] - s['failed']} of {s['n']} radiograph(s); report: {s['report']}")
    return 1 if s["failed"] else 0


def register(app: typer.Typer) -> None:
    """Register ``analyze``."""
    app.command("analyze")(analyze_command)
