"""COCO masks with pycocotools: compressed RLE, uncompressed RLE and polygons, decoded lazily per image.

A :class:`CocoFile` indexes one COCO JSON (images, categories, annotations) without decoding anything;
:meth:`CocoFile.masks` decodes the masks of one image on demand, uniting several annotations of one
category (pycocotools ``merge`` = union), so a whole split is never held in memory at once.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ramkit.errors import RamkitError


def encode_mask(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a binary H×W mask, ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO bbox ``[x, y, w, h]`` of a binary mask (zeros for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def to_rle(segmentation, height: int, width: int, where: str = "") -> dict:
    """Convert any COCO segmentation (polygons, uncompressed or compressed RLE) to a compressed RLE.

    Raises :class:`RamkitError` when the segmentation is malformed or its size differs from ``height × width``.
    """
    try:
        if isinstance(segmentation, list):  # polygons
            if not segmentation:
                raise ValueError("empty polygon list")
            rles = mask_utils.frPyObjects(segmentation, height, width)
            return mask_utils.merge(rles)
        if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
            size = [int(s) for s in segmentation["size"]]
            if size != [height, width]:
                raise RamkitError(f"{where}RLE size {size[0]}x{size[1]} differs from the image size {height}x{width}")
            counts = segmentation["counts"]
            if isinstance(counts, list):  # uncompressed RLE
                if sum(counts) != height * width:
                    raise ValueError(f"uncompressed RLE counts sum to {sum(counts)}, expected {height * width}")
                return mask_utils.frPyObjects(segmentation, height, width)
            if isinstance(counts, str):
                return {"size": size, "counts": counts.encode("ascii")}
            if isinstance(counts, bytes):
                return {"size": size, "counts": counts}
        raise ValueError(f"unsupported segmentation of type {type(segmentation).__name__}")
    except RamkitError:
        raise
    except Exception as exc:  # pycocotools raises bare exceptions on malformed input
        raise RamkitError(f"{where}malformed segmentation ({exc})") from None


def decode_union(segmentations: Sequence, height: int, width: int, where: str = "") -> np.ndarray:
    """Decode and unite several segmentations of one category into one uint8 H×W mask."""
    if not segmentations:
        return np.zeros((height, width), np.uint8)
    rles = [to_rle(s, height, width, where) for s in segmentations]
    rle = rles[0] if len(rles) == 1 else mask_utils.merge(rles)
    try:
        out = mask_utils.decode(rle)
    except Exception as exc:
        raise RamkitError(f"{where}cannot decode RLE ({exc})") from None
    if out.shape != (height, width):
        raise RamkitError(f"{where}RLE decodes to {out.shape[0]}x{out.shape[1]}, expected {height}x{width}")
    return out


@dataclass
class CocoImage:
    id: int
    file_name: str
    height: int
    width: int
    extra: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.file_name).stem


#: largest image side a COCO entry may declare (larger than any radiograph; guards against absurd allocations)
MAX_SIDE = 65535


def _checked_annotation(ann: object) -> int:
    """Check one annotation's ids and bbox (ValueError naming the field); normalises ids to int, returns image id."""
    if not isinstance(ann, dict):
        raise ValueError(f"annotation {ann!r} is not an object")
    for key in ("image_id", "category_id"):
        v = ann[key]
        try:
            f = float(v) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else math.nan
        except ValueError:
            f = math.nan
        if not math.isfinite(f) or f != int(f):
            raise ValueError(f"'{key}' {v!r} of annotation {ann.get('id')}")
        ann[key] = int(f)
    if "bbox" in ann:
        from ramkit.validate import box_problem

        b = ann["bbox"]
        ok = isinstance(b, list) and len(b) == 4
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
        if not ok or (box_problem(b, 2**31, 2**31) or "").endswith("not finite"):
            raise ValueError(f"'bbox' {b!r} of annotation {ann.get('id')}: expected [x, y, w, h] numbers")
    return int(ann["image_id"])


class CocoFile:
    """An indexed COCO JSON file. Nothing is decoded until :meth:`masks` is called for one image."""

    def __init__(self, path: str | os.PathLike):
        from ramkit.validate import duplicates, read_bytes

        self.path = Path(path)
        raw = read_bytes(self.path, "COCO file")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RamkitError(f"malformed JSON ({exc})", self.path) from None
        if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations", "categories")):
            raise RamkitError("not a COCO file (needs 'images', 'annotations' and 'categories')", self.path)
        try:
            self.categories: dict[int, str] = {int(c["id"]): str(c["name"]) for c in data["categories"]}
            self.images: dict[int, CocoImage] = {}
            for im in data["images"]:
                self.images[int(im["id"])] = CocoImage(
                    id=int(im["id"]),
                    file_name=str(im["file_name"]),
                    height=int(im["height"]),
                    width=int(im["width"]),
                    extra=im.get("extra") or {},
                )
            for im in self.images.values():
                if not (1 <= im.height <= MAX_SIDE and 1 <= im.width <= MAX_SIDE):
                    raise ValueError(f"'height'/'width' of image {im.id}: {im.height}x{im.width} not in 1..{MAX_SIDE}")
            self._anns: dict[int, list[dict]] = defaultdict(list)
            for ann in data["annotations"]:
                self._anns[_checked_annotation(ann)].append(ann)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise RamkitError(f"malformed COCO entry (missing or bad field {exc})", self.path) from None
        #: ids / file names listed more than once in ``images`` (``ramkit check`` reports them; the last one wins)
        self.duplicate_ids = duplicates(int(im["id"]) for im in data["images"])
        self.duplicate_file_names = duplicates(str(im["file_name"]) for im in data["images"])
        self.by_file_name: dict[str, CocoImage] = {im.file_name: im for im in self.images.values()}
        self.by_stem: dict[str, CocoImage] = {im.stem: im for im in self.images.values()}
        self.category_ids: dict[str, int] = {name: cid for cid, name in self.categories.items()}

    def annotations(self, image: CocoImage | int) -> list[dict]:
        image_id = image.id if isinstance(image, CocoImage) else int(image)
        return self._anns.get(image_id, [])

    def unknown_category_ids(self) -> set[int]:
        return {int(a["category_id"]) for anns in self._anns.values() for a in anns} - set(self.categories)

    def image_ids_with_annotations(self) -> set[int]:
        return {i for i, anns in self._anns.items() if anns}

    def masks(self, image: CocoImage | str, category_names: Sequence[str], fast: bool = True) -> np.ndarray:
        """Decode the C×H×W uint8 masks of one image for ``category_names`` (order kept; union per category).

        ``fast=True`` paints each RLE's runs straight into row-major planes over the mask's bounding box
        (:func:`decode_rle_into`, 4–5× faster on full-size hands); ``fast=False`` uses pycocotools ``decode``.
        Both give bit-identical masks (tested).
        """
        im = self.by_file_name[image] if isinstance(image, str) else image
        missing = [n for n in category_names if n not in self.category_ids]
        if missing:
            raise RamkitError(f"category {missing[0]!r} is missing from the categories", self.path)
        wanted = {self.category_ids[n]: k for k, n in enumerate(category_names)}
        per_channel: list[list] = [[] for _ in category_names]
        for ann in self.annotations(im):
            k = wanted.get(int(ann["category_id"]))
            if k is not None:
                if "segmentation" not in ann:
                    raise RamkitError(f"annotation {ann.get('id')} of {im.file_name} has no segmentation", self.path)
                per_channel[k].append(ann["segmentation"])
        out = np.zeros((len(category_names), im.height, im.width), np.uint8)
        where = f"{self.path}: {im.file_name}: "
        for k, segs in enumerate(per_channel):
            if not segs:
                continue
            if not fast:
                out[k] = decode_union(segs, im.height, im.width, where)
                continue
            for seg in segs:
                rle = to_rle(seg, im.height, im.width, where)
                try:
                    decode_rle_into(rle, out[k])
                except ValueError as exc:
                    raise RamkitError(f"{where}cannot decode RLE ({exc})") from None
        return out

    def boxes(self, image: CocoImage | str) -> dict[str, list[list[float]]]:
        """All bboxes of one image grouped by category name (``[x, y, w, h]``)."""
        im = self.by_file_name[image] if isinstance(image, str) else image
        out: dict[str, list[list[float]]] = defaultdict(list)
        for ann in self.annotations(im):
            name = self.categories.get(int(ann["category_id"]))
            if name is not None and "bbox" in ann:
                out[name].append([float(v) for v in ann["bbox"]])
        return dict(out)


def build_coco(
    images: Sequence[dict],
    categories: Sequence[dict],
    annotations: Sequence[dict],
    info: dict | None = None,
) -> dict:
    """Assemble a COCO dict (Roboflow-style top-level keys) ready for :func:`ramkit.io.atomic.write_json`."""
    return {
        "info": info or {"description": "written by ramkit"},
        "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}],
        "categories": list(categories),
        "images": list(images),
        "annotations": list(annotations),
    }


# --------------------------------------------------------------------------------------------------
# Fast row-major decode (appended helpers; results identical to pycocotools ``decode``)
# --------------------------------------------------------------------------------------------------
def rle_counts(counts: bytes | str) -> np.ndarray:
    """Run lengths of a compressed COCO RLE string (pycocotools ``rleFrString``, vectorised with numpy)."""
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    c = np.frombuffer(counts, np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    if c.min() < 0 or c.max() > 63:
        raise ValueError("invalid character in compressed RLE counts")
    more = (c & 0x20) != 0
    if more[-1]:
        raise ValueError("compressed RLE counts end in the middle of a number")
    ends = np.flatnonzero(~more)  # last char of every number
    starts = np.concatenate(([0], ends[:-1] + 1))
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    k = np.arange(c.size) - starts[group]  # position of each char within its number
    x = np.zeros(len(ends), np.int64)
    np.add.at(x, group, (c & 0x1F) << (5 * k))
    last = c[ends]
    neg = (last & 0x10) != 0
    x[neg] |= -1 << (5 * (ends[neg] - starts[neg] + 1))
    if len(x) > 3:  # delta coding: counts[m] += counts[m - 2] for m > 2
        x[3::2] = np.cumsum(x[1::2])[1:]
    if len(x) > 4:
        x[4::2] = np.cumsum(x[2::2])[1:]
    return x


def decode_rle_into(rle: dict, out: np.ndarray) -> None:
    """OR the mask of a compressed RLE into the row-major uint8 H×W ``out`` (no column-major temporary).

    Foreground runs are cut into per-column intervals and painted with a difference array + cumulative sum
    over their bounding box only, so the cost follows the mask's extent rather than the image size.
    """
    h, w = (int(s) for s in rle["size"])
    if out.shape != (h, w):
        raise ValueError(f"RLE size {h}x{w} differs from the output {out.shape[0]}x{out.shape[1]}")
    counts = rle_counts(rle["counts"])
    if counts.size and (counts.min() < 0 or counts.sum() != h * w):
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected {h * w}")
    ends = np.cumsum(counts)
    begins = ends - counts
    s, e = begins[1::2], ends[1::2]  # foreground runs (odd positions), column-major flat [s, e)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return
    c0, c1 = s // h, (e - 1) // h
    n = c1 - c0 + 1  # a run may wrap over several columns: split it per column
    idx = np.repeat(np.arange(s.size), n)
    col = c0[idx] + (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n))
    y0 = np.where(col == c0[idx], s[idx] - c0[idx] * h, 0)
    y1 = np.where(col == c1[idx], e[idx] - c1[idx] * h, h)
    ya, yb, xa, xb = int(y0.min()), int(y1.max()), int(col.min()), int(col.max()) + 1
    diff = np.zeros((yb - ya + 1, xb - xa), np.uint8)
    np.add.at(diff, (y0 - ya, col - xa), 1)
    np.add.at(diff, (y1 - ya, col - xa), 255)  # -1 modulo 256
    out[ya:yb, xa:xb] |= np.cumsum(diff[:-1], axis=0, dtype=np.uint8)
