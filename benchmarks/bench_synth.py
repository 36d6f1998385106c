"""Synthetic cohort speed: hands/s and wrists/s at small, medium and full size (one process, one thread).

Run: ``python benchmarks/bench_synth.py [--small 24] [--medium 12] [--full 4]``.
Prints a table; writes nothing permanent.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("RAMKIT_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    from ramkit.synth import generate_cohort

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", type=int, default=24, help="hands (and wrists) at small size")
    ap.add_argument("--medium", type=int, default=12, help="hands (and wrists) at medium size")
    ap.add_argument("--full", type=int, default=4, help="hands (and wrists) at full size")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rows = []
    for size, n in (("small", a.small), ("medium", a.medium), ("full", a.full)):
        if n < 3:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            info = generate_cohort(tmp, hands=n, seed=a.seed, size=size, progress=False, wrists=n)
            total = time.perf_counter() - t0
        sec = info["seconds"]
        rows.append((size, n, sec["h1200"], n / sec["h1200"], sec["w600"], n / sec["w600"], total))
    print(f"{'size':<6} {'n':>4} {'hands s':>8} {'hands/s':>8} {'wrists s':>9} {'wrists/s':>9} {'total s':>8}")
    for r in rows:
        print(f"{r[0]:<6} {r[1]:>4} {r[2]:>8.2f} {r[3]:>8.2f} {r[4]:>9.2f} {r[5]:>9.2f} {r[6]:>8.2f}")


if __name__ == "__main__":
    main()
