"""Row-major RLE decoder (ramkit.io.coco.decode_rle_into, CocoFile.masks fast path) == pycocotools, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ramkit.errors import RamkitError
from ramkit.io.atomic import write_json
from ramkit.io.coco import CocoFile, build_coco, decode_rle_into, encode_mask, rle_counts


def _random_masks(rng, n=200):
    for t in range(n):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        kind = t % 4
        if kind == 0:
            m = (rng.random((h, w)) < rng.random()).astype(np.uint8)  # noise: many runs, wraps over columns
        elif kind == 1:
            m = np.full((h, w), t % 8 == 1, np.uint8)  # all ones / all zeros
        else:
            m = np.zeros((h, w), np.uint8)
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y:, x:] = 1  # touches the bottom/right edges: runs wrap into the next column
        yield m


def test_decode_matches_pycocotools():
    rng = np.random.default_rng(0)
    for m in _random_masks(rng):
        rle = encode_mask(m)
        out = np.zeros(m.shape, np.uint8)
        decode_rle_into(rle, out)
        ref = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        assert np.array_equal(out, ref) and np.array_equal(out, m)
        assert int(rle_counts(rle["counts"]).sum()) == m.size


def test_fast_masks_equal_pycocotools_masks(tmp_path):
    h, w = 30, 25
    rng = np.random.default_rng(1)
    a = (rng.random((h, w)) < 0.3).astype(np.uint8)
    b = np.zeros((h, w), np.uint8)
    b[5:9, 3:20] = 1
    cats = [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]
    anns = [
        {"id": 0, "image_id": 0, "category_id": 1, "segmentation": encode_mask(a)},
        {"id": 1, "image_id": 0, "category_id": 1, "segmentation": [[2.0, 2.0, 12.0, 2.0, 12.0, 20.0]]},  # polygon
        # uncompressed RLE with list counts
        {"id": 2, "image_id": 0, "category_id": 2, "segmentation": {"size": [h, w], "counts": _uncompressed(b)}},
    ]
    p = tmp_path / "c.json"
    write_json(p, build_coco([{"id": 0, "file_name": "x.png", "height": h, "width": w}], cats, anns))
    coco = CocoFile(p)
    ref = coco.masks("x.png", ["B", "A"], fast=False)
    assert np.array_equal(coco.masks("x.png", ["B", "A"], fast=True), ref)
    assert np.array_equal(ref[0], b)


def _uncompressed(m: np.ndarray) -> list[int]:
    flat = m.ravel(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    return [int(c) for c in counts]


def test_bad_counts_raise(tmp_path):
    out = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="sum to"):
        decode_rle_into({"size": [4, 4], "counts": encode_mask(np.ones((3, 3), np.uint8))["counts"]}, out)
    with pytest.raises(ValueError, match="invalid character"):
        decode_rle_into({"size": [4, 4], "counts": "a b"}, out)
    cats = [{"id": 1, "name": "A"}]
    anns = [{"id": 0, "image_id": 0, "category_id": 1, "segmentation": {"size": [4, 4], "counts": "0"}}]
    p = tmp_path / "bad.json"
    write_json(p, build_coco([{"id": 0, "file_name": "y.png", "height": 4, "width": 4}], cats, anns))
    with pytest.raises(RamkitError, match=r"bad.json: y.png: cannot decode RLE"):
        CocoFile(p).masks("y.png", ["A"])
