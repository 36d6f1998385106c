"""RAM-W600 reader and layout detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest_data import build_h1200, build_w600

from ramkit import anatomy
from ramkit.errors import RamkitError, RamkitWarning
from ramkit.io.layout import detect
from ramkit.io.w600 import W600


@pytest.fixture(scope="module")
def w600(tmp_path_factory):
    return build_w600(tmp_path_factory.mktemp("w600"))


def test_seg_round_trip(w600):
    ds = W600(w600["_root"].parent)
    assert ds.root == w600["_root"].resolve()
    for split in anatomy.SPLITS:
        samples = ds.seg(split)
        assert {s.stem for s in samples} == set(w600[split])
        for s in samples:
            m = s.masks()
            assert m.shape == (14, s.height, s.width) and m.dtype == np.uint8
            assert np.array_equal(m, w600[split][s.stem]["masks"])
            assert s.image().shape == (s.height, s.width) and s.side == s.stem[-1]


def test_scores_with_alias_spelling(w600):
    ds = W600(w600["_root"])
    for split in anatomy.SPLITS:
        rows = ds.scores(split)
        assert len(rows) == len(w600[split]) * 6
        for r in rows:
            assert r.kind == "w600" and r.score == w600[split][r.hand]["scores"][r.joint.stem]
        trap = [r for r in rows if r.joint.stem == "Trapezium"]
        assert trap and all(r.path.name == "Trapzium.bmp" for r in trap)


def test_joint_boxes(w600):
    boxes = W600(w600["_root"]).joint_boxes()
    for split in anatomy.SPLITS:
        for stem, t in w600[split].items():
            assert boxes[stem] == t["boxes"]


def test_bad_mask_shape_and_pickle(tmp_path):
    t = build_w600(tmp_path, per_split=1)
    mp = next((t["_root"] / "BoneSegmentation" / "masks" / "train").glob("*.npy"))
    np.save(mp, np.zeros((13, 36, 36), np.uint8))
    with pytest.raises(RamkitError, match=rf"{mp.name}: mask has shape \(13, 36, 36\), expected 14xHxW"):
        W600(t["_root"]).seg("train")
    np.save(mp, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RamkitError, match=f"{mp.name}: not a plain numeric npy"):
        W600(t["_root"]).seg("train")


def test_bad_score_and_missing_gt(tmp_path):
    t = build_w600(tmp_path, per_split=1)
    gt = t["_root"] / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json"
    data = json.loads(gt.read_text())
    data[0]["joints"]["Lunate"] = 4
    gt.write_text(json.dumps(data))
    with pytest.raises(RamkitError, match=r"JointBE_SvdH_GT.json: .*Lunate: score 4 not in \[0, 1, 2, 3, 5\]"):
        W600(t["_root"]).scores("train")
    gt.write_text(json.dumps(data[1:]))
    with pytest.warns(RamkitWarning, match="ROI folder\\(s\\) without a GT entry"):
        assert W600(t["_root"]).scores("train") == []


def test_detect(tmp_path):
    h = build_h1200(tmp_path / "a", per_split=1)["_root"]
    w = build_w600(tmp_path / "b", per_split=1)["_root"]
    assert detect(h) == ("h1200", h.resolve())
    assert detect(h.parent) == ("h1200", h.resolve())
    assert detect(w.parent) == ("w600", w.resolve())
    (tmp_path / "empty").mkdir()
    with pytest.raises(RamkitError, match="empty: folder is empty"):
        detect(tmp_path / "empty")
    with pytest.raises(RamkitError, match="not found"):
        detect(tmp_path / "nope")
    (tmp_path / "both").mkdir()
    (tmp_path / "both" / "RAM-H1200-v1").symlink_to(h)
    (tmp_path / "both" / "RAM-W600").symlink_to(w)
    with pytest.raises(RamkitError, match="holds both"):
        detect(tmp_path / "both")


def test_orient_flips_only_left_wrists(w600):
    ds = W600(w600["_root"])
    seen = set()
    for split in anatomy.SPLITS:
        for s in ds.seg(split):
            img, m = s.image(), s.masks()
            if s.side == "L":
                assert np.array_equal(s.image(orient=True), img[:, ::-1])
                assert np.array_equal(s.masks(orient=True), m[:, :, ::-1])
            else:
                assert np.array_equal(s.image(orient=True), img) and np.array_equal(s.masks(orient=True), m)
            seen.add(s.side)
        for r in ds.scores(split):
            assert r.mirrored == (r.side == "L")
            assert np.array_equal(r.image(orient=True), r.image()[:, ::-1] if r.mirrored else r.image())
    assert seen == {"L", "R"}
