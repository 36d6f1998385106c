"""Write a synthetic cohort in the exact RAM-H1200-v1 and RAM-W600 layouts (``shared/spec/DATA.md``).

Every random draw comes from a numpy Generator seeded by ``(seed, stream, index)``: the cohort plan from
``(seed, 0)``, a hand patient's anatomy from ``(seed, 2, patient)``, a hand radiograph from ``(seed, 1, hand)``,
a wrist patient from ``(seed, 3, patient)`` and a wrist radiograph from ``(seed, 4, wrist)``. So a hand does not
depend on the order hands are generated in, and the same seed gives byte-identical files (BMP, JSON, NPY and
an XLSX written with fixed zip timestamps).
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit.errors import RamkitError

H1200_ROOT = "RAM-H1200-v1"
W600_ROOT = "RAM-W600"
JOINTS_SUPERCATEGORY = "joints"  #: id-0 super-category of the joint-detection COCO files
SPLIT_SHARES = (0.6, 0.2, 0.2)  #: target shares of train/val/test (images and positive joints)
IMAGE_SHARE_WEIGHT = 2.0  #: weight of the image-count balance against each positive-joint balance


@dataclass
class _Hand:
    index: int
    patient: int
    patient_id: str
    visit: int  # 0-based
    n_visits: int
    split: str
    center: str
    side: str
    date: str
    image_id: str
    sex: str
    age: int
    is_ra: int

    @property
    def stem(self) -> str:
        return f"JP_{self.center}_P{self.patient_id}_{self.date}_{self.image_id}_{self.side}"


def _split_patients(loads: list[tuple[float, ...]]) -> list[str]:
    """Patient-level split stratified by disease burden: about 60/20/20 of the images *and* of the positives.

    ``loads[i]`` holds patient ``i``'s image count followed by its expected positive-joint counts (one per
    score kind, see :func:`_burden`). Patients are taken from the heaviest expected disease load down (then
    by image count, then index) and each goes to the split whose shares of every quantity end up closest to
    the 60/20/20 targets (least squared deviation of the normalised totals), which deals mild and severe
    patients evenly over the splits. The last patients fill any split that would otherwise stay empty (needs
    n >= 3). Deterministic: no randomness beyond the loads.
    """
    n = len(loads)
    target = np.array(SPLIT_SHARES)
    q = np.asarray(loads, float)  # n × k
    total = np.maximum(q.sum(0), 1e-9)
    weight = np.ones(q.shape[1])
    weight[0] = IMAGE_SHARE_WEIGHT
    qn = q / total * weight  # normalised (and weighted) quantities
    target = target[:, None] * weight[None, :]  # 3 × k
    acc = np.zeros((3, q.shape[1]))
    members = np.zeros(3, int)
    out = [0] * n
    order = sorted(range(n), key=lambda i: (-float(qn[i, 1:].sum()), -float(q[i, 0]), i))
    for k, i in enumerate(order):
        empty = np.flatnonzero(members == 0)
        if n - k <= len(empty):
            pick = int(empty[0])
        else:
            before = ((acc - target) ** 2).sum(1)
            after = ((acc + qn[i] - target) ** 2).sum(1)
            pick = int(np.argmin(after - before))
        acc[pick] += qn[i]
        members[pick] += 1
        out[i] = pick
    return [anatomy.SPLITS[k] for k in _improve_split(qn, np.array(out), target)]


def _improve_split(qn: np.ndarray, split: np.ndarray, target: np.ndarray, max_steps: int = 200) -> np.ndarray:
    """Deterministic local search: apply the best patient swap or move while it brings the split shares closer
    to the targets (squared deviation); a move never empties a split."""
    split = split.copy()
    n = len(split)
    for _ in range(max_steps):
        acc = np.stack([qn[split == k].sum(0) for k in range(3)])
        e = (acc - target)[split]  # deviation of each patient's split, n × k
        d = qn[None, :, :] - qn[:, None, :]  # swap i <-> j: split(i) gains q_j - q_i
        swap = 2 * np.einsum("ijk,ijk->ij", d, e[:, None, :] - e[None, :, :]) + 2 * (d**2).sum(-1)
        swap[split[:, None] == split[None, :]] = np.inf
        err = acc - target
        move = 2 * (qn @ err.T - (qn * e).sum(1, keepdims=True)) + 2 * (qn**2).sum(1, keepdims=True)  # n × 3
        move[np.arange(n), split] = np.inf
        move[np.bincount(split, minlength=3)[split] <= 1] = np.inf
        i, j = np.unravel_index(int(np.argmin(swap)), swap.shape)
        mi, mk = np.unravel_index(int(np.argmin(move)), move.shape)
        if min(swap[i, j], move[mi, mk]) >= -1e-12:
            break
        if swap[i, j] <= move[mi, mk]:
            split[i], split[j] = split[j], split[i]
        else:
            split[mi] = mk
    return split


def _visit_progress(visit: int, n_visits: int) -> float:
    """A visit's place in the patient's follow-up, in [0, 1] (a single visit counts as the last)."""
    return visit / max(n_visits - 1, 1) if n_visits > 1 else 1.0


def _burden(anat, n_visits: int, be_stems, jsn_stems=()) -> tuple[float, ...]:
    """Expected positive BE and JSN joints summed over a patient's visits, from its drawn disease parameters.

    Same lesion-load rule as ``geometry.build_hand`` (e = slope·severity_visit + offset): a BE joint counts
    when e > 0, a JSN joint when its gap ratio falls below the score-0 band. Returns ``(be,)`` when
    ``jsn_stems`` is empty (RAM-W600), else ``(be, jsn)``.
    """
    from ramkit.synth.geometry import JSN_BANDS

    be = jsn = 0
    for v in range(n_visits):
        sev = anat.severity * (0.5 + 0.5 * _visit_progress(v, n_visits))
        be += sum(anat.be_slope[s] * sev + anat.be_offset[s] > 0 for s in be_stems)
        jsn += sum(1.0 - 1.6 * max(anat.jsn_slope[s] * sev + anat.jsn_offset[s], 0.0) < JSN_BANDS[0] for s in jsn_stems)
    return (float(be), float(jsn)) if len(jsn_stems) else (float(be),)


def _visits(total: int, n_patients: int, rng: np.random.Generator, cap: int = 4) -> list[int]:
    visits = [1] * n_patients
    for _ in range(total - n_patients):
        open_ = [i for i in range(n_patients) if visits[i] < cap] or list(range(n_patients))
        visits[int(rng.choice(open_))] += 1
    return visits


def _plan_hands(hands: int, seed: int) -> list[_Hand]:
    rng = np.random.default_rng([seed, 0])
    n_pat = max(3, int(round(hands / 2.5)))
    visits = _visits(hands, n_pat, rng)
    be_stems, jsn_stems = [j.stem for j in anatomy.BE_JOINTS], [j.stem for j in anatomy.JSN_JOINTS]
    splits = _split_patients(
        [(visits[p],) + _burden(_hand_anatomy(seed, p), visits[p], be_stems, jsn_stems) for p in range(n_pat)]
    )
    ids = rng.choice(np.arange(1, 10000), size=n_pat, replace=False)
    image_ids = rng.choice(np.arange(1000, 100000), size=hands, replace=False)
    out: list[_Hand] = []
    k = 0
    for p in range(n_pat):
        center = str(rng.choice(anatomy.H1200_CENTERS))
        side = str(rng.choice(anatomy.SIDES))
        sex = str(rng.choice(["F", "F", "F", "M"]))
        age = int(rng.integers(30, 80))
        y, m = int(rng.integers(2008, 2016)), int(rng.integers(1, 13))
        for v in range(visits[p]):
            mm = m - 1 + v * int(rng.integers(6, 19))
            date = f"{y + mm // 12:04d}{mm % 12 + 1:02d}{int(rng.integers(1, 29)):02d}"
            out.append(
                _Hand(
                    index=k,
                    patient=p,
                    patient_id=f"{int(ids[p]):04d}",
                    visit=v,
                    n_visits=visits[p],
                    split=splits[p],
                    center=center,
                    side=side,
                    date=date,
                    image_id=str(int(image_ids[k])),
                    sex=sex,
                    age=age + (mm // 12),
                    is_ra=1,
                )
            )
            k += 1
    return out


def _plan_wrists(wrists: int, seed: int) -> list[tuple]:
    """(index, patient, PatientID, StudyID, side, split, visit, n_visits) per wrist image."""
    rng = np.random.default_rng([seed, 5])
    n_pat = max(3, int(round(wrists / 2)))
    visits = _visits(wrists, n_pat, rng, cap=3)
    from ramkit.synth.geometry import W600_TO_BE

    w_stems = tuple(W600_TO_BE[j.stem] for j in anatomy.W600_JOINTS)
    splits = _split_patients(
        [(visits[p],) + _burden(_wrist_anatomy(seed, p), visits[p], w_stems) for p in range(n_pat)]
    )
    ids = rng.choice(np.arange(1, 10000), size=n_pat, replace=False)
    plan = []
    for p in range(n_pat):
        side = str(rng.choice(anatomy.SIDES))
        for v in range(visits[p]):
            plan.append((len(plan), p, f"{int(ids[p]):04d}", f"{v + 1:04d}", side, splits[p], v, visits[p]))
    return plan


def _hand_anatomy(seed: int, patient: int):
    """Anatomy and disease of hand patient ``patient`` (stream ``(seed, 2, patient)``)."""
    from ramkit.synth.geometry import draw_anatomy

    return draw_anatomy(np.random.default_rng([seed, 2, patient]))


def _wrist_anatomy(seed: int, patient: int):
    from ramkit.synth.geometry import draw_anatomy

    prng = np.random.default_rng([seed, 3, patient])
    sev = 0.0 if prng.random() < 0.25 else float(prng.beta(1.3, 2.0))
    return draw_anatomy(prng, severity=sev, wrist_mode=True)


def _draw_planned_hand(h: _Hand, anat, seed: int, size: str):
    from ramkit.synth.phantom import draw_hand

    prog = _visit_progress(h.visit, h.n_visits)
    return draw_hand(
        np.random.default_rng([seed, 1, h.index]), anat, progress=prog, size=size, view="hand", center=h.center
    )


def _draw_planned_wrist(entry: tuple, anat, seed: int, size: str):
    """Image, 14 masks, 6 boxes and 6 scores of one planned wrist, in stored orientation (left = mirrored)."""
    from ramkit.synth.phantom import draw_hand

    index, _, _, _, side, _, v, nv = entry
    prog = _visit_progress(v, nv)
    d = draw_hand(np.random.default_rng([seed, 4, index]), anat, progress=prog, size=size, view="wrist")
    img, masks, boxes = d.image, d.wrist_masks, d.wrist_boxes
    W = img.shape[1]
    if side == "L":  # RAM-W600 stores left wrists as acquired (mirrored); the readers/trainers flip them
        img, masks = img[:, ::-1], masks[:, :, ::-1]
        boxes = {k: (W - x - w, y, w, h) for k, (x, y, w, h) in boxes.items()}
    return np.ascontiguousarray(img), np.ascontiguousarray(masks), boxes, d.wrist_scores


def redraw_hand(hands: int, seed: int, index: int, size: str = "small"):
    """Re-draw hand ``index`` of a cohort generated with ``(hands, seed, size)``: ``(stem, split, HandDrawing)``.

    Used by round-trip tests to compare what the readers return with what was drawn.
    """
    h = _plan_hands(hands, seed)[index]
    return h.stem, h.split, _draw_planned_hand(h, _hand_anatomy(seed, h.patient), seed, size)


def redraw_wrist(wrists: int, seed: int, index: int, size: str = "small"):
    """Re-draw wrist ``index``: ``(stem, split, image, masks 14×H×W, boxes, scores)`` as stored."""
    entry = _plan_wrists(wrists, seed)[index]
    img, masks, boxes, sc = _draw_planned_wrist(entry, _wrist_anatomy(seed, entry[1]), seed, size)
    return f"{entry[2]}_{entry[3]}_{entry[4]}", entry[5], img, masks, boxes, sc


def _save_bmp(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), mode="L").save(path, format="BMP")


def _write_json(path: Path, obj) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _write_xlsx(path: Path, df) -> None:
    """Write ``df`` as XLSX with fixed document and zip timestamps, so the bytes depend only on the data."""
    import re

    buf = io.BytesIO()
    df.to_excel(buf, index=False, engine="openpyxl")
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist()):
            data = src.read(name)
            if name == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>2025-01-01T00:00:00Z\3", data
                )
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    path.write_bytes(out.getvalue())


def _annotations(parts: list[tuple[str, np.ndarray]], cat_ids: dict[str, int], image_id: int, start: int) -> list[dict]:
    from ramkit.io.coco import encode_mask, mask_bbox

    anns = []
    for name, m in parts:
        if not m.any():
            continue
        anns.append(
            {
                "id": start + len(anns),
                "image_id": image_id,
                "category_id": cat_ids[name],
                "bbox": mask_bbox(m),
                "area": int(m.sum()),
                "segmentation": encode_mask(m),
                "iscrowd": 0,
            }
        )
    return anns


def _box_annotations(
    boxes: dict[str, tuple[int, int, int, int]], cat_ids: dict[str, int], image_id: int, start: int
) -> list[dict]:
    anns = []
    for stem, (x, y, w, h) in boxes.items():
        anns.append(
            {
                "id": start + len(anns),
                "image_id": image_id,
                "category_id": cat_ids[stem],
                "bbox": [float(x), float(y), float(w), float(h)],
                "area": float(w * h),
                "segmentation": [],
                "iscrowd": 0,
            }
        )
    return anns


def joint_categories(joints: tuple[anatomy.Joint, ...]) -> list[dict]:
    """COCO categories of a joint-detection file: id-0 super-category, then the joint stems in table order."""
    cats = [{"id": 0, "name": JOINTS_SUPERCATEGORY, "supercategory": "none"}]
    cats += [{"id": i, "name": j.stem, "supercategory": JOINTS_SUPERCATEGORY} for i, j in enumerate(joints, 1)]
    return cats


def _crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return img[y : y + h, x : x + w]


# --------------------------------------------------------------------------------------------------
def _write_h1200(root: Path, hands: int, seed: int, size: str, progress: bool) -> dict:
    import pandas as pd

    from ramkit.io.coco import build_coco
    from ramkit.progress import track

    plan = _plan_hands(hands, seed)
    bone_cats = anatomy.h1200_bone_categories()
    be_cats = anatomy.h1200_be_categories()
    bone_ids = {c["name"]: c["id"] for c in bone_cats}
    be_ids = {c["name"]: c["id"] for c in be_cats}
    det_cats = {"be": joint_categories(anatomy.BE_JOINTS), "jsn": joint_categories(anatomy.JSN_JOINTS)}
    det_ids = {k: {c["name"]: c["id"] for c in v} for k, v in det_cats.items()}
    per_split: dict[str, dict] = {
        s: {"images": [], "bone": [], "be": [], "det_be": [], "det_jsn": [], "scores_be": {}, "scores_jsn": {}}
        for s in anatomy.SPLITS
    }
    rows = []
    anats: dict[int, object] = {}
    all_be, all_jsn = [], []
    items = track(plan, "synth hands") if progress else plan
    for h in items:
        if h.patient not in anats:
            anats[h.patient] = _hand_anatomy(seed, h.patient)
        d = _draw_planned_hand(h, anats[h.patient], seed, size)
        S = per_split[h.split]
        file_name = f"{h.stem}.bmp"
        H, W = d.image.shape
        image_id = len(S["images"]) + 1
        S["images"].append({"id": image_id, "file_name": file_name, "height": H, "width": W})
        _save_bmp(root / "Segmentation" / h.split / file_name, d.image)
        parts = [(n, m) for n in anatomy.HAND_BONES for m in d.bone_parts.get(n, [])]
        parts += d.object_parts
        S["bone"] += _annotations(parts, bone_ids, image_id, len(S["bone"]) + 1)
        S["be"] += _annotations(d.lesion_parts, be_ids, image_id, len(S["be"]) + 1)
        for kind, joints, boxes, scores in (
            ("be", anatomy.BE_JOINTS, d.be_boxes, d.be_scores),
            ("jsn", anatomy.JSN_JOINTS, d.jsn_boxes, d.jsn_scores),
        ):
            folder = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / h.split
            for j in joints:
                _save_bmp(folder / h.stem / f"{j.stem}.bmp", _crop(d.image, boxes[j.stem]))
            S[f"det_{kind}"] += _box_annotations(
                {j.stem: boxes[j.stem] for j in joints}, det_ids[kind], image_id, len(S[f"det_{kind}"]) + 1
            )
            S[f"scores_{kind}"][file_name] = {j.key: int(scores[j.stem]) for j in joints}
        all_be += list(d.be_scores.values())
        all_jsn += list(d.jsn_scores.values())
        rows.append(
            {
                "Mapped Image Stem": h.stem,
                "StudyID": h.visit + 1,
                "Normalized PatientID": h.patient_id,
                "isRA": h.is_ra,
                "Sex": h.sex,
                "Age": h.age,
                "Center": h.center,
                "PixelSpacing": d.spacing_mm,
                "ImageSize": f"{H}x{W}",
                "LR": h.side,
            }
        )
    info = {"description": f"ramkit synthetic RAM-H1200 cohort (seed {seed}, size {size})"}
    for split, S in per_split.items():
        seg = root / "Segmentation" / split
        seg.mkdir(parents=True, exist_ok=True)
        _write_json(seg / "_annotations_bone_rle.coco.json", build_coco(S["images"], bone_cats, S["bone"], info))
        _write_json(seg / "_annotations_be_rle.coco.json", build_coco(S["images"], be_cats, S["be"], info))
        for kind in ("be", "jsn"):
            folder = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            folder.mkdir(parents=True, exist_ok=True)
            _write_json(
                folder / f"_annotations_{kind}_joint_detection.coco.json",
                build_coco(S["images"], det_cats[kind], S[f"det_{kind}"], info),
            )
            _write_json(folder / f"_annotation_{kind}_scores.json", S[f"scores_{kind}"])
    df = pd.DataFrame(rows, columns=list(anatomy.H1200_METADATA_COLUMNS))
    _write_xlsx(root / "Metadata.xlsx", df)
    be, jsn = np.array(all_be), np.array(all_jsn)
    return {
        "images": len(plan),
        "patients": len({h.patient for h in plan}),
        "splits": {s: len(per_split[s]["images"]) for s in anatomy.SPLITS},
        "be_positive_rate": float((be > 0).mean()),
        "jsn_positive_rate": float((jsn > 0).mean()),
        "be_score_counts": {int(v): int((be == v).sum()) for v in anatomy.SCORE_VALUES["be"]},
        "jsn_score_counts": {int(v): int((jsn == v).sum()) for v in anatomy.SCORE_VALUES["jsn"]},
    }


def _write_w600(root: Path, wrists: int, seed: int, size: str, progress: bool) -> dict:
    from ramkit.io.coco import build_coco
    from ramkit.progress import track
    from ramkit.synth.phantom import SIZES

    plan = _plan_wrists(wrists, seed)
    n_pat = len({e[1] for e in plan})
    seg_img = root / "BoneSegmentation" / "images"
    det_img = root / "JointLocationDetection" / "images"
    cls = root / "SvdHBEScoreClassification"
    det_cats = joint_categories(anatomy.W600_JOINTS)
    det_ids = {c["name"]: c["id"] for c in det_cats}
    det_images, det_anns, gt = [], [], []
    anats: dict[int, object] = {}
    counts = {s: 0 for s in anatomy.SPLITS}
    scores_all = []
    items = track(plan, "synth wrists") if progress else plan
    for entry in items:
        index, p, pid, sid, side, split, v, nv = entry
        if p not in anats:
            anats[p] = _wrist_anatomy(seed, p)
        img, masks, boxes, sc = _draw_planned_wrist(entry, anats[p], seed, size)
        H, W = img.shape
        stem = f"{pid}_{sid}_{side}"
        _save_bmp(seg_img / f"{stem}.bmp", img)
        _save_bmp(det_img / f"{stem}.bmp", img)
        mp = root / "BoneSegmentation" / "masks" / split / f"{stem}.npy"
        mp.parent.mkdir(parents=True, exist_ok=True)
        np.save(mp, np.ascontiguousarray(masks, dtype=np.uint8))
        image_id = len(det_images) + 1
        det_images.append({"id": image_id, "file_name": f"{stem}.bmp", "height": H, "width": W})
        det_anns += _box_annotations(boxes, det_ids, image_id, len(det_anns) + 1)
        for j in anatomy.W600_JOINTS:
            _save_bmp(cls / split / stem / f"{j.stem}.bmp", _crop(img, boxes[j.stem]))
        scores_all += list(sc.values())
        gt.append(
            {
                "identifier": stem,
                "patient_id": pid,
                "study_id": sid,
                "hand": side,
                "joints": {j.key: int(sc[j.stem]) for j in anatomy.W600_JOINTS},
            }
        )
        counts[split] += 1
    for split in anatomy.SPLITS:
        (root / "BoneSegmentation" / "masks" / split).mkdir(parents=True, exist_ok=True)
        (cls / split).mkdir(parents=True, exist_ok=True)
    info = {
        "description": f"ramkit synthetic RAM-W600 cohort (seed {seed}, size {size})",
        "pixel_spacing_mm": SIZES[size]["wrist"][2],  # the release has no spacing field: it is always 0.15
    }
    _write_json(root / "JointLocationDetection" / "Joints.coco.json", build_coco(det_images, det_cats, det_anns, info))
    _write_json(cls / "JointBE_SvdH_GT.json", gt)
    s = np.array(scores_all)
    return {"images": len(plan), "patients": n_pat, "splits": counts, "be_positive_rate": float((s > 0).mean())}


def generate_cohort(
    out: str | os.PathLike,
    hands: int = 24,
    seed: int = 0,
    size: str = "small",
    progress: bool = True,
    wrists: int | None = None,
) -> dict:
    """Write ``out/RAM-H1200-v1`` (``hands`` radiographs) and ``out/RAM-W600`` (``wrists``, default = hands).

    Each dataset is written to a temporary folder and renamed into place, so a crash leaves nothing
    half-written (an existing dataset folder is replaced only when the new one is complete). Returns a summary:
    paths, image/patient counts per split, score distributions, seconds taken.
    """
    from ramkit.io.atomic import atomic_dir
    from ramkit.synth.phantom import SIZES

    if size not in SIZES:
        raise RamkitError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    wrists = hands if wrists is None else wrists
    for name, n in (("hands", hands), ("wrists", wrists)):
        if int(n) != n or n < 3:
            raise RamkitError(f"--{name} must be an integer >= 3 (one patient per split at least), got {n}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RamkitError("output path exists and is not a folder", out)
    t0 = time.perf_counter()
    with atomic_dir(out / H1200_ROOT) as tmp:
        h = _write_h1200(tmp, int(hands), int(seed), size, progress)
    t1 = time.perf_counter()
    with atomic_dir(out / W600_ROOT) as tmp:
        w = _write_w600(tmp, int(wrists), int(seed), size, progress)
    t2 = time.perf_counter()
    return {
        "h1200": str(out / H1200_ROOT),
        "w600": str(out / W600_ROOT),
        "seed": int(seed),
        "size": size,
        "hand": h,
        "wrist": w,
        "seconds": {"h1200": t1 - t0, "w600": t2 - t1},
    }
