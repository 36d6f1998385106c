"""RAM-H1200 reader: lossless round trip of masks, BE label maps, scores, boxes and metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest_data import build_h1200

from ramkit import anatomy
from ramkit.errors import RamkitError, RamkitWarning
from ramkit.io.h1200 import H1200


@pytest.fixture(scope="module")
def h1200(tmp_path_factory):
    parent = tmp_path_factory.mktemp("h1200")
    return build_h1200(parent)


def test_seg_round_trip(h1200):
    ds = H1200(h1200["_root"].parent)  # parent folder accepted
    assert ds.root == h1200["_root"].resolve() and ds.splits == anatomy.SPLITS
    for split in anatomy.SPLITS:
        samples = ds.seg(split)
        assert {s.file_name for s in samples} == set(h1200[split])
        for s in samples:
            truth = h1200[split][s.file_name]
            bones = s.bones()
            assert bones.shape == (30, s.height, s.width) and bones.dtype == np.uint8
            assert np.array_equal(bones, truth["bones"])
            assert np.array_equal(s.be_masks(), truth["be"])
            assert s.side == s.stem[-1] and s.image().shape == (s.height, s.width)


def test_union_polygon_and_non_bone_dropped(h1200):
    s = next(s for s in H1200(h1200["_root"]).seg("train") if s.file_name.endswith("0100_L.bmp"))
    bones = s.bones()
    mc1 = bones[anatomy.HAND_BONES.index("MC1")]
    assert mc1[0:4, 0:5].all()  # second annotation united
    assert bones[anatomy.HAND_BONES.index("Radius")][12, 12] == 1  # polygon decoded
    assert bones.shape[0] == 30  # Ring dropped


def test_be_label_map_priority(h1200):
    s = next(s for s in H1200(h1200["_root"]).seg("train", be_protocol="3class") if s.stem.endswith("_L"))
    raw = s.be_masks()
    label = s.be()
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3}
    assert (label[raw[0] > 0] == 1).all()  # 90 wins everywhere it is present
    assert (label[(raw[1] > 0) & (raw[0] == 0)] == 2).all()
    assert (label[(raw[2] > 0) & (raw[0] == 0) & (raw[1] == 0)] == 3).all()
    assert ((label == 0) == (raw.max(0) == 0)).all()
    binary = s.be("svdh90")
    assert np.array_equal(binary, raw[0])


def test_scores_and_boxes_round_trip(h1200):
    ds = H1200(h1200["_root"])
    for kind in ("be", "jsn"):
        for split in anatomy.SPLITS:
            rows = ds.scores(kind, split)
            assert len(rows) == len(h1200[split]) * len(anatomy.JOINTS[kind])
            for r in rows:
                assert r.score == h1200[split][f"{r.hand}.bmp"][f"{kind}_scores"][r.joint.key]
                assert r.path.is_file() and r.image().shape == (8, 8) and r.side == r.hand[-1]
            boxes = ds.joint_boxes(kind, split)
            for fname, truth in h1200[split].items():
                assert boxes[fname[:-4]] == truth[f"{kind}_boxes"]


def test_metadata(h1200):
    df = H1200(h1200["_root"]).metadata()
    assert list(df.columns) == list(anatomy.H1200_METADATA_COLUMNS) and len(df) == 6


def _rewrite(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_bone_categories_missing_and_reordered(tmp_path):
    truth = build_h1200(tmp_path, per_split=1)
    js = truth["_root"] / "Segmentation" / "train" / "_annotations_bone_rle.coco.json"

    # swap the ids of two bones: all names present, order differs -> warning, channels still mapped by name
    def swap(d):
        a = next(c for c in d["categories"] if c["name"] == "Capitate")
        b = next(c for c in d["categories"] if c["name"] == "Ulna")
        a["name"], b["name"] = "Ulna", "Capitate"
        for ann in d["annotations"]:
            if ann["category_id"] == a["id"]:
                ann["category_id"] = b["id"]
            elif ann["category_id"] == b["id"]:
                ann["category_id"] = a["id"]

    _rewrite(js, swap)
    with pytest.warns(RamkitWarning, match="not in the expected order"):
        [s] = H1200(truth["_root"]).seg("train")
    assert np.array_equal(s.bones(), truth["train"][s.file_name]["bones"])

    _rewrite(js, lambda d: d["categories"].__setitem__(slice(None), [c for c in d["categories"] if c["name"] != "DP3"]))
    with pytest.raises(RamkitError, match=r"_annotations_bone_rle.coco.json: bone category 'DP3' is missing"):
        H1200(truth["_root"]).seg("train")


def test_image_without_annotations_is_reported(tmp_path):
    truth = build_h1200(tmp_path, per_split=2)
    js = truth["_root"] / "Segmentation" / "val" / "_annotations_bone_rle.coco.json"
    _rewrite(js, lambda d: d.__setitem__("annotations", [a for a in d["annotations"] if a["image_id"] != 1]))
    with pytest.warns(RamkitWarning, match="1 image\\(s\\) without bone annotations, skipped: JP_"):
        samples = H1200(truth["_root"]).seg("val")
    assert len(samples) == 1


def test_size_mismatch_is_an_error(tmp_path):
    truth = build_h1200(tmp_path, per_split=1)
    js = truth["_root"] / "Segmentation" / "test" / "_annotations_bone_rle.coco.json"
    _rewrite(js, lambda d: d["images"][0].__setitem__("height", 50))
    with pytest.raises(RamkitError, match=r"\.bmp: image is 48x40 but _annotations_bone_rle.coco.json says 50x40"):
        H1200(truth["_root"]).seg("test")


def test_not_a_dataset(tmp_path):
    with pytest.raises(RamkitError, match="not a RAM-H1200 folder"):
        H1200(tmp_path)
    with pytest.raises(RamkitError, match="unknown split"):
        H1200(build_h1200(tmp_path, per_split=1)["_root"]).seg("dev")
