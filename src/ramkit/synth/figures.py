"""Figures of docs/synthetic.md: synthetic vs real wrist (with histograms) and a hand with its mask overlay.

``python -m ramkit.synth.figures OUT_DIR [REAL_WRIST_PNG]`` (matplotlib, headless).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ramkit import anatomy


def make_figures(out_dir: str | Path, real_wrist: str | Path | None = None, seed: int = 0) -> list[Path]:
    """Write ``synthetic_vs_real_wrist.png`` (when a real wrist is given) and ``synthetic_hand_overlay.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ramkit.synth.geometry import draw_anatomy
    from ramkit.synth.phantom import draw_hand

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    anat = draw_anatomy(np.random.default_rng([seed, 1]), severity=0.7)
    wrist = draw_hand(np.random.default_rng([seed, 2]), anat, size="full", view="wrist")
    if real_wrist is not None:
        from PIL import Image

        real = np.asarray(Image.open(real_wrist).convert("L"))
        fig, ax = plt.subplots(1, 3, figsize=(15, 5))
        ax[0].imshow(wrist.image, cmap="gray", vmin=0, vmax=255)
        ax[0].set_title("synthetic wrist (600x600, 0.15 mm/px)")
        ax[1].imshow(real, cmap="gray", vmin=0, vmax=255)
        ax[1].set_title(f"real RAM-W600 wrist {Path(real_wrist).stem} (CC BY 4.0)")
        for a in ax[:2]:
            a.axis("off")
        ax[2].hist(wrist.image.ravel(), bins=64, range=(0, 255), alpha=0.6, density=True, label="synthetic")
        ax[2].hist(real.ravel(), bins=64, range=(0, 255), alpha=0.6, density=True, label="real")
        ax[2].set_title("grey-level histograms")
        ax[2].legend()
        fig.tight_layout()
        p = out_dir / "synthetic_vs_real_wrist.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        written.append(p)
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
    return written


if __name__ == "__main__":
    print(make_figures(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
