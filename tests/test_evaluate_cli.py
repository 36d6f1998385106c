"""``ramkit evaluate segmentation|scores`` end to end on tiny folders, including bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ramkit import anatomy
from ramkit.cli import main
from ramkit.io.atomic import write_json
from ramkit.io.coco import build_coco, encode_mask, mask_bbox
from ramkit.metrics import names


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("ramkit: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def hand_masks(rng, h=24, w=28) -> np.ndarray:
    """30×H×W uint8 masks: random rectangles; Radius/Scaphoid overlap."""
    m = np.zeros((30, h, w), np.uint8)
    for k in range(30):
        r0, c0 = rng.integers(0, h - 6), rng.integers(0, w - 6)
        m[k, r0 : r0 + rng.integers(3, 8), c0 : c0 + rng.integers(3, 8)] = 1
    r, s = anatomy.HAND_BONES.index("Radius"), anatomy.HAND_BONES.index("Scaphoid")
    m[r] = 0
    m[s] = 0
    m[r, 2:12, 2:12] = 1
    m[s, 8:20, 8:20] = 1
    return m


@pytest.fixture
def seg_folders(tmp_path):
    rng = np.random.default_rng(0)
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    for stem in ("img_a", "img_b"):
        t = hand_masks(rng)
        p = t.copy()
        p[:, :, 1:] = t[:, :, :-1]  # shift by one column
        np.save(truth / f"{stem}.npy", t)
        np.save(pred / f"{stem}.npy", p.astype(bool))
    return pred, truth


def test_segmentation_npy_folders(seg_folders, tmp_path, capsys):
    pred, truth = seg_folders
    out = tmp_path / "res" / "seg.csv"
    code, stdout, err = run(
        ["evaluate", "segmentation", "--pred", str(pred), "--truth", str(truth), "--out", str(out)], capsys
    )
    assert code == 0, err
    df = pd.read_csv(out, index_col=0)
    assert list(df.index) == ["img_a", "img_b", names.AVERAGE_ROW]
    assert "DSC Capitate" in df.columns and "Mean Overlap NSD" in df.columns
    assert "Overlap DSC Radius&Scaphoid" in df.columns
    assert 0 < df.loc[names.AVERAGE_ROW, "Mean DSC"] < 1
    assert "DSC_O" in stdout and "NSD" in stdout


def test_segmentation_bad_inputs(seg_folders, tmp_path, capsys):
    pred, truth = seg_folders
    out = tmp_path / "bad.csv"
    base = ["evaluate", "segmentation", "--pred", str(pred), "--truth", str(truth), "--out", str(out)]
    # non-binary values
    np.save(pred / "img_b.npy", np.full((30, 24, 28), 2, np.uint8))
    assert_one_line_error(*run(base, capsys)[::2], "img_b.npy", "other than 0 and 1")
    # shape mismatch
    np.save(pred / "img_b.npy", np.zeros((30, 20, 28), bool))
    assert_one_line_error(*run(base, capsys)[::2], "img_b.npy", "shape")
    # missing truth
    np.save(pred / "img_b.npy", np.zeros((30, 24, 28), bool))
    np.save(pred / "img_c.npy", np.zeros((30, 24, 28), bool))
    assert_one_line_error(*run(base, capsys)[::2], "img_c", "no truth")
    (pred / "img_c.npy").unlink()
    # missing prediction
    (pred / "img_b.npy").unlink()
    assert_one_line_error(*run(base, capsys)[::2], "img_b", "no prediction")
    # class names of the wrong length; unreadable npy
    names_json = tmp_path / "names.json"
    names_json.write_text(json.dumps(["a", "b"]))
    np.save(pred / "img_b.npy", np.zeros((30, 24, 28), bool))
    assert_one_line_error(*run(base + ["--classes", str(names_json)], capsys)[::2], "2 class names")
    (pred / "img_b.npy").write_bytes(b"not an array")
    assert_one_line_error(*run(base, capsys)[::2], "img_b.npy", "cannot read")
    assert not out.exists()


def test_segmentation_coco_truth_bones_and_be(tmp_path, capsys):
    rng = np.random.default_rng(1)
    split = tmp_path / "Segmentation" / "test"
    split.mkdir(parents=True)
    pred = tmp_path / "pred"
    pred.mkdir()
    bone_cats = anatomy.h1200_bone_categories()
    cat_id = {c["name"]: c["id"] for c in bone_cats}
    be_cats = anatomy.h1200_be_categories()
    be_id = {c["name"]: c["id"] for c in be_cats}
    images, bone_anns, be_anns = [], [], []
    be_truth = {}
    for i, stem in enumerate(("JP_SCGH_P0001_20120101_1_L", "JP_SCGH_P0002_20120101_2_R")):
        t = hand_masks(rng)
        images.append({"id": i, "file_name": f"{stem}.bmp", "height": 24, "width": 28})
        for k, name in enumerate(anatomy.HAND_BONES):
            bone_anns.append({"id": len(bone_anns), "image_id": i, "category_id": cat_id[name],
                              "segmentation": encode_mask(t[k]), "bbox": mask_bbox(t[k]), "iscrowd": 0})  # fmt: skip
        ring = np.zeros((24, 28), np.uint8)
        ring[0:3, 0:3] = 1
        bone_anns.append({"id": len(bone_anns), "image_id": i, "category_id": cat_id["Ring"],
                          "segmentation": encode_mask(ring), "bbox": mask_bbox(ring), "iscrowd": 0})  # fmt: skip
        np.save(pred / f"{stem}.npy", t)
        # BE: SvdH-BE-90 and SvdH-BE-50 overlap; priority gives the overlap to 90
        l90 = np.zeros((24, 28), np.uint8)
        l90[5:10, 5:10] = 1
        l50 = np.zeros((24, 28), np.uint8)
        l50[8:14, 8:14] = 1
        for name, plane in (("SvdH-BE-90", l90), ("SvdH-BE-50", l50)):
            be_anns.append({"id": len(be_anns), "image_id": i, "category_id": be_id[name],
                            "segmentation": encode_mask(plane), "bbox": mask_bbox(plane), "iscrowd": 0})  # fmt: skip
        be_truth[stem] = np.stack([l90, l50 & (1 - l90), np.zeros_like(l90)]).astype(bool)
    write_json(split / "_annotations_bone_rle.coco.json", build_coco(images, bone_cats, bone_anns))
    write_json(split / "_annotations_be_rle.coco.json", build_coco(images, be_cats, be_anns))

    out = tmp_path / "bone.csv"
    code, _, err = run(
        ["evaluate", "segmentation", "--pred", str(pred), "--truth", str(split), "--out", str(out)], capsys
    )
    assert code == 0, err
    df = pd.read_csv(out, index_col=0)
    assert df.loc[names.AVERAGE_ROW, "Mean DSC"] == 1.0 and df.loc[names.AVERAGE_ROW, "Mean Overlap DSC"] == 1.0

    be_pred = tmp_path / "be_pred"
    be_pred.mkdir()
    for stem, m in be_truth.items():
        np.save(be_pred / f"{stem}.npy", m)
    out = tmp_path / "be.csv"
    argv = [
        "evaluate",
        "segmentation",
        "--task",
        "be",
        "--pred",
        str(be_pred),
        "--truth",
        str(split),
        "--out",
        str(out),
    ]
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    df = pd.read_csv(out, index_col=0)
    assert df.loc[names.AVERAGE_ROW, "DSC SvdH-BE-50"] == 1.0  # priority applied to the truth
    assert df.loc[names.AVERAGE_ROW, "REC Non-SvdH-BE"] == 0.0 and "PREC" in stdout


def write_scores(path, rows, header="hand,joint,score"):
    path.write_text(header + "\n" + "".join(f"{h},{j},{s}\n" for h, j, s in rows))


def test_scores_cli_be(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth_rows, pred_rows = [], []
    for h in range(6):
        for j in anatomy.BE_JOINTS[:5]:
            t = int(rng.choice([0, 1, 2, 3, 5]))
            p = t if rng.random() < 0.6 else int(rng.choice([0, 1, 2, 3, 5]))
            truth_rows.append((f"hand{h}", j.stem, t))
            pred_rows.append((f"hand{h}", j.display, p))  # display names resolve too
    write_scores(tmp_path / "t.csv", truth_rows)
    write_scores(tmp_path / "p.csv", pred_rows)
    out = tmp_path / "out" / "scores.csv"
    argv = ["evaluate", "scores", "--pred", str(tmp_path / "p.csv"), "--truth", str(tmp_path / "t.csv"),
            "--kind", "be", "--out", str(out)]  # fmt: skip
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    df = pd.read_csv(out)
    assert df[names.SCOPE].tolist() == [names.OVERALL] + [names.JOINT] * 5
    assert df[names.NAME].tolist()[1:] == [j.display for j in anatomy.BE_JOINTS[:5]]
    assert df.loc[0, names.N] == 30
    assert "Spearman" in stdout
    assert (out.parent / "scores_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (out.parent / "scores_confusion_joints.png").exists()


def test_scores_cli_binary(tmp_path, capsys):
    rows_t = [("w1", "Lunate", 0), ("w1", "Trapzium", 3), ("w2", "Lunate", 5), ("w2", "Scaphoid", 0)]
    rows_p = [("w1", "Lunate", 0), ("w1", "Trapezium", 1), ("w2", "Lunate", 0), ("w2", "Scaphoid", 1)]
    write_scores(tmp_path / "t.csv", rows_t)
    write_scores(tmp_path / "p.csv", rows_p)
    out = tmp_path / "bin.csv"
    argv = ["evaluate", "scores", "--pred", str(tmp_path / "p.csv"), "--truth", str(tmp_path / "t.csv"),
            "--kind", "binary", "--out", str(out)]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    df = pd.read_csv(out)
    assert list(df.columns) == [names.SCOPE, names.NAME, *names.BINARY_COLUMNS, names.N]
    assert df.loc[0, names.ACC] == pytest.approx(0.5) and df.loc[0, names.DOR] == pytest.approx(1.0)  # TP=TN=FP=FN=1
    assert math.isnan(df.loc[df[names.NAME] == "Scaphoid", names.DOR].iloc[0])


@pytest.mark.parametrize(
    "truth_text,fragment",
    [
        ("hand,joint\nh1,R\n", "missing column(s) score"),
        ("hand,joint,score\nh1,XX,0\n", "unknown BE joint"),
        ("hand,joint,score\nh1,R,4\n", "not in the score set"),
        ("hand,joint,score\nh1,R,abc\n", "not a number"),
        ("hand,joint,score\nh1,R,0\nh1,BE_R,1\n", "duplicate row"),
        ("hand,joint,score\nh1,R,0\nh2,R,1\n", "no prediction"),
    ],
)
def test_scores_cli_bad_input(tmp_path, capsys, truth_text, fragment):
    (tmp_path / "t.csv").write_text(truth_text)
    write_scores(tmp_path / "p.csv", [("h1", "R", 0)])
    out = tmp_path / "o.csv"
    argv = ["evaluate", "scores", "--pred", str(tmp_path / "p.csv"), "--truth", str(tmp_path / "t.csv"),
            "--kind", "be", "--out", str(out)]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, fragment)
    assert not out.exists()
