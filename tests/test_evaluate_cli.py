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


def grid_masks(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """30 bones as separate 4×5 rectangles (Scaphoid overlapping Radius by 2×3 px); prediction = shift columns right."""
    t = np.zeros((30, 50, 48), np.uint8)
    for k in range(30):
        r0, c0 = 2 + 8 * (k // 5), 2 + 9 * (k % 5)
        t[k, r0 : r0 + 4, c0 : c0 + 5] = 1
    r, s = anatomy.HAND_BONES.index("Radius"), anatomy.HAND_BONES.index("Scaphoid")
    t[s] = np.roll(np.roll(t[r], 2, axis=0), 2, axis=1)  # AND(Radius, Scaphoid) = 2 rows × 3 columns
    return np.roll(t, shift, axis=2), t


@pytest.fixture
def seg_folders(tmp_path):
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    for stem, shift in (("img_a", 1), ("img_b", 2)):
        p, t = grid_masks(shift)
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
    assert "DSC Capitate" in df.columns and "Overlap DSC Radius&Scaphoid" in df.columns
    # by hand: a 4×5 rectangle shifted by d columns keeps 4×(5−d) px: DSC = (5−d)/5, IoU = (5−d)/(5+d)
    assert df.loc["img_a", "Mean DSC"] == pytest.approx(4 / 5) and df.loc["img_b", "Mean DSC"] == pytest.approx(3 / 5)
    assert df.loc["img_a", "Mean VOE"] == pytest.approx(1 - 4 / 6) and df.loc["img_b", "Mean VOE"] == pytest.approx(
        1 - 3 / 7
    )
    assert df.loc[names.AVERAGE_ROW, "Mean DSC"] == pytest.approx(0.7)
    assert df.loc[names.AVERAGE_ROW, "Mean RAVD"] == 0.0
    # d = 1: each of the 14 boundary pixels is ≤ 1 px from the other boundary (NSD 1); 6 of them at 1 px, per side
    assert df.loc["img_a", "Mean NSD"] == 1.0 and df.loc["img_a", "Mean MSD"] == pytest.approx(12 / 28)
    # the only overlapping pair: AND = 2×3 px, shifted by d -> 2×(3−d) in common: DSC_O = (3−d)/3
    assert df.loc["img_a", "Mean Overlap DSC"] == pytest.approx(2 / 3)
    assert df.loc["img_b", "Mean Overlap DSC"] == pytest.approx(1 / 3)
    assert df.loc[names.AVERAGE_ROW, "Mean Overlap DSC"] == pytest.approx(0.5)
    assert "DSC_O" in stdout and "0.5000" in stdout and "0.7000" in stdout


def test_segmentation_bad_inputs(seg_folders, tmp_path, capsys):
    pred, truth = seg_folders
    out = tmp_path / "bad.csv"
    base = ["evaluate", "segmentation", "--pred", str(pred), "--truth", str(truth), "--out", str(out)]
    # non-binary values
    np.save(pred / "img_b.npy", np.full((30, 50, 48), 2, np.uint8))
    assert_one_line_error(*run(base, capsys)[::2], "img_b.npy", "other than 0 and 1")
    # shape mismatch
    np.save(pred / "img_b.npy", np.zeros((30, 20, 48), bool))
    assert_one_line_error(*run(base, capsys)[::2], "img_b.npy", "shape")
    # missing truth
    np.save(pred / "img_b.npy", np.zeros((30, 50, 48), bool))
    np.save(pred / "img_c.npy", np.zeros((30, 50, 48), bool))
    assert_one_line_error(*run(base, capsys)[::2], "img_c", "no truth")
    (pred / "img_c.npy").unlink()
    # missing prediction
    (pred / "img_b.npy").unlink()
    assert_one_line_error(*run(base, capsys)[::2], "img_b", "no prediction")
    # class names of the wrong length; unreadable npy
    names_json = tmp_path / "names.json"
    names_json.write_text(json.dumps(["a", "b"]))
    np.save(pred / "img_b.npy", np.zeros((30, 50, 48), bool))
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
        # BE: SvdH-BE-90, SvdH-BE-50 and Non-SvdH-BE overlap; priority 90 > 50 > Non decides the shared pixels
        l90 = np.zeros((24, 28), np.uint8)
        l90[5:10, 5:10] = 1
        l50 = np.zeros((24, 28), np.uint8)
        l50[8:14, 8:14] = 1
        lnon = np.zeros((24, 28), np.uint8)
        lnon[9:18, 3:12] = 1  # covers part of 90 (rows 9, cols 5..9) and of 50 (rows 9..13, cols 8..11)
        for name, plane in (("SvdH-BE-90", l90), ("SvdH-BE-50", l50), ("Non-SvdH-BE", lnon)):
            be_anns.append({"id": len(be_anns), "image_id": i, "category_id": be_id[name],
                            "segmentation": encode_mask(plane), "bbox": mask_bbox(plane), "iscrowd": 0})  # fmt: skip
        be_truth[stem] = np.stack([l90, l50 & (1 - l90), lnon & (1 - l90) & (1 - l50)]).astype(bool)
        assert (lnon & l90).sum() == 5 and (lnon & l50 & (1 - l90)).sum() == 18 and be_truth[stem][2].sum() == 58
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
    # the prediction is the truth with the priority applied: every channel is exact only if the truth has it too
    for c in ("SvdH-BE-90", "SvdH-BE-50", "Non-SvdH-BE"):
        assert df.loc[names.AVERAGE_ROW, f"DSC {c}"] == 1.0, c  # 90 > 50, 90 > Non, 50 > Non
    # (without the priority the truth's Non-SvdH-BE would hold 81 px, not 58: DSC 2·58/(58 + 81) < 1)
    assert "PREC" in stdout


def write_scores(path, rows, header="hand,joint,score"):
    path.write_text(header + "\n" + "".join(f"{h},{j},{s}\n" for h, j, s in rows))


def test_scores_cli_be(tmp_path, capsys):
    # by hand, raw scores: truth h1 R 0, Scaphoid 5; h2 R 3, Scaphoid 0 — prediction h1 0, 3; h2 3, 1
    write_scores(tmp_path / "t.csv", [("h1", "R", 0), ("h1", "Scaphoid", 5), ("h2", "R", 3), ("h2", "Scaphoid", 0)])
    write_scores(tmp_path / "p.csv", [("h1", "Radius", 0), ("h1", "Scaphoid", 3), ("h2", "BE_R", 3),
                                      ("h2", "Scaphoid", 1)])  # fmt: skip
    out = tmp_path / "out" / "scores.csv"
    argv = ["evaluate", "scores", "--pred", str(tmp_path / "p.csv"), "--truth", str(tmp_path / "t.csv"),
            "--kind", "be", "--out", str(out)]  # fmt: skip
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    df = pd.read_csv(out).set_index(names.NAME)
    assert df[names.SCOPE].tolist() == [names.OVERALL, names.JOINT, names.JOINT]
    assert df.index.tolist() == ["All", "Radius", "Scaphoid"]
    overall = df.loc["All"]
    assert overall[names.N] == 4 and overall[names.ACC] == 0.5
    assert overall[names.MAE] == pytest.approx((0 + 2 + 0 + 1) / 4)  # 5 -> 3 counts 2
    assert overall[names.W1_ACC] == pytest.approx(3 / 4) and overall[names.PN_ACC] == pytest.approx(3 / 4)
    assert overall[names.PN_SEN] == pytest.approx(2 / (2 + 1e-8))
    # BACC over labels {0, 1, 3, 5}: recalls 1/2, 0 (only predicted), 1, 0
    assert overall[names.BACC] == pytest.approx(0.375)
    # QWK, ranks 0,1,3,5 -> 0..3: observed (0,0) (3,2) (2,2) (0,1); rows 2,0,1,1; columns 1,1,2,0;
    # Σw·O = 1 + 1 = 2, Σw·E = 4.5 + 1.25 + 3.75 = 9.5 -> 1 − 2/9.5 = 15/19
    assert overall[names.QWK] == pytest.approx(15 / 19)
    assert df.loc["Radius", names.QWK] == 1.0 and df.loc["Radius", names.MAE] == 0.0
    # Scaphoid: t 5, 0 vs p 3, 1: ranks (3 -> 2), (0 -> 1); Σw·O = 2, Σw·E = (1 + 4 + 4 + 1)/2 = 5
    assert df.loc["Scaphoid", names.QWK] == pytest.approx(0.6) and df.loc["Scaphoid", names.MAE] == 1.5
    assert "Spearman" in stdout
    assert (out.parent / "scores_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (out.parent / "scores_confusion_joints.png").exists()
    code, _, err = run([*argv[:-2], "--out", str(tmp_path / "v.csv"), "--qwk-weights", "value"], capsys)
    assert code == 0, err
    # value weights (a − b)²: Σw·O = 4 + 1 = 5; rows 0:2, 3:1, 5:1; columns 0:1, 1:1, 3:2;
    # Σw·E = [2·(0·1 + 1·1 + 9·2) + 1·(9·1 + 4·1 + 0·2) + 1·(25·1 + 16·1 + 4·2)]/4 = (38 + 13 + 49)/4 = 25
    assert pd.read_csv(tmp_path / "v.csv").loc[0, names.QWK] == pytest.approx(1 - 5 / 25)


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
