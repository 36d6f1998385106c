"""``ramkit report OUT``: rebuild ``OUT/report.html`` and ``OUT/tables/`` from the test folders under OUT."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    out: Path = typer.Argument(
        ..., help="A `ramkit bench` output folder (runs/<task>/test_test/) or one `ramkit test` output folder."
    ),
) -> None:
    """Write OUT/report.html (self-contained) and OUT/tables/*.md|csv: the papers' tables beside ramkit's rows."""
    from ramkit.errors import RamkitError
    from ramkit.report.build import write_report

    if not out.is_dir():
        raise RamkitError("folder not found", out)
    path = write_report(out)
    typer.echo(f"wrote {path} and {path.parent / 'tables'}")


def register(app: typer.Typer) -> None:
    """Register ``report``."""
    app.command("report")(report_command)
