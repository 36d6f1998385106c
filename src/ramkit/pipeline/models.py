"""Which trained run serves which stage of ``ramkit analyze``.

``--models DIR`` is a ``ramkit bench`` output (``DIR/runs/<task>/``) or a folder of run directories (each with
``best.json``; the task is read from it); ``--model TASK=RUN`` pairs add or override. A stage whose run is
missing is skipped with one line (``ramkit: warning: ...``), never an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ramkit.errors import RamkitError
from ramkit.tasks import get as get_task
from ramkit.tasks import list_tasks


def _task_of(run: Path) -> str | None:
    meta = run / "best.json"
    if not meta.is_file():
        return None
    try:
        task = json.loads(meta.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError):
        return None
    return task if task in list_tasks() else None


def find_runs(models: str | os.PathLike | None = None, pairs: list[str] | None = None) -> dict[str, Path]:
    """``{task_id: run_dir}`` from a bench folder / folder of runs and ``TASK=RUN`` pairs."""
    runs: dict[str, Path] = {}
    if models is not None:
        root = Path(models)
        if not root.is_dir():
            raise RamkitError("--models folder not found", root)
        candidates = [root] if (root / "best.json").is_file() else []
        for base in (root / "runs", root):
            if base.is_dir():
                candidates += sorted(p for p in base.iterdir() if p.is_dir())
        for c in candidates:
            task = _task_of(c)
            if task and task not in runs:
                runs[task] = c
        if not runs:
            raise RamkitError("no trained runs found (expected RUN/best.json or runs/<task>/best.json)", root)
    for pair in pairs or []:
        if "=" not in pair:
            raise RamkitError(f"--model expects TASK=RUN, got {pair!r}")
        task, run = pair.split("=", 1)
        get_task(task)  # unknown task -> one line
        run_dir = Path(run)
        if not (run_dir / "best.json").is_file():
            raise RamkitError("not a trained run (best.json missing)", run_dir)
        found = _task_of(run_dir)
        if found != task:
            raise RamkitError(f"run trained task {found!r}, not {task!r}", run_dir)
        runs[task] = run_dir
    return runs
