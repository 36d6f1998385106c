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
