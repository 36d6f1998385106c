"""Bad-input corpus: every broken file gives one clear line naming the file and the problem.

Each case breaks one thing in a fresh tiny tree and is checked through the Python API (RamkitError or
RamkitWarning naming the file) and through the CLI (``ramkit check``: exactly one ERROR/WARN line naming the
file, or for a non-dataset exactly one ``ramkit: error:`` line on stderr; never a traceback).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest_data import build_h1200, build_w600, run_cli, write_dicom
from PIL import Image

from ramkit.errors import RamkitError, RamkitWarning
from ramkit.io.coco import CocoFile
from ramkit.io.h1200 import H1200
from ramkit.io.images import read_gray, read_radiograph
from ramkit.io.layout import detect


def _first_image(root, split="train"):
    return sorted((root / "Segmentation" / split).glob("*.bmp"))[0]


def _edit_json(path, fn):
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


# ---- each case: break the tree, return (bad file, API call, expected API text, CLI level, CLI text) ----
def truncated_bmp(root):
    p = _first_image(root)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p, lambda: read_gray(p), "corrupt or truncated image", "ERROR", "corrupt or truncated image"


def rgb_image(root):
    p = _first_image(root)
    g = np.asarray(Image.open(p))
    Image.fromarray(np.stack([g, g // 2, g], -1)).save(p, format="BMP")
    return p, lambda: read_gray(p), "RGB image with different channels", "WARN", "RGB image with different channels"


def image_16bit(root):
    p = _first_image(root)
    g = np.asarray(Image.open(p)).astype(np.uint16) * 257
    q = p.with_suffix(".png")
    Image.fromarray(g).save(q)
    p.unlink()
    for name in ("_annotations_bone_rle.coco.json", "_annotations_be_rle.coco.json"):
        _edit_json(
            p.parent / name, lambda d: [im.update(file_name=q.name) for im in d["images"] if im["file_name"] == p.name]
        )
    [s] = [s for s in H1200(root).seg("train") if s.image_path == q]
    return q, s.image, "uint16 image, expected 8-bit grey", "ERROR", "uint16 image, expected 8-bit grey"


def malformed_json(root):
    p = root / "Segmentation" / "val" / "_annotations_be_rle.coco.json"
    p.write_text(p.read_text()[:-20])
    return p, lambda: CocoFile(p), "malformed JSON", "ERROR", "malformed JSON"


def unknown_category(root):
    p = root / "Segmentation" / "test" / "_annotations_bone_rle.coco.json"
    _edit_json(p, lambda d: d["categories"].append({"id": 77, "name": "Wristwatch", "supercategory": "hand-bones"}))
    return (
        p,
        lambda: H1200(root).seg("test"),
        "unknown bone category 'Wristwatch'",
        "ERROR",
        "unknown category 'Wristwatch'",
    )


def rle_size(root):
    p = root / "Segmentation" / "train" / "_annotations_bone_rle.coco.json"

    def shrink(d):
        ann = next(a for a in d["annotations"] if isinstance(a["segmentation"], dict))
        ann["segmentation"]["size"] = [47, 40]

    _edit_json(p, shrink)
    return (
        p,
        lambda: [s.bones() for s in H1200(root).seg("train")],
        "RLE size 47x40 differs",
        "ERROR",
        "RLE size 47x40 differs",
    )


def be_score_4(root):
    p = root / "SvdH_Scoring" / "SvdH_BE_Scoring" / "val" / "_annotation_be_scores.json"

    def set4(d):
        d[sorted(d)[0]]["BE_MCP-M"] = 4

    _edit_json(p, set4)
    return (
        p,
        lambda: H1200(root).scores("be", "val"),
        "BE_MCP-M: score 4 not in [0, 1, 2, 3, 5]",
        "ERROR",
        "BE_MCP-M: score 4 not in",
    )


def missing_roi(root):
    d = root / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "test"
    hand = sorted(p for p in d.iterdir() if p.is_dir())[0]
    p = hand / "STT.bmp"
    p.unlink()
    return (
        p,
        lambda: H1200(root).scores("jsn", "test"),
        f"ROI file(s) missing, joints skipped: {hand.name}/STT.bmp",
        "ERROR",
        "missing ROI file",
    )


def missing_key(root):
    p = root / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "train" / "_annotation_jsn_scores.json"
    _edit_json(p, lambda d: d[sorted(d)[0]].pop("JSN_SC"))
    return (
        p,
        lambda: H1200(root).scores("jsn", "train"),
        "score key(s) missing, joints skipped",
        "ERROR",
        "missing score key JSN_SC",
    )


CASES = [
    truncated_bmp,
    rgb_image,
    image_16bit,
    malformed_json,
    unknown_category,
    rle_size,
    be_score_4,
    missing_roi,
    missing_key,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_file(case, tmp_path, capsys):
    root = build_h1200(tmp_path, per_split=1)["_root"]
    bad, api, api_text, level, cli_text = case(root)
    capsys.readouterr()
    if level == "ERROR" and case not in (missing_roi, missing_key):
        with pytest.raises(RamkitError) as info:
            api()
        msg = str(info.value)
        assert bad.name in msg and api_text in msg and "\n" not in msg
    else:
        with pytest.warns(RamkitWarning) as rec:
            api()
        msgs = [str(w.message) for w in rec if issubclass(w.category, RamkitWarning)]
        assert any(api_text in m and (bad.name in m or bad.parent.name in m) for m in msgs), msgs
    code, out, err = run_cli(["check", root], capsys)
    assert "Traceback" not in out + err
    problems = [ln for ln in out.splitlines() if ln.startswith(("ERROR ", "WARN "))]
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(level + " ") and bad.name in line and cli_text in line, line
    assert code == (1 if level == "ERROR" else 0)


def test_dicom_without_pixel_spacing(tmp_path):
    p = write_dicom(tmp_path / "hand_L.dcm", np.full((12, 9), 300, np.uint16), bits_stored=12)
    with pytest.warns(RamkitWarning) as rec:
        r = read_radiograph(p)
    msgs = [str(w.message) for w in rec]
    assert msgs == [f"{p}: DICOM has no PixelSpacing or ImagerPixelSpacing; image not resampled (spacing unknown)"]
    assert r.pixels.shape == (12, 9) and r.flipped and r.spacing_mm is None


def test_truncated_dicom_is_an_error(tmp_path):
    p = write_dicom(tmp_path / "t.dcm", np.full((40, 40), 300, np.uint16), spacing=0.1)
    p.write_bytes(p.read_bytes()[:-1000])
    with pytest.raises(RamkitError, match="t.dcm: "):
        read_radiograph(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello")
    with pytest.raises(RamkitError, match="notes.png: not a readable image"):
        read_gray(p)


def test_empty_directory(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RamkitError, match=f"{empty}: folder is empty"):
        detect(empty)
    code, out, err = run_cli(["check", empty], capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("ramkit: error:")]
    assert code == 2 and len(lines) == 1 and str(empty) in lines[0] and "Traceback" not in out + err


def test_w600_malformed_gt_json(tmp_path, capsys):
    root = build_w600(tmp_path, per_split=1)["_root"]
    gt = root / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json"
    gt.write_text('[{"identifier": ')
    from ramkit.io.w600 import W600

    with pytest.raises(RamkitError, match="JointBE_SvdH_GT.json: malformed JSON"):
        W600(root).scores("train")
    code, out, err = run_cli(["check", root], capsys)
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR ")]
    # the GT file is reported once; the ROI folders that now lack an entry are reported individually
    assert sum("JointBE_SvdH_GT.json: malformed JSON" in ln for ln in errors) == 1
    assert code == 1 and "Traceback" not in out + err
