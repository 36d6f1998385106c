"""Reader of the RAM-H1200-v1 hand dataset (layout in ``shared/spec/DATA.md``).

Nothing heavy happens up front: a split's COCO files are indexed once (cached) and masks are decoded per
image when :meth:`SegSample.bones` / :meth:`SegSample.be` is called. Bone channels are mapped **by name**
(``anatomy.HAND_BONES``), never by position.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit import validate as rules
from ramkit.errors import RamkitError, warn
from ramkit.io.coco import CocoFile, CocoImage
from ramkit.io.images import image_size, read_gray

H1200_DIRNAME = "RAM-H1200-v1"
BONE_JSON = "_annotations_bone_rle.coco.json"
BE_JSON = "_annotations_be_rle.coco.json"
IMAGE_SUFFIXES = (".bmp", ".png")
_STEM_RE = re.compile(anatomy.H1200_STEM_PATTERN)


def score_json_name(kind: str) -> str:
    """File name of the score JSON of ``kind`` ('be' | 'jsn')."""
    return f"_annotation_{kind}_scores.json"


def joint_detection_json_name(kind: str) -> str:
    """File name of the joint-detection COCO JSON of ``kind`` ('be' | 'jsn')."""
    return f"_annotations_{kind}_joint_detection.coco.json"


def side_of_stem(stem: str) -> str | None:
    """'L' / 'R' from an image stem's ``_L`` / ``_R`` suffix, else None."""
    if stem.endswith("_L"):
        return "L"
    if stem.endswith("_R"):
        return "R"
    return None


def parse_h1200_stem(stem: str) -> dict[str, str] | None:
    """Fields of a RAM-H1200 stem (center, patient, date, image, side), or None if it does not match."""
    m = _STEM_RE.match(stem)
    return m.groupdict() if m else None


def _format_list(items: Sequence[str], limit: int = 3) -> str:
    items = list(items)
    head = ", ".join(items[:limit])
    return head + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def bone_channel_names(coco: CocoFile) -> list[str]:
    """Validate the bone categories of a COCO file and return them as the 30 channel names.

    Drops the id-0 super-category and ``anatomy.DROPPED_BONE_CATEGORY_NAMES``, sorts by id and checks the names
    against ``anatomy.HAND_BONES``: a missing or unknown name or a duplicate raises :class:`RamkitError`; an
    order that differs (all names present) warns, and channels are still mapped by name.
    """
    kept = sorted(
        (cid, name)
        for cid, name in coco.categories.items()
        if cid != 0 and name not in anatomy.DROPPED_BONE_CATEGORY_NAMES
    )
    names = [n for _, n in kept]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RamkitError(f"bone category {dupes[0]!r} appears more than once", coco.path)
    missing = [n for n in anatomy.HAND_BONES if n not in names]
    if missing:
        raise RamkitError(f"bone category {missing[0]!r} is missing ({len(missing)} missing in all)", coco.path)
    unknown = [n for n in names if n not in anatomy.HAND_BONES]
    if unknown:
        raise RamkitError(f"unknown bone category {unknown[0]!r}", coco.path)
    if names != list(anatomy.HAND_BONES):
        warn("bone categories sorted by id are not in the expected order; mapped by name", coco.path)
    return list(anatomy.HAND_BONES)


@dataclass
class SegSample:
    """One segmentation image of RAM-H1200 (nothing decoded until asked)."""

    stem: str
    file_name: str
    image_path: Path
    split: str
    side: str | None
    height: int
    width: int
    _bone: CocoFile = field(repr=False)
    _bone_image: CocoImage = field(repr=False)
    _be_path: Path = field(repr=False)
    _be_loader: object = field(repr=False)  # callable () -> CocoFile
    be_protocol: str = "svdh90"

    def image(self) -> np.ndarray:
        """uint8 H×W radiograph as stored (released left hands are already flipped)."""
        img = read_dataset_image(self.image_path)
        if img.shape != (self.height, self.width):
            raise RamkitError(
                f"image is {img.shape[0]}x{img.shape[1]} but its COCO entry says {self.height}x{self.width}",
                self.image_path,
            )
        return img

    def bones(self) -> np.ndarray:
        """uint8 30×H×W multi-label bone masks, channel order ``anatomy.HAND_BONES`` (overlaps kept)."""
        return self._bone.masks(self._bone_image, anatomy.HAND_BONES)

    def _be_entry(self) -> tuple[CocoFile, CocoImage]:
        coco: CocoFile = self._be_loader()  # type: ignore[operator]
        im = coco.by_file_name.get(self.file_name)
        if im is None:
            raise RamkitError(f"image {self.file_name} has no entry", coco.path)
        if (im.height, im.width) != (self.height, self.width):
            raise RamkitError(
                f"{self.file_name} is {im.height}x{im.width} here but {self.height}x{self.width} in the bone JSON",
                coco.path,
            )
        return coco, im

    def be_masks(self) -> np.ndarray:
        """uint8 3×H×W raw per-category BE unions in ``anatomy.BE_CATEGORIES`` order."""
        coco, im = self._be_entry()
        return coco.masks(im, anatomy.BE_CATEGORIES)

    def be(self, protocol: str | None = None) -> np.ndarray:
        """uint8 H×W BE label map: 0 background, k = k-th class of ``anatomy.BE_PROTOCOL_CLASSES[protocol]``.

        Overlaps resolve with priority SvdH-BE-90 > SvdH-BE-50 > Non-SvdH-BE.
        """
        protocol = protocol or self.be_protocol
        classes = anatomy.BE_PROTOCOL_CLASSES[protocol]
        coco, im = self._be_entry()
        masks = coco.masks(im, classes)
        label = np.zeros((self.height, self.width), np.uint8)
        # lowest priority first, so higher-priority classes overwrite on overlap
        order = sorted(range(len(classes)), key=lambda k: anatomy.BE_CATEGORIES.index(classes[k]), reverse=True)
        for k in order:
            label[masks[k] > 0] = k + 1
        return label


@dataclass
class ScoreSample:
    """One scored joint ROI (H1200 BE/JSN or W600 wrist BE)."""

    hand: str
    joint: anatomy.Joint
    score: int
    path: Path
    split: str
    side: str | None
    kind: str
    #: True when the crop is stored mirrored (RAM-W600 left wrists); released RAM-H1200 ROIs are already
    #: in right-hand orientation.
    mirrored: bool = False

    def image(self, orient: bool = False) -> np.ndarray:
        """uint8 H×W ROI crop as stored; ``orient=True`` flips mirrored crops to right-hand orientation."""
        img = read_dataset_image(self.path)
        return np.ascontiguousarray(img[:, ::-1]) if orient and self.mirrored else img


def read_dataset_image(path: Path) -> np.ndarray:
    """A dataset image or ROI crop (either layout): uint8 H×W; anything but 8-bit grey raises (``ramkit.validate``)."""
    img = read_gray(path)
    problem = rules.image_dtype_problem(img.dtype)
    if problem:
        raise RamkitError(problem, path)
    return img


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    dup = rules.duplicates(k for k, _ in pairs)
    if dup:
        raise ValueError(f"duplicate key {dup[0]!r}")
    return dict(pairs)


def load_json(path: Path) -> object:
    """Parse a JSON file; RamkitError naming the file when missing, not a regular file, malformed or when an
    object repeats a key (JSON would silently keep the last one)."""
    raw = rules.read_bytes(path)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RamkitError(f"malformed JSON ({exc})", path) from None
    except ValueError as exc:
        raise RamkitError(str(exc), path) from None


def resolve_root(root: str | os.PathLike) -> Path:
    """The ``RAM-H1200-v1`` folder given it or its parent; RamkitError when neither holds the layout."""
    root = Path(root)
    if not root.exists():
        raise RamkitError("dataset folder not found", root)
    for cand in (root, root / H1200_DIRNAME):
        if (cand / "Segmentation").is_dir() or (cand / "SvdH_Scoring").is_dir():
            return cand.resolve()
    raise RamkitError(f"not a RAM-H1200 folder (no Segmentation/ or SvdH_Scoring/, nor {H1200_DIRNAME}/ inside)", root)


class H1200:
    """RAM-H1200-v1 reader. ``root`` is the ``RAM-H1200-v1`` folder or its parent."""

    def __init__(self, root: str | os.PathLike):
        self.root = resolve_root(root)
        self._coco: dict[Path, CocoFile] = {}

    # ---------------------------------------------------------------- paths
    def seg_dir(self, split: str) -> Path:
        return self.root / "Segmentation" / split

    def scoring_dir(self, kind: str, split: str) -> Path:
        return self.root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split

    @cached_property
    def splits(self) -> tuple[str, ...]:
        """Splits present under Segmentation/ or SvdH_Scoring/ (in anatomy.SPLITS order)."""
        out = []
        for s in anatomy.SPLITS:
            if self.seg_dir(s).is_dir() or any(self.scoring_dir(k, s).is_dir() for k in ("be", "jsn")):
                out.append(s)
        return tuple(out)

    def _check_split(self, split: str) -> None:
        if split not in anatomy.SPLITS:
            raise RamkitError(f"unknown split {split!r}; expected one of {list(anatomy.SPLITS)}", self.root)

    def coco(self, path: Path) -> CocoFile:
        """Indexed COCO file (cached; indexes only, never masks)."""
        if path not in self._coco:
            self._coco[path] = CocoFile(path)
        return self._coco[path]

    # ---------------------------------------------------------------- segmentation
    def seg(self, split: str, be_protocol: str = "svdh90") -> list[SegSample]:
        """Segmentation samples of ``split`` (lazy). Images lacking a bone annotation are skipped with a warning."""
        self._check_split(split)
        if be_protocol not in anatomy.BE_PROTOCOL_CLASSES:
            raise RamkitError(f"unknown BE protocol {be_protocol!r}; expected {list(anatomy.BE_PROTOCOL_CLASSES)}")
        d = self.seg_dir(split)
        if not d.is_dir():
            raise RamkitError(f"split folder {split!r} not found", d)
        bone = self.coco(d / BONE_JSON)
        if bone.duplicate_ids or bone.duplicate_file_names:
            dup = (bone.duplicate_ids or bone.duplicate_file_names)[0]
            raise RamkitError(f"duplicate image {dup!r} in images (run `ramkit check`)", bone.path)
        bone_channel_names(bone)
        unknown = bone.unknown_category_ids()
        if unknown:
            raise RamkitError(f"annotations use category ids not in categories: {sorted(unknown)}", bone.path)
        be_path = d / BE_JSON

        def be_loader(p: Path = be_path) -> CocoFile:
            return self.coco(p)

        on_disk = {p.name: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
        annotated = bone.image_ids_with_annotations()
        samples: list[SegSample] = []
        no_file, no_ann = [], []
        for im in sorted(bone.images.values(), key=lambda i: i.file_name):
            path = on_disk.get(im.file_name)
            if path is None:
                no_file.append(im.file_name)
                continue
            if im.id not in annotated:
                no_ann.append(im.file_name)
                continue
            h, w = image_size(path)
            if (h, w) != (im.height, im.width):
                raise RamkitError(f"image is {h}x{w} but {bone.path.name} says {im.height}x{im.width}", path)
            samples.append(
                SegSample(
                    stem=im.stem,
                    file_name=im.file_name,
                    image_path=path,
                    split=split,
                    side=side_of_stem(im.stem),
                    height=im.height,
                    width=im.width,
                    _bone=bone,
                    _bone_image=im,
                    _be_path=be_path,
                    _be_loader=be_loader,
                    be_protocol=be_protocol,
                )
            )
        not_in_json = sorted(set(on_disk) - set(bone.by_file_name))
        if no_file:
            warn(f"{len(no_file)} image(s) listed but missing on disk, skipped: {_format_list(no_file)}", bone.path)
        if no_ann:
            warn(f"{len(no_ann)} image(s) without bone annotations, skipped: {_format_list(no_ann)}", bone.path)
        if not_in_json:
            warn(f"{len(not_in_json)} image(s) not in {BONE_JSON}, skipped: {_format_list(not_in_json)}", d)
        return samples

    # ---------------------------------------------------------------- scoring
    def scores(self, kind: str, split: str) -> list[ScoreSample]:
        """Scored joint ROIs of ``kind`` ('be' | 'jsn') in ``split``; raw integer scores.

        A score outside ``anatomy.SCORE_VALUES[kind]`` or a non-integer score raises; missing keys, missing ROI
        files and unknown keys are skipped with one warning each kind of problem.
        """
        self._check_split(split)
        if kind not in ("be", "jsn"):
            raise RamkitError(f"unknown score kind {kind!r}; expected 'be' or 'jsn'")
        d = self.scoring_dir(kind, split)
        path = d / score_json_name(kind)
        data = load_json(path)
        if not isinstance(data, dict):
            raise RamkitError("expected an object keyed by image file name", path)
        joints = anatomy.JOINTS[kind]
        allowed = anatomy.SCORE_VALUES[kind]
        known_keys = {j.key for j in joints}
        out: list[ScoreSample] = []
        missing_key, missing_roi, unknown_key = [], [], set()
        for file_name in sorted(data):
            entry = data[file_name]
            if not isinstance(entry, dict):
                raise RamkitError(f"scores of {file_name!r} are not an object", path)
            hand = Path(file_name).stem
            unknown_key |= set(entry) - known_keys
            for j in joints:
                if j.key not in entry:
                    missing_key.append(f"{hand}/{j.key}")
                    continue
                problem = rules.score_problem(entry[j.key], allowed)
                if problem:
                    raise RamkitError(f"{file_name} {j.key}: {problem}", path)
                score = int(entry[j.key])
                roi = d / hand / f"{j.stem}.bmp"
                if not roi.is_file():
                    missing_roi.append(f"{hand}/{j.stem}.bmp")
                    continue
                out.append(ScoreSample(hand, j, score, roi, split, side_of_stem(hand), kind))
        if missing_key:
            warn(f"{len(missing_key)} score key(s) missing, joints skipped: {_format_list(missing_key)}", path)
        if missing_roi:
            warn(f"{len(missing_roi)} ROI file(s) missing, joints skipped: {_format_list(missing_roi)}", d)
        if unknown_key:
            warn(f"unknown score key(s) ignored: {_format_list(sorted(unknown_key))}", path)
        return out

    def joint_boxes(self, kind: str, split: str) -> dict[str, dict[str, tuple[float, float, float, float]]]:
        """Joint boxes of ``kind`` in ``split``: ``{hand_stem: {joint_stem: (x, y, w, h)}}``."""
        self._check_split(split)
        if kind not in ("be", "jsn"):
            raise RamkitError(f"unknown score kind {kind!r}; expected 'be' or 'jsn'")
        coco = self.coco(self.scoring_dir(kind, split) / joint_detection_json_name(kind))
        return coco_joint_boxes(coco, kind)

    # ---------------------------------------------------------------- metadata
    def metadata(self):
        """``Metadata.xlsx`` as a pandas DataFrame with columns ``anatomy.H1200_METADATA_COLUMNS``."""
        import pandas as pd

        path = self.root / "Metadata.xlsx"
        if not path.is_file():
            raise RamkitError("file not found", path)
        try:
            df = pd.read_excel(path, engine="openpyxl")
        except Exception as exc:
            raise RamkitError(f"cannot read spreadsheet ({type(exc).__name__}: {exc})", path) from None
        missing = [c for c in anatomy.H1200_METADATA_COLUMNS if c not in df.columns]
        if missing:
            raise RamkitError(f"missing column(s) {missing}", path)
        return df[list(anatomy.H1200_METADATA_COLUMNS)]


def coco_joint_boxes(coco: CocoFile, kind: str) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """``{image_stem: {joint_stem: (x, y, w, h)}}`` from a joint-detection COCO file (categories = joint names).

    The image stem is ``images[].extra.name``'s stem when present (official crop tool), else the file name's.
    Unknown joint categories raise; a repeated joint keeps the first box and warns.
    """
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    repeated = []
    for im in sorted(coco.images.values(), key=lambda i: i.file_name):
        stem = Path(str(im.extra.get("name"))).stem if im.extra.get("name") else im.stem
        boxes: dict[str, tuple[float, float, float, float]] = {}
        for name, bxs in coco.boxes(im).items():
            if name == anatomy.SUPERCATEGORY_NAME or name.lower() in ("background", "joints"):
                continue
            try:
                joint = anatomy.joint_by_stem(kind, name)
            except KeyError:
                raise RamkitError(f"unknown joint category {name!r}", coco.path) from None
            if len(bxs) > 1:
                repeated.append(f"{stem}/{joint.stem}")
            b = bxs[0]
            problem = rules.box_problem(b, im.height, im.width)
            if problem:
                raise RamkitError(f"{im.file_name} {joint.stem}: {problem}", coco.path)
            boxes[joint.stem] = (b[0], b[1], b[2], b[3])
        out[stem] = boxes
    if repeated:
        warn(f"{len(repeated)} joint(s) with several boxes, first kept: {_format_list(repeated)}", coco.path)
    return out
