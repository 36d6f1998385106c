"""Tests of the synthetic cohort generator: layout, categories, scores, overlaps, progression, splits,
determinism, atomic writing and a round trip through the COCO masks and (when present) the readers."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ramkit import anatomy
from ramkit.errors import RamkitError
from ramkit.io.coco import CocoFile
from ramkit.synth import draw_hand, generate_cohort
from ramkit.synth.cohort import redraw_hand, redraw_wrist
from ramkit.synth.geometry import be_score_from_fraction, draw_anatomy, jsn_score_from_ratio

HANDS, WRISTS, SEED = 7, 5, 3


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    info = generate_cohort(out, hands=HANDS, seed=SEED, size="small", progress=False, wrists=WRISTS)
    return out, info


def _h(out: Path) -> Path:
    return out / "RAM-H1200-v1"


def _w(out: Path) -> Path:
    return out / "RAM-W600"


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ layout
def test_h1200_layout_names(cohort):
    out, info = cohort
    root = _h(out)
    stems = []
    for split in anatomy.SPLITS:
        seg = root / "Segmentation" / split
        assert (seg / "_annotations_bone_rle.coco.json").is_file()
        assert (seg / "_annotations_be_rle.coco.json").is_file()
        bmps = sorted(seg.glob("*.bmp"))
        assert bmps, f"split {split} is empty"
        for p in bmps:
            assert re.match(anatomy.H1200_STEM_PATTERN, p.stem), p.name
            from PIL import Image

            with Image.open(p) as im:
                assert im.format == "BMP" and im.mode in ("L", "P")
            stems.append((split, p.stem))
        for kind, joints in (("be", anatomy.BE_JOINTS), ("jsn", anatomy.JSN_JOINTS)):
            folder = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            scores = json.loads((folder / f"_annotation_{kind}_scores.json").read_text())
            assert set(scores) == {p.name for p in bmps}
            for name, per_joint in scores.items():
                assert list(per_joint) == [j.key for j in joints]
                assert sorted(q.stem for q in (folder / Path(name).stem).glob("*.bmp")) == sorted(
                    j.stem for j in joints
                )
            det = json.loads((folder / f"_annotations_{kind}_joint_detection.coco.json").read_text())
            assert [c["name"] for c in det["categories"][1:]] == [j.stem for j in joints]
            assert len(det["annotations"]) == len(bmps) * len(joints)
    assert len(stems) == HANDS and info["hand"]["images"] == HANDS


def test_h1200_metadata(cohort):
    import pandas as pd

    out, _ = cohort
    df = pd.read_excel(_h(out) / "Metadata.xlsx", engine="openpyxl")
    assert list(df.columns) == list(anatomy.H1200_METADATA_COLUMNS)
    assert len(df) == HANDS
    for _, r in df.iterrows():
        m = re.match(anatomy.H1200_STEM_PATTERN, r["Mapped Image Stem"])
        assert m and m["side"] == r["LR"] and m["center"] == r["Center"]
        assert r["Center"] in anatomy.H1200_CENTERS
        h, w = (int(v) for v in str(r["ImageSize"]).split("x"))
        assert (h, w)[0] > 0 and r["PixelSpacing"] == pytest.approx(anatomy.H1200_SPACING_MM * 4)
    for _, g in df.groupby("Normalized PatientID"):
        assert sorted(g["StudyID"]) == list(range(1, len(g) + 1))


def test_w600_layout_names(cohort):
    out, info = cohort
    root = _w(out)
    imgs = sorted((root / "BoneSegmentation" / "images").glob("*.bmp"))
    assert len(imgs) == WRISTS
    gt = json.loads((root / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json").read_text())
    assert isinstance(gt, list) and len(gt) == WRISTS
    for e in gt:
        assert set(e) == {"identifier", "patient_id", "study_id", "hand", "joints"}
        assert e["identifier"] == f"{e['patient_id']}_{e['study_id']}_{e['hand']}"
        assert list(e["joints"]) == [j.key for j in anatomy.W600_JOINTS]
    masks = {}
    for split in anatomy.SPLITS:
        for p in (root / "BoneSegmentation" / "masks" / split).glob("*.npy"):
            masks[p.stem] = split
            arr = np.load(p)
            assert arr.dtype == np.uint8 and arr.shape == (len(anatomy.WRIST_BONES), 160, 160)
            folder = root / "SvdHBEScoreClassification" / split / p.stem
            assert sorted(q.stem for q in folder.glob("*.bmp")) == sorted(j.stem for j in anatomy.W600_JOINTS)
    assert set(masks) == {p.stem for p in imgs} and set(masks.values()) == set(anatomy.SPLITS)
    for p in imgs:
        assert re.match(anatomy.W600_STEM_PATTERN, p.stem)
        assert (root / "JointLocationDetection" / "images" / p.name).is_file()
    det = CocoFile(root / "JointLocationDetection" / "Joints.coco.json")
    for im in det.images.values():
        boxes = det.boxes(im)
        assert sorted(boxes) == sorted(j.stem for j in anatomy.W600_JOINTS)
        for (b,) in boxes.values():
            assert b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= im.width and b[1] + b[3] <= im.height


# ------------------------------------------------------------------------------------------------ categories
def test_categories_and_annotation_fields(cohort):
    out, _ = cohort
    for split in anatomy.SPLITS:
        seg = _h(out) / "Segmentation" / split
        bone = json.loads((seg / "_annotations_bone_rle.coco.json").read_text())
        be = json.loads((seg / "_annotations_be_rle.coco.json").read_text())
        assert bone["categories"] == anatomy.h1200_bone_categories()
        assert be["categories"] == anatomy.h1200_be_categories()
        kept = [
            c
            for c in sorted(bone["categories"], key=lambda c: c["id"])
            if c["id"] != 0 and c["name"] not in anatomy.DROPPED_BONE_CATEGORY_NAMES
        ]
        assert tuple(c["name"] for c in kept) == anatomy.HAND_BONES
        ids = [a["id"] for a in bone["annotations"]]
        assert len(set(ids)) == len(ids)
        for a in bone["annotations"] + be["annotations"]:
            assert set(a) == {"id", "image_id", "category_id", "bbox", "area", "segmentation", "iscrowd"}
            assert a["iscrowd"] == 0 and a["area"] > 0 and set(a["segmentation"]) == {"size", "counts"}
        # every bone present in every hand (one or more annotations per category)
        per_image = defaultdict(set)
        for a in bone["annotations"]:
            per_image[a["image_id"]].add(a["category_id"])
        names = {c["id"]: c["name"] for c in bone["categories"]}
        for im in bone["images"]:
            assert set(anatomy.HAND_BONES) <= {names[i] for i in per_image[im["id"]]}


def test_some_bones_split_into_several_annotations(cohort):
    out, _ = cohort
    multi = 0
    for split in anatomy.SPLITS:
        bone = json.loads((_h(out) / "Segmentation" / split / "_annotations_bone_rle.coco.json").read_text())
        c = defaultdict(int)
        for a in bone["annotations"]:
            c[(a["image_id"], a["category_id"])] += 1
        multi += sum(v > 1 for v in c.values())
    assert multi > 0


# ------------------------------------------------------------------------------------------------ scores
def test_scores_in_value_sets_and_totals(cohort):
    out, _ = cohort
    for kind in ("be", "jsn"):
        for split in anatomy.SPLITS:
            folder = _h(out) / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            for per_joint in json.loads((folder / f"_annotation_{kind}_scores.json").read_text()).values():
                assert all(v in anatomy.SCORE_VALUES[kind] for v in per_joint.values())
                assert 0 <= sum(per_joint.values()) <= anatomy.MAX_TOTAL[kind]
    gt = json.loads((_w(out) / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json").read_text())
    assert all(v in anatomy.SCORE_VALUES["w600"] for e in gt for v in e["joints"].values())


def test_score_rules_are_monotone():
    fr = np.linspace(0, 1, 200)
    be = [be_score_from_fraction(f) for f in fr]
    assert be[0] == 0 and be[-1] == 5 and set(be) == set(anatomy.SCORE_VALUES["be"])
    assert all(a <= b for a, b in zip(be, be[1:], strict=False))
    js = [jsn_score_from_ratio(r) for r in fr[::-1]]
    assert js[0] == 0 and js[-1] == 4 and set(js) == set(anatomy.SCORE_VALUES["jsn"])
    assert all(a <= b for a, b in zip(js, js[1:], strict=False))


def test_score_distribution_skewed_to_zero(tmp_path):
    """Across a cohort most joints are 0 but every kind has positives (learnable, like the real data)."""
    be, jsn = [], []
    for i in range(12):
        rng = np.random.default_rng([9, i])
        d = draw_hand(rng, draw_anatomy(rng), size="small")
        be += d.be_scores.values()
        jsn += d.jsn_scores.values()
    be, jsn = np.array(be), np.array(jsn)
    assert 0.5 < (be == 0).mean() < 0.97 and 0.5 < (jsn == 0).mean() < 0.97


# ------------------------------------------------------------------------------------------------ anatomy
def test_overlap_pairs_overlap(cohort):
    for i in range(HANDS):
        _, _, d = redraw_hand(HANDS, SEED, i)
        b = {n: d.bones[k] > 0 for k, n in enumerate(anatomy.HAND_BONES)}
        empty = [(x, y) for x, y in anatomy.OVERLAP_PAIRS if not (b[x] & b[y]).any()]
        assert not empty, empty


def test_lesions_lie_on_bone_removed_pixels():
    rng = np.random.default_rng([4, 4])
    d = draw_hand(rng, draw_anatomy(rng, severity=1.0), size="small")
    lesions = d.be.any(0)
    assert lesions.any()
    assert sum(d.be_scores.values()) > 0
    # a lesion is what the bite removed: no bone keeps those pixels... except a neighbouring bone's overlap
    bone_cover = d.bones[[k for k, n in enumerate(anatomy.HAND_BONES) if n != "SoftTissue"]].sum(0)
    assert (bone_cover[lesions] == 0).mean() > 0.6


# ------------------------------------------------------------------------------------------------ cohort plan
def test_monotone_progression_and_patient_splits(cohort):
    out, _ = cohort
    visits = defaultdict(list)
    split_of = defaultdict(set)
    for split in anatomy.SPLITS:
        for kind in ("be", "jsn"):
            folder = _h(out) / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            for name, per_joint in json.loads((folder / f"_annotation_{kind}_scores.json").read_text()).items():
                m = re.match(anatomy.H1200_STEM_PATTERN, Path(name).stem)
                visits[(m["patient"], kind)].append((m["date"], per_joint))
                split_of[m["patient"]].add(split)
    assert all(len(s) == 1 for s in split_of.values())
    assert any(len(v) > 1 for v in visits.values())
    for seq in visits.values():
        seq.sort(key=lambda t: t[0])
        for (_, a), (_, b) in zip(seq, seq[1:], strict=False):
            assert all(b[k] >= a[k] for k in a), (a, b)
    # wrists
    gt = json.loads((_w(out) / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json").read_text())
    by_pat = defaultdict(list)
    for e in gt:
        by_pat[e["patient_id"]].append(e)
    wsplit = {}
    for split in anatomy.SPLITS:
        for p in (_w(out) / "BoneSegmentation" / "masks" / split).glob("*.npy"):
            wsplit.setdefault(p.stem.split("_")[0], set()).add(split)
    assert all(len(s) == 1 for s in wsplit.values())
    for seq in by_pat.values():
        seq.sort(key=lambda e: e["study_id"])
        for a, b in zip(seq, seq[1:], strict=False):
            assert all(b["joints"][k] >= a["joints"][k] for k in a["joints"])


def test_splits_are_stratified_by_disease():
    """Positive-joint rates of val/test stay within 2/3x-1.5x of train (BE, JSN and W600) for ~48 hands.

    Scores are taken from the geometry each radiograph is drawn from (the written scores are exactly these,
    see the round-trip tests), so no pixels are rasterised here.
    """
    from ramkit.synth.cohort import _hand_anatomy, _plan_hands, _plan_wrists, _visit_progress, _wrist_anatomy
    from ramkit.synth.geometry import W600_TO_BE, Pose, build_hand

    n, seed = 48, 0
    pos: dict[tuple[str, str], list[bool]] = defaultdict(list)
    images = defaultdict(int)
    anats = {}
    for h in _plan_hands(n, seed):
        a = anats.setdefault(("h", h.patient), _hand_anatomy(seed, h.patient))
        g = build_hand(a, Pose.draw(np.random.default_rng([seed, 1, h.index])), _visit_progress(h.visit, h.n_visits))
        for j in g.joints:
            pos[(h.split, j.kind)].append(j.score > 0)
        images[h.split] += 1
    for index, p, _, _, _, split, v, nv in _plan_wrists(n, seed):
        a = anats.setdefault(("w", p), _wrist_anatomy(seed, p))
        g = build_hand(a, Pose.draw(np.random.default_rng([seed, 4, index])), _visit_progress(v, nv), wrist_view=True)
        be = {j.stem: j.score for j in g.joints if j.kind == "be"}
        pos[(split, "w600")] += [be[W600_TO_BE[j.stem]] > 0 for j in anatomy.W600_JOINTS]
    assert 0.5 <= images["train"] / n <= 0.7 and all(images[s] >= 0.12 * n for s in ("val", "test"))
    for kind in ("be", "jsn", "w600"):
        rate = {s: float(np.mean(pos[(s, kind)])) for s in anatomy.SPLITS}
        assert rate["train"] > 0.05, (kind, rate)
        for s in ("val", "test"):
            assert 2 / 3 <= rate[s] / rate["train"] <= 1.5, (kind, rate)


def test_tiny_cohorts_have_every_split():
    from ramkit.synth.cohort import _plan_hands, _plan_wrists

    for n in (3, 4, 5, 7, 10):
        for seed in range(3):
            assert {h.split for h in _plan_hands(n, seed)} == set(anatomy.SPLITS)
            assert {e[5] for e in _plan_wrists(n, seed)} == set(anatomy.SPLITS)


def test_medium_size_cohort(tmp_path):
    """A 3-hand/3-wrist medium cohort has the medium image sizes and spacing and passes ramkit.check cleanly."""
    import pandas as pd
    from PIL import Image

    from ramkit.synth.phantom import SIZES

    info = generate_cohort(tmp_path, hands=3, seed=2, size="medium", progress=False, wrists=3)
    H, W, sp = SIZES["medium"]["hand"]
    df = pd.read_excel(_h(tmp_path) / "Metadata.xlsx", engine="openpyxl")
    assert len(df) == 3 and list(df["PixelSpacing"]) == pytest.approx([sp] * 3)
    for split in anatomy.SPLITS:
        for p in (_h(tmp_path) / "Segmentation" / split).glob("*.bmp"):
            with Image.open(p) as im:
                assert im.size[1] == H and abs(im.size[0] - W) <= 32, im.size
    wh, ww, _ = SIZES["medium"]["wrist"]
    for p in (_w(tmp_path) / "BoneSegmentation" / "images").glob("*.bmp"):
        with Image.open(p) as im:
            assert im.size == (ww, wh)
    assert info["hand"]["images"] == 3 and info["wrist"]["images"] == 3
    check_mod = pytest.importorskip("ramkit.check")
    for root in (_h(tmp_path), _w(tmp_path)):
        report = check_mod.check(root)
        assert report.ok and not report.errors, [e.line() for e in report.errors]


def test_determinism_and_cli(tmp_path):
    from ramkit.cli import main

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_cohort(a, hands=3, seed=11, progress=False, wrists=3)
    try:
        main(["synth", str(b), "--hands", "3", "--seed", "11", "--wrists", "3"])
    except SystemExit as exc:  # typer may exit 0 explicitly
        assert exc.code in (0, None)
    generate_cohort(c, hands=3, seed=12, progress=False, wrists=3)
    for root in ("RAM-H1200-v1", "RAM-W600"):
        assert _tree_hash(a / root) == _tree_hash(b / root)
        assert _tree_hash(a / root) != _tree_hash(c / root)
    assert sorted(p.name for p in a.iterdir()) == ["RAM-H1200-v1", "RAM-W600"]  # no temp folders left


def test_hand_independent_of_generation_order():
    s1, _, d1 = redraw_hand(9, 5, 4)
    s2, _, d2 = redraw_hand(9, 5, 4)
    assert s1 == s2 and np.array_equal(d1.image, d2.image) and np.array_equal(d1.bones, d2.bones)


def test_bad_arguments_and_atomicity(tmp_path, monkeypatch):
    with pytest.raises(RamkitError):
        generate_cohort(tmp_path / "x", hands=2, progress=False)
    with pytest.raises(RamkitError):
        generate_cohort(tmp_path / "x", hands=3, size="huge", progress=False)
    import ramkit.synth.cohort as cohort_mod

    calls = {"n": 0}
    real = cohort_mod._draw_planned_hand

    def boom(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("crash in the middle")
        return real(*args, **kw)

    monkeypatch.setattr(cohort_mod, "_draw_planned_hand", boom)
    with pytest.raises(RuntimeError):
        generate_cohort(tmp_path / "y", hands=3, progress=False)
    assert not (tmp_path / "y").exists() or not any((tmp_path / "y").iterdir())


# ------------------------------------------------------------------------------------------------ round trip
def test_rle_round_trip_equals_drawn_masks(cohort):
    out, _ = cohort
    for i in range(HANDS):
        stem, split, d = redraw_hand(HANDS, SEED, i)
        seg = _h(out) / "Segmentation" / split
        bone = CocoFile(seg / "_annotations_bone_rle.coco.json")
        assert np.array_equal(bone.masks(f"{stem}.bmp", anatomy.HAND_BONES), d.bones)
        assert np.array_equal(bone.masks(f"{stem}.bmp", anatomy.NON_BONE_OBJECTS), d.objects)
        be = CocoFile(seg / "_annotations_be_rle.coco.json")
        assert np.array_equal(be.masks(f"{stem}.bmp", anatomy.BE_CATEGORIES), d.be)
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(seg / f"{stem}.bmp").convert("L")), d.image)
        for kind, boxes in (("be", d.be_boxes), ("jsn", d.jsn_boxes)):
            det = CocoFile(
                _h(out)
                / "SvdH_Scoring"
                / f"SvdH_{kind.upper()}_Scoring"
                / split
                / f"_annotations_{kind}_joint_detection.coco.json"
            )
            got = {k: tuple(int(v) for v in b[0]) for k, b in det.boxes(f"{stem}.bmp").items()}
            assert got == boxes


def test_readers_return_drawn_data(cohort):
    pytest.importorskip("ramkit.io.h1200")
    pytest.importorskip("ramkit.io.w600")
    from ramkit.io.h1200 import H1200
    from ramkit.io.w600 import W600

    out, _ = cohort
    ds = H1200(_h(out))
    drawn = {}
    for i in range(HANDS):
        stem, split, d = redraw_hand(HANDS, SEED, i)
        drawn[stem] = (split, d)
    seen = 0
    for split in anatomy.SPLITS:
        for s in ds.seg(split, be_protocol="3class"):
            _, d = drawn[s.stem]
            assert np.array_equal(s.image(), d.image)
            assert np.array_equal(s.bones(), d.bones)
            assert np.array_equal(s.be_masks(), d.be)
            seen += 1
        for kind in ("be", "jsn"):
            for r in ds.scores(kind, split):
                d = drawn[r.hand][1]
                assert r.score == (d.be_scores if kind == "be" else d.jsn_scores)[r.joint.stem]
            for stem, boxes in ds.joint_boxes(kind, split).items():
                want = drawn[stem][1].be_boxes if kind == "be" else drawn[stem][1].jsn_boxes
                assert {k: tuple(int(v) for v in b) for k, b in boxes.items()} == want
    assert seen == HANDS
    w = W600(_w(out))
    wdrawn = {}
    for i in range(WRISTS):
        stem, split, img, masks, boxes, sc = redraw_wrist(WRISTS, SEED, i)
        wdrawn[stem] = (img, masks, boxes, sc)
    n = 0
    for split in anatomy.SPLITS:
        for s in w.seg(split):
            img, masks, _, _ = wdrawn[s.stem]
            assert np.array_equal(s.image(), img) and np.array_equal(s.masks(), masks)
            n += 1
        for r in w.scores(split):
            assert r.score == wdrawn[r.hand][3][r.joint.stem]
    assert n == WRISTS
    for stem, boxes in w.joint_boxes().items():
        assert {k: tuple(int(v) for v in b) for k, b in boxes.items()} == wdrawn[stem][2]


def test_check_reports_no_problems(cohort):
    check_mod = pytest.importorskip("ramkit.check")
    out, _ = cohort
    for root in (_h(out), _w(out)):
        report = check_mod.check(root)
        assert report.ok and not report.errors and not report.warnings, [
            p.line() for p in report.errors + report.warnings
        ]


@pytest.mark.slow
def test_full_size_shapes():
    rng = np.random.default_rng([1, 2])
    anat = draw_anatomy(rng)
    d = draw_hand(rng, anat, size="full", width_jitter=False)
    assert d.image.shape == (1720, 1280) and d.bones.shape == (30, 1720, 1280)
    w = draw_hand(rng, anat, size="full", view="wrist")
    assert w.image.shape == (600, 600) and w.wrist_masks.shape == (14, 600, 600)


# ------------------------------------------------------------------------------------------------ label defects
def _defects_over_seeds(view: str, seeds: range, size: str = "small") -> dict[str, list]:
    from ramkit.synth.cohort import _hand_anatomy, _wrist_anatomy
    from ramkit.synth.labels import label_defects

    found: dict[str, list] = {"holes": [], "fragments": [], "out_of_crop": []}
    positives = 0
    for seed in seeds:
        anat = (_wrist_anatomy if view == "wrist" else _hand_anatomy)(seed, 0)
        d = draw_hand(np.random.default_rng([seed, 9]), anat, size=size, view=view)
        positives += sum(v > 0 for v in d.be_scores.values())
        for k, v in label_defects(d).items():
            found[k] += [(seed, *t) for t in v]
    found["positives"] = [positives]
    return found


def test_label_defect_checks_find_planted_defects():
    from ramkit.synth.labels import bone_holes, small_components

    m = np.zeros((20, 20), bool)
    m[2:12, 2:12] = True
    m[5:7, 5:7] = False  # a 4 px hole
    m[15, 15] = True  # a 1 px fragment
    les = np.zeros_like(m)
    assert bone_holes(m).sum() == 4 and small_components(m) == [1]
    les[5:7, 5:7] = True  # a drawn lesion there is not a hole
    assert bone_holes(m, les).sum() == 0


def test_clean_masks_fills_holes_and_drops_fragments():
    from ramkit.synth.phantom import _clean_masks

    m = np.zeros((30, 30), bool)
    m[2:20, 2:20] = True
    m[8:10, 8:11] = False  # unlabelled hole
    m[25, 25] = True  # sliver away from any lesion
    m[20:22, 10] = False
    bite = np.zeros_like(m)
    bite[18:21, 12:16] = True  # a bite at the lower margin ...
    m &= ~bite
    m[21, 13] = True  # ... that cut a pixel off the bone
    full = m | bite
    masks, fulls, bites = {"Lunate": m}, {"Lunate": full.copy()}, {"Lunate": [(bite, 1.0)]}
    _clean_masks(masks, fulls, bites)
    assert masks["Lunate"][8:10, 8:11].all() and fulls["Lunate"][8:10, 8:11].all()
    assert not masks["Lunate"][25, 25] and not fulls["Lunate"][25, 25]
    assert not masks["Lunate"][21, 13] and bite[21, 13]  # the cut-off pixel joined the lesion
    from scipy import ndimage

    assert ndimage.label(masks["Lunate"])[1] == 1


@pytest.mark.slow
def test_no_label_defects_in_50_wrists():
    """Zero unlabelled holes, stray fragments and scored erosion pixels outside their ROI crop (50 seeds)."""
    found = _defects_over_seeds("wrist", range(50))
    assert found["positives"][0] > 50  # the check saw many scored erosions
    assert found["holes"] == [] and found["fragments"] == [] and found["out_of_crop"] == []


@pytest.mark.slow
def test_no_label_defects_in_50_hands():
    found = _defects_over_seeds("hand", range(50))
    assert found["positives"][0] > 100
    assert found["holes"] == [] and found["fragments"] == [] and found["out_of_crop"] == []


def test_issue_example_wrist_has_no_hole():
    """Wrist 9180_0001_R of ``ramkit synth OUT --size full --hands 4 --seed 1`` had a 55 px trapezium hole."""
    from ramkit.synth.cohort import _plan_wrists, _visit_progress, _wrist_anatomy
    from ramkit.synth.labels import label_defects

    (e,) = [e for e in _plan_wrists(4, 1) if f"{e[2]}_{e[3]}_{e[4]}" == "9180_0001_R"]
    d = draw_hand(
        np.random.default_rng([1, 4, e[0]]),
        _wrist_anatomy(1, e[1]),
        progress=_visit_progress(e[6], e[7]),
        size="full",
        view="wrist",
    )
    assert label_defects(d) == {"holes": [], "fragments": [], "out_of_crop": []}


# ------------------------------------------------------------------------------------------------ carpus
def _carpus_geometry(seed: int, severity: float | None = None):
    from ramkit.synth.cohort import _hand_anatomy
    from ramkit.synth.geometry import Pose, build_hand

    anat = _hand_anatomy(seed, 0)
    if severity is not None:
        anat.severity = severity
    return anat, build_hand(anat, Pose(0.0, np.zeros(2), np.zeros(6), 0.0), 1.0)


def _joint_line(g, outlines: dict, stem: str):
    """The scored JSN joint ``stem`` of geometry ``g`` and its drawn joint line (mm) at the JSN point: the median
    distance from the first bone's 6 outline points nearest the joint centre to the second bone."""
    (j,) = [j for j in g.joints if j.kind == "jsn" and j.stem == stem]
    a, b = (outlines[n] for n in j.bones)
    a = a[np.argsort(np.linalg.norm(a - j.center, axis=1))[:6]]
    return j, float(np.median(np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1)))


def _min_dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min())


def test_carpus_is_packed_with_scored_gaps_and_overlaps():
    """Tight mosaic: proximal row ~1.3-1.5x the radius, scored gaps drawn at their width where the JSN box sits,
    the carpal overlap pairs overlapping in the geometry itself (not by the image-space fallback lip)."""
    from matplotlib.path import Path as MplPath

    from ramkit.synth.geometry import CARPAL_GAP_MM

    carpal_pairs = [p for p in anatomy.OVERLAP_PAIRS if not any(n.startswith("MC") for n in p)]
    overlapping = 0
    for seed in range(4):
        _, g = _carpus_geometry(seed, severity=0.0)
        o = {n: b.outline for n, b in g.bones.items()}
        row = np.concatenate([o[n] for n in ("Scaphoid", "Lunate", "Pisifrom_Triquetrum")])
        rad = o["Radius"][o["Radius"][:, 1] < o["Radius"][:24, 1].max() + 4.0]  # distal end incl. the styloid
        assert 1.25 <= np.ptp(row[:, 0]) / np.ptp(rad[:, 0]) <= 1.6
        for stem in ("SC", "SR", "STT"):
            j, line = _joint_line(g, o, stem)
            assert j.score == 0
            assert abs(line - CARPAL_GAP_MM) < 0.3, (seed, stem, line)
        for x, y in carpal_pairs:
            overlapping += bool(MplPath(o[y]).contains_points(o[x]).any() or MplPath(o[x]).contains_points(o[y]).any())
        # neighbours share facets: no unscored joint line wider than 1.5 mm at the closest approach
        assert _min_dist(o["Capitate"], o["Hamate"]) < 1.5 and _min_dist(o["Lunate"], o["Pisifrom_Triquetrum"]) < 1.5
    assert overlapping >= 0.9 * 4 * len(carpal_pairs)


def test_carpal_height_and_lunate_follow_pa_anatomy():
    """Healthy carpal height (capitate's distal facet to the radius under it) ~0.54x the MC3 length (Youm's
    ratio, 0.54 +- 0.03), and a lunate as tall as real ones (~12 mm through its centre, not a thin sliver)."""
    heights = []
    for seed in range(6):
        _, g = _carpus_geometry(seed, severity=0.0)
        o = {n: b.outline for n, b in g.bones.items()}
        cap, lun, rad, mc3 = o["Capitate"], o["Lunate"], o["Radius"], o["MC3"]
        surf = rad[rad[:, 1] < rad[:, 1].min() + 14.0]  # distal articular surface
        below = surf[np.argsort(np.abs(surf[:, 0] - cap[:, 0].mean()))[:3], 1].min()
        mc3_len = float(np.sqrt(((mc3[:, None] - mc3[None]) ** 2).sum(-1)).max())
        assert 0.49 <= (below - cap[:, 1].min()) / mc3_len <= 0.59, seed
        centre = lun[np.abs(lun[:, 0] - lun[:, 0].mean()) < 0.6]
        heights.append(np.ptp(centre[:, 1]))
        assert 13.0 <= np.ptp(lun[:, 0]) <= 20.0, seed
    assert 10.5 <= np.mean(heights) <= 14.0 and min(heights) >= 8.0, heights


def test_carpus_rings_collapse_and_fusion():
    from matplotlib.path import Path as MplPath

    from ramkit.synth import carpus

    _, g = _carpus_geometry(0)
    rings = {b: poly for b, poly, _, _ in g.overlap_hints["rings"]}
    assert set(rings) == {"Hamate", "Pisifrom_Triquetrum"}
    for b, poly in rings.items():  # the inner contours lie inside their bone's label
        inside = MplPath(g.bones[b].outline).contains_points(g.bones[b].to_hand(poly))
        assert inside.mean() > 0.9, b
    for seed in range(40):
        anat, _ = _carpus_geometry(seed)
        shape = carpus.draw_shape(np.random.default_rng([anat.seed, 11]))
        if shape.collapse_max > 0:
            break
    else:
        pytest.fail("no collapsing patient in 40 seeds")
    _, healthy = _carpus_geometry(seed, severity=0.0)
    _, severe = _carpus_geometry(seed, severity=1.0)
    assert healthy.overlap_hints["collapse"] == 0 and severe.overlap_hints["collapse"] == pytest.approx(
        shape.collapse_max
    )
    jsn = {j.stem: j for j in severe.joints if j.kind == "jsn"}
    assert jsn["SC"].value <= 1 - 2.5 * shape.collapse_max + 1e-9 and jsn["SC"].score > 0
    h = lambda g, n: g.bones[n].outline  # noqa: E731
    height = lambda g: h(g, "Lunate")[:, 1].max() - h(g, "Capitate")[:, 1].min()  # noqa: E731
    assert height(severe) < height(healthy) - 2.0
    for a, b in shape.fused:  # fused neighbours: no joint line left
        assert _min_dist(h(severe, a), h(severe, b)) < 0.2 < _min_dist(h(healthy, a), h(healthy, b)) + 0.2


def _finger_joint_bones(stem: str) -> tuple[str, str]:
    f = 1 if stem == "IP" else "TIMRS".index(stem[-1]) + 1
    if stem.startswith("MCP-"):
        return f"MC{f}", f"PP{f}"
    return (f"PP{f}", f"MP{f}") if stem != "IP" else ("PP1", "DP1")


def test_finger_joints_condyles_gaps_and_wedges():
    """Heads are flat-topped with a notch, bases mirror them at the joint's gap: the mean gap over the base along
    the distal bone's axis is normal × ratio (the JSN quantity), narrowed gaps are wedge-shaped, normal widths are
    MCP 1.7 mm / PIP 1.0 mm."""
    from ramkit.synth.geometry import HEAD_SHAPE, JSN_STEMS, Pose, build_hand, head_curve, normal_gap_mm

    assert normal_gap_mm("MCP-I") == pytest.approx(1.7) and normal_gap_mm("PIP-M") == normal_gap_mm("IP") == 1.0
    hc = head_curve(5.0, HEAD_SHAPE["PP"])
    top, shoulder = np.interp(0.0, hc[:, 0], hc[:, 1]), np.interp(1.5, hc[:, 0], hc[:, 1])
    assert top < shoulder < 5.0 * 0.8  # a notch between two flat condyles, lower than a semicircle (r = 5)
    wedges = 0
    for seed in range(6):
        a = draw_anatomy(np.random.default_rng(seed), severity=0.8)
        pose = Pose.draw(np.random.default_rng([seed, 1]))
        pose.flexion, pose.spread = np.zeros(5), np.zeros(6)  # the gap in the bones' own, neutral frames
        g = build_hand(a, pose, 1.0)
        vals = {j.stem: j.value for j in g.joints if j.kind == "jsn"}
        for stem in (s for s in JSN_STEMS if s.startswith(("MCP-", "PIP-"))):
            prox, dist = (g.bones[n] for n in _finger_joint_bones(stem))
            base = dist.local[:13]  # the articular base, in the distal bone's frame
            # the proximal head curve (after the base and one side of the outline) in the distal frame
            n0 = (11 if prox.name.startswith("MC") else 13) + 16
            hp = prox.local[n0 : n0 + 21]
            hp_d = np.linalg.solve(dist.R, (prox.to_hand(hp) - dist.t).T).T  # hand -> distal local
            order = np.argsort(hp_d[:, 0])
            gaps = base[:, 1] - np.interp(base[:, 0], hp_d[order, 0], hp_d[order, 1])
            drawn = max(gaps.mean(), 0.0) / normal_gap_mm(stem)
            if drawn > 0.05:  # not subluxated / touching: the drawn mean gap is the scored ratio
                assert drawn == pytest.approx(vals[stem], abs=0.04), (seed, stem)
            if 0.2 < vals[stem] < 0.8 and abs(gaps[0] - gaps[-1]) > 0.3 * gaps.mean():
                wedges += 1
    assert wedges >= 5


def test_pose_rotation_flexion_and_canvas_fit():
    """Rotations up to ±15° and flexed fingers: whole hands stay inside the canvas (only the forearm may leave
    it), every finger joint box holds its gap and both its bones, and scores do not change with the pose."""
    from ramkit.synth.geometry import MAX_FLEXION, MAX_ROTATION, Pose

    a = draw_anatomy(np.random.default_rng(5), severity=0.7)
    scores = []
    for k, rotation in enumerate((-MAX_ROTATION, MAX_ROTATION, 0.0)):
        pose = Pose.draw(np.random.default_rng([5, k]))
        pose.rotation, pose.flexion = rotation, np.full(5, MAX_FLEXION if k < 2 else 0.0)
        pose.spread = pose.spread * 2.0
        d = draw_hand(np.random.default_rng([5, 9, k]), a, pose, size="small", objects=False)
        scores.append((d.be_scores, d.jsn_scores))
        for i, name in enumerate(anatomy.HAND_BONES):
            m = d.bones[i].astype(bool)
            if name in ("SoftTissue", "Radius", "Ulna") or not m.any():
                continue
            assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()), (rotation, name)
        for stem, (x, y, w, h) in d.jsn_boxes.items():
            if not stem.startswith(("MCP-", "PIP-")):
                continue
            for bone in _finger_joint_bones(stem):
                assert d.bones[anatomy.HAND_BONES.index(bone)][y : y + h, x : x + w].sum() > 0.1 * w * h
    assert scores[0] == scores[1] == scores[2]


def test_wrist_deviation_turns_the_forearm_and_keeps_the_scored_gaps():
    """Radial/ulnar deviation: the radius and ulna turn against the carpus by the drawn angle, the carpals are
    packed against them where they lie (scored SC/SR/STT lines still drawn at their width at the JSN point, the
    lunate still on the radius), and the scores do not depend on it."""
    from ramkit.synth.cohort import _hand_anatomy
    from ramkit.synth.geometry import CARPAL_GAP_MM, MAX_DEVIATION, Pose, build_hand

    def axis_angle(bone) -> float:
        return float(np.arctan2(bone.R[1, 0], bone.R[0, 0]))

    for seed in range(3):
        anat = _hand_anatomy(seed, 0)
        anat.severity = 0.0
        scores = []
        for dev in (-MAX_DEVIATION, MAX_DEVIATION):
            g = build_hand(anat, Pose(0.0, np.zeros(2), np.zeros(6), 0.0, deviation=dev), 1.0)
            assert axis_angle(g.bones["Radius"]) == pytest.approx(-dev) and axis_angle(
                g.bones["Ulna"]
            ) == pytest.approx(-dev)
            o = {n: b.outline for n, b in g.bones.items()}
            for stem in ("SC", "SR", "STT"):
                line = _joint_line(g, o, stem)[1]
                assert abs(line - CARPAL_GAP_MM) < 0.3, (seed, dev, stem, line)
            assert _min_dist(o["Lunate"], o["Radius"]) < 1.5
            scores.append(sorted((j.stem, j.score) for j in g.joints))
        assert scores[0] == scores[1]
    devs = [Pose.draw(np.random.default_rng(k)).deviation for k in range(200)]
    assert max(np.abs(devs)) <= MAX_DEVIATION and np.std(devs) > 0.3 * MAX_DEVIATION


def test_marginal_cysts_are_lesions_inside_the_bone():
    """Some finger-joint erosions are subcortical cysts: fully inside their bone (covered by cortex), labelled
    as lesions (no hole defect) and counted in the joint's eroded fraction."""
    from matplotlib.path import Path as MplPath

    from ramkit.synth.geometry import Pose, build_hand, eroded_area
    from ramkit.synth.labels import label_defects

    n_cyst = 0
    for seed in range(8):
        a = draw_anatomy(np.random.default_rng(seed), severity=0.9)
        g = build_hand(a, Pose.draw(np.random.default_rng([seed, 1])), 1.0)
        for b in (b for b in g.bites if b.cyst):
            n_cyst += 1
            bone = g.bones[b.bone]
            ang = np.linspace(0, 2 * np.pi, 36)
            ring = b.center + (b.radius + 0.3) * np.stack([np.cos(ang), np.sin(ang)], 1)
            assert MplPath(bone.local).contains_points(ring).all()  # cortex left all round it
            assert eroded_area(bone, [b]) == pytest.approx(np.pi * b.radius**2, rel=0.05)
        if seed < 2:
            d = draw_hand(np.random.default_rng([seed, 2]), a, size="medium", objects=False)
            assert label_defects(d) == {"holes": [], "fragments": [], "out_of_crop": []}
    assert n_cyst >= 5


def test_subluxation_and_osteopenia_grow_with_disease():
    from ramkit.synth.geometry import Pose, build_hand

    seen = 0
    for seed in range(20):
        a = draw_anatomy(np.random.default_rng(seed), severity=0.95)
        pose = Pose.draw(np.random.default_rng([seed, 1]))
        pose.flexion = np.zeros(5)  # flexion also moves the PP frame (foreshortening about its base)
        early, late = build_hand(a, pose, 0.0), build_hand(a, pose, 1.0)
        assert late.porosis[0] >= early.porosis[0] > 0 and late.porosis[1] <= early.porosis[1] < 1
        assert len(late.periarticular) >= len(early.periarticular)
        for stem in ("MCP-I", "MCP-M", "MCP-R", "MCP-S"):
            mc, pp = _finger_joint_bones(stem)
            mc_head = late.bones[mc].to_hand(np.array([[0.0, a.rays["TIMRS".index(stem[-1]) + 1][0]]]))[0]
            slide = np.linalg.norm(late.bones[pp].t - mc_head)
            if slide > 0.5:  # a subluxated joint: its base overlaps the head, scored as touching (JSN 4)
                seen += 1
                assert {j.stem: j.score for j in late.joints if j.kind == "jsn"}[stem] == 4
    assert seen >= 2
    healthy_anat = draw_anatomy(np.random.default_rng(0), severity=0.0)
    healthy = build_hand(healthy_anat, Pose.draw(np.random.default_rng(1)), 1.0)
    assert healthy.porosis == (0.0, 1.0)  # no systemic osteopenia without disease
