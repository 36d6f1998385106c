"""Write outputs atomically: to a temporary path beside the target, renamed into place on success.

Nothing half-written is ever left under the final name: if the block raises (any exception, Ctrl-C, SIGTERM via
the CLI's handler), the temporary file or directory is removed and the target is untouched. A process killed
with SIGKILL can leave a temporary (``.<name>.<random>.tmp[.<suffix>]``); :func:`sweep_temp` removes those and
every command that writes into a folder sweeps it first. Files and folders get the usual permissions
(``0666``/``0777`` minus the umask, i.e. 0644/0755), not ``mkstemp``'s private 0600.

:func:`check_output_dir` / :func:`check_output_file` validate an output path **before** any work: an existing
file where a folder is wanted (or the reverse), a parent that is a file, or a parent that cannot be written
give one :class:`RamkitError` line naming the path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ramkit.errors import RamkitError


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK
#: names of the temporaries this module (and the checkpoint writer) creates
TEMP_RE = re.compile(r"^\..+\.(tmp(\.[A-Za-z0-9]+)?|old)$")


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``target``; rename it to ``target`` when the block succeeds."""
    target = Path(target)
    _mkdir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, FILE_MODE)
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RamkitError("exists and is not a folder", path) from None
    except OSError as exc:
        raise RamkitError(f"cannot create folder ({exc.strerror or exc})", path) from None


@contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; move it to ``target`` when the block succeeds.

    An existing ``target`` is replaced only after the new content is complete (``overwrite=True``).
    """
    target = Path(target)
    _mkdir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, DIR_MODE)
        if target.exists():
            if not overwrite:
                raise FileExistsError(target)
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_temp(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed process left directly in ``folder`` (see ``TEMP_RE``); returns them."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if TEMP_RE.match(p.name):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path, target: Path) -> None:
    try:
        probe = tempfile.mkdtemp(prefix=".ramkit-probe-", dir=folder)
    except OSError as exc:
        raise RamkitError(f"cannot create files in {folder} ({exc.strerror or exc})", target) from None
    os.rmdir(probe)


def check_output_dir(path: str | os.PathLike, option: str | None = None) -> Path:
    """Validate ``path`` as an output folder before any work (it need not exist); returns it.

    Errors (one line naming the path, or ``option`` when given): an existing non-folder, a parent that is a
    file, an unwritable folder or parent. Temporaries left by a killed earlier run in ``path`` are swept.
    """
    path = Path(path)
    where = f"{option} {path}" if option else path
    if os.path.lexists(path) and not path.is_dir():
        raise RamkitError("exists and is not a folder", where)
    base = _nearest_existing(path)
    if not base.is_dir():
        raise RamkitError(f"cannot create a folder here: {base} is a file", where)
    _probe_writable(base, where)  # type: ignore[arg-type]
    if path.is_dir():
        sweep_temp(path)
    return path


def check_output_file(path: str | os.PathLike, option: str | None = None) -> Path:
    """Validate ``path`` as an output file before any work (it need not exist); returns it."""
    path = Path(path)
    where = f"{option} {path}" if option else path
    if path.is_dir():
        raise RamkitError("is a folder, expected a file name", where)
    if os.path.lexists(path) and not path.is_file():
        raise RamkitError("exists and is not a regular file", where)
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise RamkitError(f"cannot create a file here: {base} is a file", where)
    _probe_writable(base, where)  # type: ignore[arg-type]
    return path


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    write_text(target, json.dumps(obj, indent=indent))


def write_csv(target: str | os.PathLike, df, index: bool = False) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(target) as tmp:
        df.to_csv(tmp, index=index)
