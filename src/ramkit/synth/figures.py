"""Figures of docs/synthetic.md: a synthetic hand with its mask overlay (``synthetic_hand_overlay.png``) and
finger joints at full resolution, healthy beside severe (``synthetic_fingers.png``).

``python -m ramkit.synth.figures OUT_DIR`` (matplotlib, headless). The real-vs-synthetic wrist montage is
measured and written by ``benchmarks/realism.py --montage``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ramkit import anatomy


def make_figures(out_dir: str | Path, real_wrist: str | Path | None = None, seed: int = 0) -> list[Path]:
    """Write ``synthetic_hand_overlay.png`` (``real_wrist`` is no longer accepted: see benchmarks/realism.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ramkit.synth.geometry import draw_anatomy
    from ramkit.synth.phantom import draw_hand

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    anat = draw_anatomy(np.random.default_rng([seed, 1]), severity=0.7)
    if real_wrist is not None:  # the real-vs-synthetic figure is the measured montage of benchmarks/realism.py
        raise ValueError("the real-vs-synthetic montage is written by benchmarks/realism.py --montage")
    hand = draw_hand(np.random.default_rng([seed, 3]), anat, size="full", width_jitter=False)
    fig, ax = plt.subplots(1, 2, figsize=(12, 8.5))
    ax[0].imshow(hand.image, cmap="gray", vmin=0, vmax=255)
    ax[0].set_title("synthetic hand (1720x1280, 0.175 mm/px)")
    ov = np.zeros(hand.image.shape + (4,), np.float32)
    cmap = plt.get_cmap("tab20")
    for k, name in enumerate(anatomy.HAND_BONES):
        if name != "SoftTissue":
            ov[hand.bones[k] > 0] = (*cmap(k % 20)[:3], 0.45)
    colours = {"SvdH-BE-90": (1, 0, 0, 1), "SvdH-BE-50": (1, 0.6, 0, 1), "Non-SvdH-BE": (1, 1, 0, 1)}
    for k, cat in enumerate(anatomy.BE_CATEGORIES):
        ov[hand.be[k] > 0] = colours[cat]
    ax[1].imshow(hand.image, cmap="gray", vmin=0, vmax=255)
    ax[1].imshow(ov)
    for x, y, w, h in hand.jsn_boxes.values():
        ax[1].add_patch(plt.Rectangle((x, y), w, h, fill=False, ec="cyan", lw=0.7))
    ax[1].set_title("bone masks, lesions (red 90 / orange 50 / yellow non-SvdH), JSN boxes")
    for a in ax:
        a.axis("off")
    fig.tight_layout()
    p = out_dir / "synthetic_hand_overlay.png"
    fig.savefig(p, dpi=70)
    plt.close(fig)
    written.append(p)
    written.append(_finger_figure(out_dir, seed, plt))
    return written


def _finger_figure(out_dir: Path, seed: int, plt) -> Path:
    """MCP-PIP-DIP region of the index to little fingers of a healthy and a severe hand, full size, unscaled."""
    from ramkit.synth.geometry import draw_anatomy
    from ramkit.synth.phantom import draw_hand

    fig, ax = plt.subplots(1, 2, figsize=(12, 8))
    for a, sev in zip(ax, (0.0, 0.95), strict=True):
        anat = draw_anatomy(np.random.default_rng([seed, 4]), severity=sev)
        hand = draw_hand(np.random.default_rng([seed, 5]), anat, size="full", width_jitter=False, objects=False)
        x0, y0, _, _ = hand.jsn_boxes["MCP-I"]
        x1, _, w1, h1 = hand.jsn_boxes["MCP-S"]
        _, y2, _, _ = hand.jsn_boxes["PIP-M"]
        r0, r1 = max(y2 - 260, 0), max(y0, hand.jsn_boxes["MCP-S"][1]) + h1 + 40
        c0, c1 = max(min(x0, x1) - 60, 0), max(x0, x1) + w1 + 60
        a.imshow(hand.image[r0:r1, c0:c1], cmap="gray", vmin=0, vmax=255)
        shown = [k for k in hand.jsn_scores if k.startswith(("MCP-", "PIP-")) and k[-1] != "T"]
        jsn = " ".join(f"{k}:{hand.jsn_scores[k]}" for k in shown)
        a.set_title(f"severity {sev}: JSN {jsn}", fontsize=8)
        a.axis("off")
    fig.tight_layout()
    p = out_dir / "synthetic_fingers.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


if __name__ == "__main__":
    print(make_figures(sys.argv[1]))
