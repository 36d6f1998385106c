"""Tiny dataset-tree builders for reader/check tests (independent of ``ramkit.synth``).

``build_h1200(parent)`` writes a minimal valid ``RAM-H1200-v1`` tree and ``build_w600(parent)`` a minimal valid
``RAM-W600`` tree, each returning the ground truth it wrote so tests can check a lossless round trip.
Import directly: ``from conftest_data import build_h1200, build_w600``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit.io.atomic import write_json
from ramkit.io.coco import build_coco, encode_mask, mask_bbox
from ramkit.io.images import write_gray

H, W = 48, 40  # tiny hand images (H×W)
WH, WW = 36, 36  # tiny wrist images


def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0).astype(np.uint8)


def rect(h: int, w: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(h, w), dtype=np.uint8)


def _cat_id(cats: list[dict], name: str) -> int:
    return next(c["id"] for c in cats if c["name"] == name)


def h1200_stem(center: str, patient: int, image: int, side: str) -> str:
    return f"JP_{center}_P{patient:04d}_20200101_{image:04d}_{side}"


def build_h1200(parent: Path, per_split: int = 2, seed: int = 0) -> dict:
    """Write ``parent/RAM-H1200-v1`` and return ``{split: {file_name: truth}}`` plus ``"_root"``.

    truth = {"bones": 30×H×W, "be": 3×H×W (BE_CATEGORIES order), "be_scores": {key: s}, "jsn_scores": {...},
    "be_boxes": {joint_stem: (x, y, w, h)}, "jsn_boxes": {...}}. Image 0 of each split has two annotations
    for MC1 (union), a polygon for Radius and a 'Ring' annotation (dropped); overlapping BE-90/BE-50 masks.
    """
    rng = np.random.default_rng(seed)
    root = Path(parent) / "RAM-H1200-v1"
    bone_cats = anatomy.h1200_bone_categories()
    be_cats = anatomy.h1200_be_categories()
    truth: dict = {"_root": root}
    patient = 1
    meta_rows = []
    centers = anatomy.H1200_CENTERS
    for split in anatomy.SPLITS:
        seg = root / "Segmentation" / split
        truth[split] = {}
        bone_images, bone_anns, be_images, be_anns = [], [], [], []
        score_json = {"be": {}, "jsn": {}}
        det = {k: ([], []) for k in ("be", "jsn")}
        for i in range(per_split):
            side = "L" if i % 2 == 0 else "R"
            stem = h1200_stem(centers[(patient - 1) % len(centers)], patient, 100 + i, side)
            patient += 1
            fname = f"{stem}.bmp"
            write_gray(seg / fname, _image(rng, H, W))
            img_id = i
            entry = {"id": img_id, "file_name": fname, "height": H, "width": W}
            bone_images.append(dict(entry))
            be_images.append(dict(entry))
            bones = np.zeros((30, H, W), np.uint8)
            for k, name in enumerate(anatomy.HAND_BONES):
                cy, cx = rng.uniform(6, H - 6), rng.uniform(6, W - 6)
                m = ellipse(H, W, cy, cx, rng.uniform(2, 6), rng.uniform(2, 6))
                anns_for = [m]
                if i == 0 and name == "MC1":  # two pieces of one bone -> union
                    extra = rect(H, W, 0, 0, 4, 5)
                    anns_for.append(extra)
                    m = np.maximum(m, extra)
                bones[k] = m
                cid = _cat_id(bone_cats, name)
                for piece in anns_for:
                    if i == 0 and name == "Radius":  # polygon segmentation (a rectangle, exact in pycocotools)
                        piece = rect(H, W, 10, 10, 20, 18)
                        bones[k] = piece
                        seg_field: object = [[10.0, 10.0, 18.0, 10.0, 18.0, 20.0, 10.0, 20.0]]
                    else:
                        seg_field = encode_mask(piece)
                    bone_anns.append(
                        {
                            "id": len(bone_anns),
                            "image_id": img_id,
                            "category_id": cid,
                            "bbox": mask_bbox(piece),
                            "area": float(piece.sum()),
                            "segmentation": seg_field,
                            "iscrowd": 0,
                        }
                    )
            if i == 0:  # non-bone object, must be dropped
                ring = rect(H, W, 30, 5, 34, 15)
                bone_anns.append(
                    {
                        "id": len(bone_anns),
                        "image_id": img_id,
                        "category_id": _cat_id(bone_cats, "Ring"),
                        "bbox": mask_bbox(ring),
                        "area": float(ring.sum()),
                        "segmentation": encode_mask(ring),
                        "iscrowd": 0,
                    }
                )
            # polygon for Radius decodes exactly to the rectangle [10:20, 10:18]? pycocotools fills
            # polygon boundaries by its own rule: take the decoded truth from pycocotools itself.
            if i == 0:
                from pycocotools import mask as mu

                poly = mu.decode(mu.merge(mu.frPyObjects([[10.0, 10.0, 18.0, 10.0, 18.0, 20.0, 10.0, 20.0]], H, W)))
                bones[anatomy.HAND_BONES.index("Radius")] = poly
            be = np.zeros((3, H, W), np.uint8)
            if i % 2 == 0:
                be[0] = ellipse(H, W, 20, 20, 5, 5)  # SvdH-BE-90
                be[1] = ellipse(H, W, 22, 24, 5, 5)  # SvdH-BE-50, overlapping
                be[2] = rect(H, W, 40, 2, 44, 8)  # Non-SvdH-BE
            for k, name in enumerate(anatomy.BE_CATEGORIES):
                if be[k].any():
                    be_anns.append(
                        {
                            "id": len(be_anns),
                            "image_id": img_id,
                            "category_id": _cat_id(be_cats, name),
                            "bbox": mask_bbox(be[k]),
                            "area": float(be[k].sum()),
                            "segmentation": encode_mask(be[k]),
                            "iscrowd": 0,
                        }
                    )
            rec = {"bones": bones, "be": be}
            for kind in ("be", "jsn"):
                sdir = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
                values = anatomy.SCORE_VALUES[kind]
                scores, boxes = {}, {}
                det_imgs, det_anns = det[kind]
                det_imgs.append(dict(entry))
                for j, joint in enumerate(anatomy.JOINTS[kind]):
                    s = int(values[(i + j) % len(values)])
                    scores[joint.key] = s
                    write_gray(sdir / stem / f"{joint.stem}.bmp", _image(rng, 8, 8))
                    box = (float(j), float(j + 1), 6.0, 7.0)
                    boxes[joint.stem] = box
                    det_anns.append(
                        {
                            "id": len(det_anns),
                            "image_id": img_id,
                            "category_id": j + 1,
                            "bbox": list(box),
                            "area": 42.0,
                            "iscrowd": 0,
                        }
                    )
                score_json[kind][fname] = scores
                rec[f"{kind}_scores"] = scores
                rec[f"{kind}_boxes"] = boxes
            truth[split][fname] = rec
            meta_rows.append(
                {
                    "Mapped Image Stem": stem,
                    "StudyID": 1,
                    "Normalized PatientID": f"P{patient - 1:04d}",
                    "isRA": 1,
                    "Sex": "F",
                    "Age": 50 + i,
                    "Center": stem.split("_")[1],
                    "PixelSpacing": 0.175,
                    "ImageSize": f"{H}x{W}",
                    "LR": side,
                }
            )
        write_json(seg / "_annotations_bone_rle.coco.json", build_coco(bone_images, bone_cats, bone_anns))
        write_json(seg / "_annotations_be_rle.coco.json", build_coco(be_images, be_cats, be_anns))
        for kind in ("be", "jsn"):
            sdir = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            write_json(sdir / f"_annotation_{kind}_scores.json", score_json[kind])
            jcats = [
                {"id": j + 1, "name": jt.stem, "supercategory": "joints"} for j, jt in enumerate(anatomy.JOINTS[kind])
            ]
            write_json(
                sdir / f"_annotations_{kind}_joint_detection.coco.json", build_coco(*det[kind][:1], jcats, det[kind][1])
            )
    import pandas as pd

    pd.DataFrame(meta_rows, columns=list(anatomy.H1200_METADATA_COLUMNS)).to_excel(
        root / "Metadata.xlsx", index=False, engine="openpyxl"
    )
    return truth


def w600_stem(patient: int, study: int, side: str) -> str:
    return f"{patient:04d}_{study:04d}_{side}"


def build_w600(parent: Path, per_split: int = 2, seed: int = 0, images: dict[str, np.ndarray] | None = None) -> dict:
    """Write ``parent/RAM-W600``; return ``{split: {stem: {"masks", "scores", "boxes"}}}`` plus ``"_root"``.

    ``images`` ({stem: uint8 H×W}) replaces the random pictures (e.g. real wrists); their stems are spread
    over the splits in order. The GT JSON and one ROI file use the dataset's ``Trapzium`` spelling.
    """
    rng = np.random.default_rng(seed)
    root = Path(parent) / "RAM-W600"
    truth: dict = {"_root": root}
    gt, det_images, det_anns = [], [], []
    jcats = [{"id": j + 1, "name": jt.stem, "supercategory": "joints"} for j, jt in enumerate(anatomy.W600_JOINTS)]
    if images is None:
        stems, pix = [], {}
        n = 1
        for _ in anatomy.SPLITS:
            for i in range(per_split):
                s = w600_stem(n, 1, "L" if i % 2 == 0 else "R")
                n += 1
                stems.append(s)
                pix[s] = _image(rng, WH, WW)
    else:
        stems, pix = list(images), dict(images)
    per = max(1, -(-len(stems) // len(anatomy.SPLITS)))
    alias = {v: k for k, v in anatomy.W600_JOINT_ALIASES.items()}  # canonical -> dataset spelling
    for idx, stem in enumerate(stems):
        split = anatomy.SPLITS[min(idx // per, len(anatomy.SPLITS) - 1)]
        img = pix[stem]
        h, w = img.shape
        write_gray(root / "BoneSegmentation" / "images" / f"{stem}.bmp", img)
        write_gray(root / "JointLocationDetection" / "images" / f"{stem}.bmp", img)
        masks = np.zeros((len(anatomy.WRIST_BONES), h, w), np.uint8)
        for k in range(len(anatomy.WRIST_BONES)):
            masks[k] = ellipse(h, w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, h / 8, w / 9)
        (root / "BoneSegmentation" / "masks" / split).mkdir(parents=True, exist_ok=True)
        np.save(root / "BoneSegmentation" / "masks" / split / f"{stem}.npy", masks)
        det_images.append({"id": idx, "file_name": f"{stem}.bmp", "height": h, "width": w})
        scores, boxes = {}, {}
        for j, jt in enumerate(anatomy.W600_JOINTS):
            name = alias.get(jt.stem, jt.stem)
            scores[jt.stem] = int(anatomy.SCORE_VALUES["w600"][(idx + j) % 5])
            write_gray(root / "SvdHBEScoreClassification" / split / stem / f"{name}.bmp", _image(rng, 10, 10))
            box = (float(2 * j), float(j), 8.0, 9.0)
            boxes[jt.stem] = box
            det_anns.append(
                {
                    "id": len(det_anns),
                    "image_id": idx,
                    "category_id": j + 1,
                    "bbox": list(box),
                    "area": 72.0,
                    "iscrowd": 0,
                }
            )
        patient, study, side = stem.split("_")
        gt.append(
            {
                "identifier": stem,
                "patient_id": patient,
                "study_id": study,
                "hand": side,
                "joints": {alias.get(k, k): v for k, v in scores.items()},
            }
        )
        truth.setdefault(split, {})[stem] = {"masks": masks, "scores": scores, "boxes": boxes}
    write_json(root / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json", gt)
    write_json(root / "JointLocationDetection" / "Joints.coco.json", build_coco(det_images, jcats, det_anns))
    return truth


# --------------------------------------------------------------------------------------------------
# CLI and shared-data helpers
# --------------------------------------------------------------------------------------------------
def _cli_app():
    """The real ``ramkit`` app, or (while fewer than two commands are registered, so typer would collapse the
    group into a single command) a group app holding only ``check``."""
    import typer

    from ramkit import cli
    from ramkit.commands import data

    if (
        cli.app.registered_callback is not None
        or len(cli.app.registered_commands) + len(cli.app.registered_groups) >= 2
    ):
        return cli.app
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.callback()(lambda: None)
    data.register(app)
    return app


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``ramkit.cli.main(args)``; return (exit code, stdout, stderr)."""
    from ramkit import cli

    old = cli.app
    cli.app = _cli_app()
    try:
        try:
            cli.main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    finally:
        cli.app = old
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def shared_dir() -> Path | None:
    """``shared/`` folder: env RAMKIT_SHARED, else two levels above the repo's tests/ folder; None if absent."""
    import os

    env = os.environ.get("RAMKIT_SHARED")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[2] / "shared")
    for c in cands:
        if c.is_dir():
            return c
    return None


def real_wrist_dir() -> Path | None:
    """Folder of the 30 real RAM-W600 wrist PNGs (with labels.csv), or None when not available."""
    s = shared_dir()
    if s is None:
        return None
    d = s / "data" / "real-radiographs" / "ram-w600-wrist"
    return d if (d / "images").is_dir() and (d / "labels.csv").is_file() else None


def write_dicom(
    path,
    pixels: np.ndarray,
    bits_stored: int = 12,
    spacing=None,
    imager_spacing=None,
    photometric="MONOCHROME2",
    laterality=None,
    slope=None,
    intercept=None,
):
    """A minimal uncompressed DICOM file (ExplicitVRLittleEndian) with uint16 pixels."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if spacing is not None:
        ds.PixelSpacing = [spacing, spacing]
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = [imager_spacing, imager_spacing]
    if laterality is not None:
        ds.ImageLaterality = laterality
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept or 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path
