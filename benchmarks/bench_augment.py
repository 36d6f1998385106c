"""Cost of the training augmentation (``ramkit.train.data.augment``) per sample, on one CPU thread.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_augment.py [--calls 500] [--forced]

Times ``augment(img, target, rng)`` with the default augmentation on a 1×128×128 and a 1×64×64 float image in
[0, 1] (with and without a 3×H×W mask target), averaged over ``--calls`` calls after 20 warm-up calls; each call
gets its own generator, as ``TaskDataset`` does. ``--forced`` also times every transform applied (all
probabilities 1): the worst case of one sample.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _time(fn, calls: int) -> float:
    for i in range(20):
        fn(np.random.default_rng([1, i]))
    t0 = time.perf_counter()
    for i in range(calls):
        fn(np.random.default_rng([0, i]))
    return (time.perf_counter() - t0) / calls * 1e3


def main(argv=None) -> dict:
    from ramkit.train.data import augment

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--forced", action="store_true", help="also time every transform applied (probability 1)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    variants: dict[str, dict] = {"default": {}}
    if a.forced:
        from ramkit.train.data import DEFAULT_AUGMENTATION

        variants["forced"] = {"aug": DEFAULT_AUGMENTATION.with_probability(1.0)}
    out = {}
    for side in (128, 64):
        g = torch.Generator().manual_seed(side)
        img = torch.rand(1, side, side, generator=g)
        masks = (torch.rand(3, side, side, generator=g) > 0.5).float()
        for name, kw in variants.items():
            for tname, tgt in (("image", None), ("image+mask", masks)):
                ms = _time(lambda rng, x=img, t=tgt, k=kw: augment(x, t, rng, **k), a.calls)
                out[f"{side}x{side} {tname} {name}"] = round(ms, 3)
    for k, v in out.items():
        print(f"{k:32s} {v:8.3f} ms/call")
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
