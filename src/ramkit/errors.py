"""User-facing errors and warnings: one clear line naming the file and the problem, never a traceback.

Raise :class:`RamkitError` for anything a user can fix (bad file, bad flag, wrong layout). The CLI prints
``ramkit: error: <message>`` and exits with status 2. Use :func:`warn` where data stays usable.
"""

from __future__ import annotations

import os
import sys
import warnings


class RamkitError(Exception):
    """An error caused by user input; its message is one line that names the file and the problem."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        if path is not None:
            message = f"{os.fspath(path)}: {message}"
        super().__init__(message)


class RamkitWarning(UserWarning):
    """A problem in the input that leaves the data usable."""


def warn(message: str, path: str | os.PathLike | None = None) -> None:
    """Issue a one-line :class:`RamkitWarning` (``path: message``)."""
    if path is not None:
        message = f"{os.fspath(path)}: {message}"
    warnings.warn(message, RamkitWarning, stacklevel=2)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
    stream = file or sys.stderr
    kind = "warning" if issubclass(category, RamkitWarning) else category.__name__
    try:
        stream.write(f"ramkit: {kind}: {message}\n")
    except OSError:
        pass


def install_one_line_warnings() -> None:
    """Print warnings as ``ramkit: warning: ...`` lines (used by the CLI)."""
    warnings.showwarning = _one_line_warning
