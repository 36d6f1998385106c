"""``ramkit check ROOT``: validate a RAM-H1200 / RAM-W600 dataset folder and print a Table-9 style summary."""

from __future__ import annotations

from pathlib import Path

import typer


def dataset_roots(path: Path) -> list[Path]:
    """The dataset folders to check: ``path`` itself, or both datasets when ``path`` is a parent holding
    ``RAM-H1200-v1/`` and ``RAM-W600/`` (e.g. the output of ``ramkit synth``)."""
    from ramkit.io import h1200, w600

    both = [path / h1200.H1200_DIRNAME, path / w600.W600_DIRNAME]
    if all(p.is_dir() for p in both):
        return both
    return [path]


def check_command(
    root: Path = typer.Argument(..., help="Dataset folder (RAM-H1200-v1/ or RAM-W600/) or its parent."),
    json_out: Path | None = typer.Option(
        None,
        "--json",
        help="Also write the summary and problems as JSON (a {'reports': [...]} list when ROOT holds both datasets).",
    ),
) -> None:
    """Validate a dataset: collect every problem, print the summary and one line per problem.

    Exit status 0 when no ERROR was found (warnings allowed), 1 otherwise, 2 when ROOT is not a dataset.
    """
    from ramkit.check import check, print_report
    from ramkit.io.atomic import check_output_file, write_json

    if json_out is not None:
        check_output_file(json_out, "--json")
    reports = [check(r) for r in dataset_roots(root)]
    for rep in reports:
        print_report(rep)
    if json_out is not None:
        if len(reports) == 1:
            payload = reports[0].to_dict()
        else:
            payload = {"ok": all(r.ok for r in reports), "reports": [r.to_dict() for r in reports]}
        write_json(json_out, payload, indent=2)
    if not all(r.ok for r in reports):
        # SystemExit, not typer.Exit: click in standalone_mode=False turns Exit into a return value
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Register the ``check`` command."""
    app.command("check")(check_command)
