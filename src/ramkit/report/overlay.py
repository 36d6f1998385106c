"""Colour overlays of (multi-label) masks on a grayscale radiograph, for viewing predictions."""

from __future__ import annotations

import os

import numpy as np

from ramkit.io.atomic import atomic_path


def palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (uint8 n×3) from matplotlib's tab20 / hsv colour maps."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if n <= 20 else colormaps["hsv"]
    pos = np.arange(n) if n <= 20 else np.linspace(0, 1, n, endpoint=False)
    return (np.asarray(cmap(pos))[:, :3] * 255).astype(np.uint8)


def overlay_rgb(image: np.ndarray, masks: np.ndarray, alpha: float = 0.45, outline: bool = True) -> np.ndarray:
    """Blend C binary masks (C×H×W) over a grayscale H×W image; returns uint8 H×W×3.

    Overlapping masks (multi-label bones) are blended in channel order, so overlaps stay visible; with
    ``outline`` each mask's boundary is drawn in its full colour.
    """
    from scipy import ndimage

    img = np.asarray(image, np.float32)
    lo, hi = float(img.min()), float(img.max())
    gray = (img - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(img)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    colours = palette(len(masks)).astype(np.float32)
    for k, m in enumerate(np.asarray(masks).astype(bool)):
        if not m.any():
            continue
        rgb[m] = (1 - alpha) * rgb[m] + alpha * colours[k]
        if outline:
            edge = m & ~ndimage.binary_erosion(m)
            rgb[edge] = colours[k]
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 H×W×3 image (format from the suffix) atomically."""
    from PIL import Image

    fmt = {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(
        os.path.splitext(os.fspath(path))[1].lower(), "PNG"
    )
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(rgb, np.uint8), "RGB").save(tmp, format=fmt)


def _score_colour(score: int | None, top: int) -> tuple[int, int, int]:
    """Box colour: grey unscored, green 0, through yellow to red at the top score."""
    if score is None:
        return (200, 200, 200)
    t = min(max(score / max(top, 1), 0.0), 1.0)
    return (int(60 + 195 * t), int(220 - 170 * t), 60)


def analysis_overlay(image: np.ndarray, bones: np.ndarray, lesions: np.ndarray | None, joints: list[dict],
                     side: str | None = None, alpha: float = 0.3) -> np.ndarray:  # fmt: skip
    """The picture of one ``ramkit analyze`` result, on the input file's grid.

    Bones coloured (:func:`overlay_rgb`), predicted erosions outlined in red, each joint box drawn in a colour
    from its score (green 0 -> red maximum) and labelled ``<joint> BE<s>`` / ``J<s>`` / ``p<erosion>``.
    """
    from PIL import Image, ImageDraw, ImageFont
    from scipy import ndimage

    from ramkit import anatomy

    rgb = overlay_rgb(image, bones, alpha=alpha)
    if lesions is not None and lesions.any():
        m = lesions.astype(bool)
        edge = ndimage.binary_dilation(m, iterations=2) & ~m
        rgb[edge] = (255, 0, 0)
    pil = Image.fromarray(rgb)
    draw = ImageDraw.Draw(pil)
    h = rgb.shape[0]
    size = max(10, int(h / 90))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    width = max(1, int(h / 500))
    # one label per box position: BE and JSN boxes of one joint often coincide
    by_box: dict[tuple, list[dict]] = {}
    for e in joints:
        if e.get("box"):
            by_box.setdefault(tuple(round(v) for v in e["box"]), []).append(e)
    for (x, y, w, bh), es in by_box.items():
        parts, worst = [], None
        for e in es:
            kind = e["kind"]
            top = max(anatomy.SCORE_VALUES[kind]) if kind in anatomy.SCORE_VALUES else 1
            if "score" in e:
                parts.append(f"{'J' if kind == 'jsn' else 'BE'}{e['score']}")
                t = e["score"] / top
                worst = t if worst is None else max(worst, t)
            if "p_erosion" in e:
                parts.append(f"p{e['p_erosion']:.2f}")
                worst = max(worst or 0.0, float(e["p_erosion"]))
        colour = _score_colour(None if worst is None else round(worst * 100), 100)
        draw.rectangle([x, y, x + w, y + bh], outline=colour, width=width)
        label = f"{es[0]['display']} " + " ".join(parts)
        draw.text((x + 2, max(0, y - size - 2)), label.strip(), fill=colour, font=font,
                  stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0))  # fmt: skip
    if side:
        draw.text((8, 8), f"side {side}", fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(pil)
