#!/usr/bin/env python3
"""Run mypy on src/ and compare per-file error counts with the committed baseline ``mypy-baseline.txt``.

The baseline may only shrink:
- a file with more errors than its baseline count (or a file not in the baseline with any error) fails, and its
  errors are printed;
- a file with fewer errors than its baseline count also fails until the baseline is lowered
  (``python scripts/mypy_baseline.py --update``), so fixed errors cannot silently come back.

Usage: python scripts/mypy_baseline.py [--update] [--baseline FILE]   (exit 0 = matches the baseline)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ERROR = re.compile(r"^(?P<path>[^:\s]+\.pyi?):\d+(?::\d+)?: error: ")


def run_mypy() -> tuple[Counter, dict[str, list[str]], str]:
    """Per-file error counts, the error lines per file, and mypy's whole output (config from pyproject.toml)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty", "--show-error-codes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    counts: Counter = Counter()
    lines: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        m = ERROR.match(line)
        if m:
            path = m["path"].replace("\\", "/")
            counts[path] += 1
            lines.setdefault(path, []).append(line)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not counts):
        sys.exit(f"mypy_baseline: mypy failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return counts, lines, proc.stdout


def read_baseline(path: Path) -> Counter:
    out: Counter = Counter()
    if not path.is_file():
        return out
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            sys.exit(f"mypy_baseline: {path}:{i}: expected '<file> <error count>', got {raw!r}")
        out[parts[0]] = int(parts[1])
    return out


def write_baseline(path: Path, counts: Counter) -> None:
    header = (
        "# mypy errors per file that CI tolerates (scripts/mypy_baseline.py). It may only shrink: fix errors and\n"
        "# lower the count with `python scripts/mypy_baseline.py --update`; new errors fail CI.\n"
    )
    body = "".join(f"{f} {n}\n" for f, n in sorted(counts.items()) if n)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the baseline with the current counts")
    ap.add_argument("--baseline", type=Path, default=ROOT / "mypy-baseline.txt")
    args = ap.parse_args(argv)
    counts, lines, _ = run_mypy()
    baseline = read_baseline(args.baseline)
    if args.update:
        grown = sorted(f for f in counts if counts[f] > baseline.get(f, 0))
        write_baseline(args.baseline, counts)
        for f in grown:
            print(f"mypy_baseline: warning: {f} grows from {baseline.get(f, 0)} to {counts[f]} errors")
        print(f"mypy_baseline: wrote {args.baseline.name}: {sum(counts.values())} errors in {len(counts)} files")
        return 0
    worse = sorted(f for f in counts if counts[f] > baseline.get(f, 0))
    better = sorted(f for f in baseline if counts.get(f, 0) < baseline[f])
    for f in worse:
        print(f"mypy_baseline: {f}: {counts[f]} errors, baseline {baseline.get(f, 0)} (new errors):")
        for line in lines[f]:
            print("  " + line)
    for f in better:
        print(f"mypy_baseline: {f}: {counts.get(f, 0)} errors, baseline {baseline[f]}: lower the baseline "
              "(python scripts/mypy_baseline.py --update)")  # fmt: skip
    if worse or better:
        return 1
    print(f"mypy_baseline: ok ({sum(counts.values())} known errors in {len(counts)} files, none new)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
