"""``ramkit report``: the stage that turns test folders into ``report.html`` and ``tables/*.md|csv``.

Inputs (documented files only, nnU-Net style, so the stage can run alone on an old bench folder):

* ``OUT/runs/<task>/test_test/`` (what ``ramkit bench`` leaves; any ``test_<split>`` if no test split), or
  ``OUT`` itself when it is one ``ramkit test`` output folder (it has ``summary.json``);
* in each test folder ``summary.json``, ``per_case.csv``, ``table.csv``, ``confusion.csv``/``confusion.png``,
  ``correlations.csv``, ``erosive_split.csv`` (see :mod:`ramkit.report.extras`);
* the run directory named by ``summary.json`` (``run``) or the test folder's parent: ``best.json`` for the
  training configuration, whose ``data`` path tells where the model's data came from;
* ``OUT/summary/<task>.csv`` of a bench (training wall-clock), if present.

Outputs: ``OUT/report.html`` (self-contained: inline CSS, PNGs as base64, no network) and ``OUT/tables/<id>.md``
and ``.csv`` per table (see ``docs/report.md``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ramkit.errors import RamkitError
from ramkit.io.atomic import write_text
from ramkit.report.tables import TestResult, all_tables, read_test, write_tables

REPORT_FILE = "report.html"
TABLES_DIR = "tables"


def find_tests(out: Path) -> list[Path]:
    """Test folders under ``out`` in task order (see the module doc)."""
    from ramkit.tasks import TASKS

    if (out / "summary.json").is_file():
        return [out]
    found = []
    runs = out / "runs"
    for task in TASKS:
        run = runs / task
        cands = [run / "test_test"] + sorted(run.glob("test_*"))
        hit = next((c for c in cands if (c / "summary.json").is_file()), None)
        if hit is not None:
            found.append(hit)
    return found


def _run_dir(folder: Path, summary: dict) -> Path | None:
    for cand in (summary.get("run"), folder.parent):
        if cand and (Path(cand) / "best.json").is_file():
            return Path(cand)
    return None


def dataset_label(cfg: dict, split: str) -> str:
    """``ramkit, synthetic medium cohort (seed 0), test split`` or ``ramkit, <dataset description>, ...``."""
    from ramkit.report.model_card import dataset_provenance

    prov = dataset_provenance(cfg.get("data", "")) if cfg.get("data") else {"synthetic": None, "description": None}
    desc = prov.get("description") or ""
    if prov.get("synthetic"):
        m = re.search(r"seed (\d+), size (\w+)", desc)
        what = f"synthetic {m.group(2)} cohort (seed {m.group(1)})" if m else "synthetic cohort"
    elif prov.get("layout"):
        what = {"h1200": "RAM-H1200", "w600": "RAM-W600"}[str(prov["layout"])] + " data"
    else:
        what = f"data {Path(str(cfg.get('data', '?'))).name}"
    return f"ramkit, {what}, {split} split"


def load_results(out: Path, tests: list[Path] | None = None) -> list[TestResult]:
    """Read every test folder (``tests`` or :func:`find_tests`) with its dataset label and device."""
    folders = tests if tests is not None else find_tests(out)
    results = []
    for f in folders:
        f = Path(f)
        if not (f / "summary.json").is_file():
            raise RamkitError("not a `ramkit test` output folder (no summary.json)", f)
        try:
            summary = json.loads((f / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RamkitError(f"cannot read summary ({exc})", f / "summary.json") from None
        run = _run_dir(f, summary)
        cfg = json.loads((run / "best.json").read_text(encoding="utf-8")).get("config", {}) if run else {}
        device = str(cfg.get("device", "?"))
        if cfg.get("threads") and device == "cpu":
            device += f", {cfg['threads']} thread(s)"
        res = read_test(f, dataset_label(cfg, summary.get("split", "?")), device)
        res.extra["cfg"] = cfg
        bench_row = out / "summary" / f"{summary['task']}.csv"
        if bench_row.is_file():
            import pandas as pd

            res.extra["bench"] = pd.read_csv(bench_row).iloc[0].to_dict()
        results.append(res)
    return results


def write_report(out: str | os.PathLike, tests: list[Path] | None = None) -> Path:
    """Write ``out/report.html`` and ``out/tables/``; returns the HTML path."""
    from ramkit.report.html import render

    out = Path(out)
    results = load_results(out, tests)
    if not results:
        raise RamkitError("no `ramkit test` results found (expected runs/<task>/test_test/summary.json)", out)
    tables = all_tables(results)
    write_tables(tables, out / TABLES_DIR)
    html = render(results, tables, out)
    write_text(out / REPORT_FILE, html)
    return out / REPORT_FILE


__all__ = ["write_report", "load_results", "find_tests", "dataset_label", "REPORT_FILE", "TABLES_DIR"]
