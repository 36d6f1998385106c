"""Write the synthetic example hands: two visits of one test-split patient of the bench cohort, at the real
release scale (1720×1280-class at 0.175 mm/px), with the release's file names (``JP_<Center>_P..._<L|R>``).

    python examples/make_synthetic.py            # -> examples/synthetic-hands/*.png  (deterministic)

The bench cohort is ``generate_cohort(hands=48, seed=0, size="medium")``; the same plan drawn at ``size="full"``
gives the same patients and disease at twice the linear resolution. The patient is in the test split, so the
bench models never saw it. Its true joint scores are written beside the images (``truth.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ramkit.io.images import write_gray
from ramkit.synth.cohort import _plan_hands, redraw_hand

HANDS, SEED = 48, 0


def main() -> int:
    out = Path(__file__).parent / "synthetic-hands"
    out.mkdir(parents=True, exist_ok=True)
    plan = _plan_hands(HANDS, SEED)
    pats = {}
    for h in plan:
        if h.split == "test":
            pats.setdefault(h.patient, []).append(h.index)
    patient = next(p for p, idx in sorted(pats.items()) if len(idx) >= 2)
    truth = {}
    for index in pats[patient][:2]:
        stem, split, d = redraw_hand(HANDS, SEED, index, size="full")
        write_gray(out / f"{stem}.png", d.image)
        truth[stem] = {"split": split, "spacing_mm": d.spacing_mm, "be": d.be_scores, "jsn": d.jsn_scores}
        print(stem, d.image.shape, d.spacing_mm)
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
