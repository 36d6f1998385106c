"""``ramkit export RUN --format onnx``: the run's selected model as ONNX (checked with ONNX Runtime) + model card."""

from __future__ import annotations

from pathlib import Path

import typer


def export_command(
    run: Path = typer.Argument(..., help="Run directory written by `ramkit train`."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    out: Path | None = typer.Option(None, "--out", help="Output file (default RUN/model.onnx)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
) -> None:
    """Export the selected model (dynamic batch axis), compare ONNX Runtime with PyTorch, refresh RUN/model_card.md."""
    import json

    from ramkit.errors import RamkitError
    from ramkit.export import export_run
    from ramkit.report.model_card import write_model_card

    if not (run / "best.json").is_file():
        raise RamkitError("not a ramkit run directory (no best.json)", run)
    res = export_run(run, out, fmt=fmt, opset=opset)
    summary = None
    test = run / "test_test" / "summary.json"
    if test.is_file():
        summary = json.loads(test.read_text(encoding="utf-8"))
    card = write_model_card(run, summary, export=res)
    typer.echo(
        f"wrote {res.path} (input {list(res.input_shape)} → output {list(res.output_shape)}, dynamic batch); "
        f"max |ONNX Runtime − PyTorch| = {res.max_abs_diff:.3g} on a batch of {res.check_batch}; model card {card}"
    )


def register(app: typer.Typer) -> None:
    """Register ``export``."""
    app.command("export")(export_command)
