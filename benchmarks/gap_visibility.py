"""JSN gap visibility proxy on synthetic hands: the grey-level dip across the MCP-I..S and PIP joint gaps by score.

Run: ``python benchmarks/gap_visibility.py [--hands 24] [--size medium]``. For each joint, the image (Gaussian
0.5 px) is sampled every 0.25 mm along the axis from the proximal to the distal bone's mask centroid in the JSN
box, through the box centre; dip = mean of the profile outside ±1 mm minus its minimum within ±1 mm. Prints the
mean dip per JSN score and the AUCs of "score 0 dips deeper than score >= 3" and "... than scores 1-2".
Not a trained model: a check that narrowed gaps still look narrower at the given size.
"""

from __future__ import annotations

import argparse
import os
from itertools import product

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _auc(pos, neg) -> float:
    import numpy as np

    if not (len(pos) and len(neg)):
        return float("nan")
    return float(np.mean([(p > n) + 0.5 * (p == n) for p, n in product(pos, neg)]))


def _dips(hands: int, size: str) -> list[tuple[str, int, float]]:
    import numpy as np
    from scipy import ndimage

    from ramkit import anatomy
    from ramkit.synth.geometry import draw_anatomy
    from ramkit.synth.phantom import draw_hand

    rows = []
    for seed in range(hands):
        rng = np.random.default_rng([seed, 55])
        d = draw_hand(rng, draw_anatomy(rng), size=size, objects=False)
        img = ndimage.gaussian_filter(d.image.astype(float), 0.5)
        for stem, (x, y, w, h) in d.jsn_boxes.items():
            if not stem.startswith(("MCP-", "PIP-")) or stem == "MCP-T":
                continue
            f = "TIMRS".index(stem[-1]) + 1
            pb, db = (f"MC{f}", f"PP{f}") if stem.startswith("MCP") else (f"PP{f}", f"MP{f}")
            P = d.bones[anatomy.HAND_BONES.index(pb)][y : y + h, x : x + w]
            D = d.bones[anatomy.HAND_BONES.index(db)][y : y + h, x : x + w]
            if P.sum() < 5 or D.sum() < 5:
                continue
            u = np.array(ndimage.center_of_mass(D)) - np.array(ndimage.center_of_mass(P))
            u /= np.linalg.norm(u)
            c = np.array([y + h / 2, x + w / 2])
            t = np.arange(-4.0, 4.0, 0.25) / d.spacing_mm
            prof = ndimage.map_coordinates(img, (c[0] + t * u[0], c[1] + t * u[1]), order=1)
            mid, k = len(t) // 2, 4
            dip = 0.5 * (prof[: mid - k].mean() + prof[mid + k :].mean()) - prof[mid - k : mid + k].min()
            rows.append((stem[:3], d.jsn_scores[stem], float(dip)))
    return rows


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hands", type=int, default=24)
    ap.add_argument("--size", default="medium")
    a = ap.parse_args()
    rows = _dips(a.hands, a.size)
    for kind in ("MCP", "PIP"):
        s = np.array([sc for k, sc, _ in rows if k == kind])
        dp = np.array([v for k, _, v in rows if k == kind])
        by = {int(k): round(float(dp[s == k].mean()), 1) for k in np.unique(s)}
        print(
            f"{kind} n {len(s)} mean dip by score {by}  AUC 0 vs >=3: {_auc(dp[s == 0], dp[s >= 3]):.2f}"
            f"  0 vs 1-2: {_auc(dp[s == 0], dp[(s >= 1) & (s <= 2)]):.2f}"
        )


if __name__ == "__main__":
    main()
