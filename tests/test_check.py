"""``ramkit check``: summary numbers, collection of all problems, JSON output, exit codes."""

from __future__ import annotations

import json
import shutil

import numpy as np
from conftest_data import build_h1200, build_w600, run_cli

from ramkit import anatomy
from ramkit.check import check


def test_valid_h1200_summary(tmp_path):
    build_h1200(tmp_path, per_split=2)
    rep = check(tmp_path)
    assert rep.layout == "h1200" and rep.ok and rep.problems == []
    s = rep.summary["splits"]
    assert [s[k]["images"] for k in anatomy.SPLITS] == [2, 2, 2]
    assert sum(s[k]["hands_L"] for k in anatomy.SPLITS) == 3 and s["val"]["patients"] == 2
    assert sum(v for sp in s.values() for v in sp["centers"].values()) == 6
    be = rep.summary["scores"]["be"]
    assert set(be) == {j.display for j in anatomy.BE_JOINTS}
    assert sum(sum(c.values()) for c in be.values()) == 6 * 16
    assert set(next(iter(be.values()))) == {str(v) for v in anatomy.SCORE_VALUES["be"]}


def test_valid_w600_cli_and_json(tmp_path, capsys):
    build_w600(tmp_path, per_split=1)
    out_json = tmp_path / "out" / "report.json"
    code, out, err = run_cli(["check", tmp_path / "RAM-W600", "--json", out_json], capsys)
    assert code == 0, out + err
    assert "RAM-W600" in out and "Metacarpal1st" in out and "OK: 0 error(s)" in out
    data = json.loads(out_json.read_text())
    assert data["ok"] and data["layout"] == "w600" and data["summary"]["splits"]["test"]["images"] == 1
    assert sum(data["summary"]["scores"]["w600"]["Lunate"].values()) == 3


def test_collects_all_problems_h1200(tmp_path, capsys):
    root = build_h1200(tmp_path, per_split=2)["_root"]
    seg = root / "Segmentation"
    # 1) unknown category + annotation with an unknown category id in train
    js = seg / "train" / "_annotations_bone_rle.coco.json"
    d = json.loads(js.read_text())
    d["categories"].append({"id": 99, "name": "Pencil", "supercategory": "hand-bones"})
    d["annotations"][0]["category_id"] = 123
    js.write_text(json.dumps(d))
    # 2) RLE of another size in val BE JSON
    js = seg / "val" / "_annotations_be_rle.coco.json"
    d = json.loads(js.read_text())
    d["annotations"][0]["segmentation"]["size"] = [10, 10]
    js.write_text(json.dumps(d))
    # 3) patient in two splits: copy a train image (and its entries) under a test name with the same patient
    # -> simplest: rename a test hand's score key to a train patient
    sj = root / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "test" / "_annotation_jsn_scores.json"
    d = json.loads(sj.read_text())
    old = sorted(d)[0]
    train_stem = sorted(p.stem for p in (seg / "train").glob("*.bmp"))[0]
    d[f"{train_stem}.bmp"] = d.pop(old)
    sj.write_text(json.dumps(d))
    shutil.move(sj.parent / old[:-4], sj.parent / train_stem)
    # 4) score 4 in BE, a missing key and a missing ROI file
    bj = root / "SvdH_Scoring" / "SvdH_BE_Scoring" / "train" / "_annotation_be_scores.json"
    d = json.loads(bj.read_text())
    hand = sorted(d)[0]
    d[hand]["BE_IP"] = 4
    del d[hand]["BE_U"]
    bj.write_text(json.dumps(d))
    (bj.parent / hand[:-4] / "R.bmp").unlink()
    # 5) an extra ROI file that has no score key
    (bj.parent / hand[:-4] / "Thumbnail.bmp").write_bytes((bj.parent / hand[:-4] / "L.bmp").read_bytes())

    rep = check(root)
    lines = [p.line() for p in rep.problems]
    text = "\n".join(lines)
    assert "unknown category 'Pencil'" in text
    assert "use category id 123, which is not in categories" in text
    assert "val/_annotations_be_rle.coco.json" in text and "RLE size 10x10 differs from the image size 48x40" in text
    assert "patient HMCRD_P0001 appears in several splits: train, test" in text
    assert f"{hand} BE_IP: score 4 not in [0, 1, 2, 3, 5]" in text
    assert f"{hand}: missing score key BE_U (its ROI file exists)" in text
    assert f"{hand[:-4]}/R.bmp: missing ROI file" in text
    assert "Thumbnail.bmp: ROI file without a score key" in text
    assert not rep.ok and len(rep.errors) >= 8

    code, out, err = run_cli(["check", root], capsys)
    assert code == 1 and "Traceback" not in out + err
    printed = [ln for ln in out.splitlines() if ln.startswith(("ERROR ", "WARN "))]
    assert printed == lines  # one line per problem, in order
    assert "FAILED" in out


def test_w600_problems(tmp_path):
    root = build_w600(tmp_path, per_split=2)["_root"]
    masks = root / "BoneSegmentation" / "masks"
    # mask of wrong size, an image with no mask, a patient in two splits
    mp = sorted((masks / "train").glob("*.npy"))[0]
    np.save(mp, np.zeros((14, 10, 10), np.uint8))
    img = sorted((masks / "val").glob("*.npy"))[0]
    img.unlink()
    gt = root / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json"
    d = json.loads(gt.read_text())
    d[0]["joints"]["Scaphoid"] = 7
    gt.write_text(json.dumps(d))
    rep = check(root)
    text = "\n".join(p.line() for p in rep.problems)
    assert f"{mp.name}: mask is 10x10 but its image is 36x36" in text
    assert f"{img.stem}.bmp: image without annotations (no mask in any split)" in text
    assert f"{d[0]['identifier']} Scaphoid: score 7 not in [0, 1, 2, 3, 5]" in text
    assert not rep.ok


def test_parent_with_both_datasets(tmp_path, capsys):
    build_h1200(tmp_path, per_split=1)
    build_w600(tmp_path, per_split=1)
    code, out, err = run_cli(["check", tmp_path, "--json", tmp_path / "r.json"], capsys)
    assert code == 0 and out.count("OK: 0 error(s)") == 2, out + err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] and [r["layout"] for r in data["reports"]] == ["h1200", "w600"]
