"""Readers and ``ramkit check`` on the 30 real RAM-W600 wrist radiographs (skipped when shared/ is absent)."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from conftest_data import build_w600, real_wrist_dir, run_cli

from ramkit.check import check
from ramkit.errors import RamkitWarning
from ramkit.io.images import read_gray, read_radiograph
from ramkit.io.w600 import W600

REAL = real_wrist_dir()
pytestmark = pytest.mark.skipif(REAL is None, reason="shared/data/real-radiographs not available")


def _labels() -> list[dict]:
    with open(REAL / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_read_all_real_wrists():
    rows = _labels()
    assert len(rows) == 30
    for row in rows:
        path = REAL / row["image"]
        with warnings.catch_warnings():
            warnings.simplefilter("error", RamkitWarning)  # real grey PNGs: no warning expected
            img = read_gray(path)
            r = read_radiograph(path, target_spacing_mm=None)
        assert img.dtype == np.uint8 and img.shape == (int(row["height"]), int(row["width"]))
        assert img.std() > 5  # real anatomy, not a blank image
        assert r.side == row["side"] and r.flipped == (row["side"] == "L") and r.bit_depth == 8
        assert r.pixels.dtype == np.float32 and 0.0 <= r.pixels.min() and r.pixels.max() <= 1.0
        expected = img[:, ::-1] if r.flipped else img
        assert np.array_equal(np.round(r.pixels * 255).astype(np.uint8), expected)
        assert np.array_equal(np.round(r.to_source(r.pixels) * 255).astype(np.uint8), img)


def test_real_wrist_resampled_with_known_spacing():
    row = _labels()[0]
    r = read_radiograph(REAL / row["image"], source_spacing_mm=0.15, target_spacing_mm=0.175)
    assert r.pixels.shape == (514, 514) and r.spacing_mm == pytest.approx(0.175)
    assert r.to_source(r.pixels).shape == (600, 600)


def test_w600_reader_and_check_on_real_pixels(tmp_path, capsys):
    rows = _labels()[:3]
    images = {row["image"].split("/")[-1][:-4]: read_gray(REAL / row["image"]) for row in rows}
    truth = build_w600(tmp_path, images=images)
    ds = W600(tmp_path)
    seen = 0
    for split in ("train", "val", "test"):
        for s in ds.seg(split):
            assert np.array_equal(s.image(), images[s.stem])
            assert np.array_equal(s.masks(), truth[split][s.stem]["masks"])
            assert s.masks().shape == (14, 600, 600)
            seen += 1
        assert len(ds.scores(split)) == 6 * len(truth.get(split, {}))
    assert seen == 3
    rep = check(tmp_path)
    assert rep.ok and rep.problems == [] and sum(v["images"] for v in rep.summary["splits"].values()) == 3
    code, out, err = run_cli(["check", tmp_path], capsys)
    assert code == 0 and "OK: 0 error(s), 0 warning(s)" in out
