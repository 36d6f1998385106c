"""Reader of the RAM-W600 wrist dataset in its Hugging Face layout (``shared/spec/DATA.md``).

Masks are ``BoneSegmentation/masks/{split}/<stem>.npy`` (14×H×W uint8, ``anatomy.WRIST_BONES`` order), loaded
with ``allow_pickle=False`` and memory-mapped so listing a split reads only the npy headers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit import validate as rules
from ramkit.errors import RamkitError, warn
from ramkit.io.coco import CocoFile
from ramkit.io.h1200 import ScoreSample, _format_list, coco_joint_boxes, load_json, read_dataset_image, side_of_stem
from ramkit.io.images import image_size

W600_DIRNAME = "RAM-W600"
SEG_DIR = "BoneSegmentation"
DET_DIR = "JointLocationDetection"
CLS_DIR = "SvdHBEScoreClassification"
GT_JSON = "JointBE_SvdH_GT.json"
JOINTS_COCO = "Joints.coco.json"
IMAGE_SUFFIXES = (".bmp", ".png")
_STEM_RE = re.compile(anatomy.W600_STEM_PATTERN)


def parse_w600_stem(stem: str) -> dict[str, str] | None:
    """Fields of a RAM-W600 stem (patient, study, side), or None if it does not match."""
    m = _STEM_RE.match(stem)
    return m.groupdict() if m else None


def canonical_joint(name: str) -> anatomy.Joint | None:
    """The W600 joint for a name or alias spelling (``Trapzium``), else None."""
    try:
        return anatomy.joint_by_stem("w600", name)
    except KeyError:
        return None


def load_mask_header(path: Path) -> np.ndarray:
    """Memory-map an npy mask (no pickles); RamkitError naming the file when unreadable."""
    rules.require_file(path, "mask file")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise RamkitError(f"not a plain numeric npy array ({exc})", path) from None
    except (OSError, EOFError) as exc:
        raise RamkitError(f"cannot read npy file ({exc})", path) from None


def validate_mask(arr: np.ndarray, path: Path, shape: tuple[int, int] | None) -> None:
    """Check an npy mask is 14×H×W (H×W = ``shape`` when given) of an integer/bool dtype."""
    n = len(anatomy.WRIST_BONES)
    if arr.ndim != 3 or arr.shape[0] != n:
        raise RamkitError(f"mask has shape {tuple(arr.shape)}, expected {n}xHxW", path)
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise RamkitError(f"mask is {arr.shape[1]}x{arr.shape[2]} but its image is {shape[0]}x{shape[1]}", path)
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        raise RamkitError(f"mask dtype {arr.dtype} is not integer/bool", path)


@dataclass
class WristSegSample:
    """One wrist segmentation image of RAM-W600 (nothing decoded until asked)."""

    stem: str
    image_path: Path
    mask_path: Path
    split: str
    side: str | None
    height: int
    width: int

    @property
    def mirrored(self) -> bool:
        """RAM-W600 stores left wrists as acquired (mirror images of right wrists)."""
        return self.side == "L"

    def image(self, orient: bool = False) -> np.ndarray:
        """uint8 H×W wrist radiograph as stored; ``orient=True`` flips left wrists to right-hand orientation
        (what the official RAM-W600 segmentation code does for stems ending in ``L``)."""
        img = read_dataset_image(self.image_path)
        return np.ascontiguousarray(img[:, ::-1]) if orient and self.mirrored else img

    def masks(self, orient: bool = False) -> np.ndarray:
        """uint8 14×H×W masks in ``anatomy.WRIST_BONES`` order (values 0/1); ``orient`` as in :meth:`image`."""
        arr = load_mask_header(self.mask_path)
        validate_mask(arr, self.mask_path, (self.height, self.width))
        values = np.asarray(arr)
        bad = rules.mask_values_problem(np.unique(values).tolist())
        if bad is not None and bad[0] == "ERROR":
            raise RamkitError(bad[1], self.mask_path)
        out = (values > 0).astype(np.uint8)
        return np.ascontiguousarray(out[:, :, ::-1]) if orient and self.mirrored else out


def resolve_root(root: str | os.PathLike) -> Path:
    """The ``RAM-W600`` folder given it or its parent; RamkitError when neither holds the layout."""
    root = Path(root)
    if not root.exists():
        raise RamkitError("dataset folder not found", root)
    for cand in (root, root / W600_DIRNAME):
        if any((cand / d).is_dir() for d in (SEG_DIR, DET_DIR, CLS_DIR)):
            return cand.resolve()
    raise RamkitError(
        f"not a RAM-W600 folder (no {SEG_DIR}/, {DET_DIR}/ or {CLS_DIR}/, nor {W600_DIRNAME}/ inside)", root
    )


def find_image(folder: Path, stem: str) -> Path | None:
    """``folder/<stem>.bmp`` (or .png) if present."""
    for suf in IMAGE_SUFFIXES:
        p = folder / f"{stem}{suf}"
        if p.is_file():
            return p
    return None


class W600:
    """RAM-W600 reader. ``root`` is the ``RAM-W600`` folder or its parent."""

    def __init__(self, root: str | os.PathLike):
        self.root = resolve_root(root)

    @property
    def image_dir(self) -> Path:
        return self.root / SEG_DIR / "images"

    def mask_dir(self, split: str) -> Path:
        return self.root / SEG_DIR / "masks" / split

    def cls_dir(self, split: str) -> Path:
        return self.root / CLS_DIR / split

    @cached_property
    def splits(self) -> tuple[str, ...]:
        """Splits present under masks/ or the classification folder."""
        return tuple(s for s in anatomy.SPLITS if self.mask_dir(s).is_dir() or self.cls_dir(s).is_dir())

    def _check_split(self, split: str) -> None:
        if split not in anatomy.SPLITS:
            raise RamkitError(f"unknown split {split!r}; expected one of {list(anatomy.SPLITS)}", self.root)

    def seg(self, split: str) -> list[WristSegSample]:
        """Segmentation samples of ``split`` (one per mask file; headers checked, pixels not decoded)."""
        self._check_split(split)
        d = self.mask_dir(split)
        if not d.is_dir():
            raise RamkitError(f"mask folder of split {split!r} not found", d)
        out: list[WristSegSample] = []
        no_image = []
        for mp in sorted(d.glob("*.npy")):
            ip = find_image(self.image_dir, mp.stem)
            if ip is None:
                no_image.append(mp.name)
                continue
            h, w = image_size(ip)
            validate_mask(load_mask_header(mp), mp, (h, w))
            out.append(WristSegSample(mp.stem, ip, mp, split, side_of_stem(mp.stem), h, w))
        if no_image:
            warn(f"{len(no_image)} mask(s) without an image in {self.image_dir}, skipped: {_format_list(no_image)}", d)
        return out

    @cached_property
    def _gt(self) -> dict[str, dict]:
        path = self.root / CLS_DIR / GT_JSON
        data = load_json(path)
        if isinstance(data, dict):  # tolerate {identifier: entry}
            data = [dict(v, identifier=v.get("identifier", k)) if isinstance(v, dict) else v for k, v in data.items()]
        if not isinstance(data, list):
            raise RamkitError("expected a list of {identifier, joints} objects", path)
        out: dict[str, dict] = {}
        for i, e in enumerate(data):
            if not isinstance(e, dict) or "identifier" not in e or not isinstance(e.get("joints"), dict):
                raise RamkitError(f"entry {i} lacks 'identifier' or a 'joints' object", path)
            ident = str(e["identifier"])
            if ident in out:
                raise RamkitError(f"identifier {ident!r} appears more than once", path)
            out[ident] = e
        return out

    def scores(self, split: str) -> list[ScoreSample]:
        """Scored wrist-joint ROIs of ``split`` (kind 'w600', raw scores 0/1/2/3/5).

        A score outside ``anatomy.SCORE_VALUES['w600']`` or an unknown joint name raises; ROI folders without a
        GT entry, missing keys and missing ROI files are skipped with a warning.
        """
        self._check_split(split)
        d = self.cls_dir(split)
        if not d.is_dir():
            raise RamkitError(f"classification folder of split {split!r} not found", d)
        gt_path = self.root / CLS_DIR / GT_JSON
        gt = self._gt
        allowed = anatomy.SCORE_VALUES["w600"]
        out: list[ScoreSample] = []
        no_entry, missing_key, missing_roi = [], [], []
        for folder in sorted(p for p in d.iterdir() if p.is_dir()):
            ident = folder.name
            entry = gt.get(ident)
            if entry is None:
                no_entry.append(ident)
                continue
            scores: dict[str, int] = {}
            for name, score in entry["joints"].items():
                joint = canonical_joint(name)
                if joint is None:
                    raise RamkitError(f"{ident}: unknown joint {name!r}", gt_path)
                problem = rules.score_problem(score, allowed)
                if problem:
                    raise RamkitError(f"{ident} {name}: {problem}", gt_path)
                scores[joint.stem] = int(score)
            side = side_of_stem(ident) or (str(entry.get("hand", "")).upper()[:1] or None)
            files = {}
            for p in folder.iterdir():
                j = canonical_joint(p.stem) if p.suffix.lower() in IMAGE_SUFFIXES else None
                if j is not None:
                    files[j.stem] = p
            for j in anatomy.W600_JOINTS:
                if j.stem not in scores:
                    missing_key.append(f"{ident}/{j.stem}")
                    continue
                roi = files.get(j.stem)
                if roi is None:
                    missing_roi.append(f"{ident}/{j.stem}.bmp")
                    continue
                out.append(ScoreSample(ident, j, scores[j.stem], roi, split, side, "w600", mirrored=side == "L"))
        if no_entry:
            warn(f"{len(no_entry)} ROI folder(s) without a GT entry, skipped: {_format_list(no_entry)}", d)
        if missing_key:
            warn(f"{len(missing_key)} joint score(s) missing, skipped: {_format_list(missing_key)}", gt_path)
        if missing_roi:
            warn(f"{len(missing_roi)} ROI file(s) missing, joints skipped: {_format_list(missing_roi)}", d)
        return out

    def joint_boxes(self) -> dict[str, dict[str, tuple[float, float, float, float]]]:
        """Wrist-joint boxes ``{stem: {joint: (x, y, w, h)}}`` from ``JointLocationDetection/Joints.coco.json``."""
        return coco_joint_boxes(CocoFile(self.root / DET_DIR / JOINTS_COCO), "w600")
