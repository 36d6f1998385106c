"""The thin ``ramkit`` command. Each stage lives in ``ramkit.commands.<group>`` and registers itself here.

Every user error is one line on stderr (``ramkit: error: <path or option>: <problem>``) and exit status 2, never a
traceback: :class:`~ramkit.errors.RamkitError`, click usage errors and operating-system errors on a named file
(disk full, permission denied, ...). Anything else is a bug in ramkit: one line saying so (exit 1), and
``RAMKIT_DEBUG=1`` shows the traceback. SIGTERM is turned into a normal exit so temporary files are removed.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import typer

from ramkit.errors import RamkitError, install_one_line_warnings

app = typer.Typer(
    name="ramkit",
    help="Rheumatoid-arthritis analysis of hand and wrist radiographs (RAM-H1200, RAM-W600, MIL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Rheumatoid-arthritis analysis of hand and wrist radiographs (RAM-H1200, RAM-W600, MIL)."""


#: Command modules; each defines ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "ramkit.commands.synth",  # synth
    "ramkit.commands.data",  # check
    "ramkit.commands.evaluate",  # evaluate segmentation|scores
    "ramkit.commands.train",  # train, test, predict, bench
    "ramkit.commands.report",  # report
    "ramkit.commands.export",  # export
    "ramkit.commands.analyze",  # analyze
)

for _mod in COMMAND_MODULES:
    try:
        importlib.import_module(_mod).register(app)
    except ModuleNotFoundError as _exc:  # a module still being written must not break the others
        if _exc.name != _mod:
            raise


def _terminate(signum, frame) -> None:  # noqa: ARG001
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so atomic writers remove their temporaries


def _os_error_line(exc: OSError) -> str | None:
    """``<path>: <problem>`` for an operating-system error on a named file, else None."""
    if exc.filename is None:
        return None
    return f"{exc.filename}: {exc.strerror or type(exc).__name__}"


def main(argv: list[str] | None = None) -> None:
    install_one_line_warnings()
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not in the main thread (e.g. called from a test runner thread)
        pass
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except RamkitError as exc:
        print(f"ramkit: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ramkit: interrupted", file=sys.stderr)
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if os.environ.get("RAMKIT_DEBUG") == "1":
            raise
        line = _os_error_line(exc) if isinstance(exc, OSError) else None
        if line is not None:
            print(f"ramkit: error: {line}", file=sys.stderr)
            sys.exit(2)
        first = str(exc).strip().splitlines()
        print(
            f"ramkit: error: this is a bug in ramkit ({type(exc).__name__}: {first[0] if first else ''}); "
            "rerun with RAMKIT_DEBUG=1 to see the traceback and please report it",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
