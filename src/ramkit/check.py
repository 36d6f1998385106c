"""``ramkit check``: validate a RAM-H1200 or RAM-W600 folder and summarise it like the papers' Table 9.

Every problem is collected (never first-fail) as one :class:`Problem` line: missing or extra files, unknown
categories, annotation category ids not in categories, COCO size vs image size mismatches, undecodable RLE,
images without annotations, scores outside ``anatomy.SCORE_VALUES`` (NaN and fractions too), non-8-bit images,
mask values other than 0/1, joint boxes outside their image, missing ROI files or score keys, ROI files without a
score key, patients spanning splits, duplicate ids, malformed JSON and filesystem faults (FIFOs, symlink loops,
unreadable files or folders). The rules themselves live in :mod:`ramkit.validate` (shared with the readers and
``evaluate``). Masks are decoded once per image, one image at a time (never a whole split in memory).

``quick=True`` (what ``train``/``test`` run before any work, via :func:`ramkit.validate.require_valid`) applies
the same rules but reads image headers instead of decoding every pixel and does not decode the COCO RLE masks
(the readers still raise on an undecodable mask or truncated image when they reach it).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit import validate as rules
from ramkit.errors import RamkitError
from ramkit.io import h1200 as h1200_io
from ramkit.io import w600 as w600_io
from ramkit.io.coco import CocoFile
from ramkit.io.images import image_size, read_gray
from ramkit.io.layout import detect
from ramkit.progress import track

ERROR = "ERROR"
WARN = "WARN"


@dataclass
class Problem:
    """One problem: level ('ERROR' | 'WARN'), path (relative to the dataset root when inside it), message."""

    level: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.level} {self.path}: {self.message}"


@dataclass
class CheckReport:
    """Result of :func:`check`: layout, root, summary (JSON-ready dict) and all problems."""

    layout: str
    root: Path
    summary: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARN]

    @property
    def ok(self) -> bool:
        """True when no ERROR was found (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "layout": self.layout,
            "root": str(self.root),
            "ok": self.ok,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "summary": self.summary,
            "problems": [asdict(p) for p in self.problems],
        }


class _Collector:
    def __init__(self, root: Path, quick: bool = False):
        self.root = root
        self.quick = quick
        self.problems: list[Problem] = []

    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path)
        for cand in (Path(os.path.abspath(p)), Path(os.path.realpath(p))):  # realpath never raises on loops
            try:
                return str(cand.relative_to(self.root)) or "."
            except ValueError:
                continue
        return str(p)

    def ok_path(self, path: Path, want: str = "file") -> bool:
        """True when ``path`` is a readable regular file (or folder); else one ERROR naming the fault."""
        problem = rules.path_problem(path, want)
        if problem is not None:
            self.error(path, problem)
        return problem is None

    def scan(self, folder: Path) -> list[Path]:
        """Entries of ``folder`` that are readable files or folders; every other entry is one ERROR line."""
        try:
            entries = rules.list_dir(folder)
        except RamkitError as exc:
            self.from_exc(exc, folder)
            return []
        out = []
        for p in entries:
            problem = rules.path_problem(p, "dir") if p.is_dir() else rules.path_problem(p, "file")
            if problem is None:
                out.append(p)
            elif not p.name.startswith("."):
                self.error(p, problem)
        return out

    def error(self, path: str | os.PathLike, message: str) -> None:
        self.problems.append(Problem(ERROR, self._rel(path), message))

    def warn(self, path: str | os.PathLike, message: str) -> None:
        self.problems.append(Problem(WARN, self._rel(path), message))

    def from_exc(self, exc: RamkitError, path: str | os.PathLike) -> None:
        """Record a RamkitError, stripping its leading ``<path>: `` (the path is kept in its own field)."""
        msg = str(exc)
        for prefix in (f"{os.fspath(path)}: ", f"{os.path.realpath(path)}: "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        self.error(path, msg)


def _check_patient_splits(c, root, patient_splits: dict) -> None:
    """Report every patient whose images fall into more than one split (splits are patient-level)."""
    for msg in rules.patient_split_problems(patient_splits, anatomy.SPLITS):
        c.error(root, msg)


def _load_coco(c: _Collector, path: Path) -> CocoFile | None:
    if not c.ok_path(path):
        return None
    try:
        coco = CocoFile(path)
    except RamkitError as exc:
        c.from_exc(exc, path)
        return None
    for what, dup in (("image id", coco.duplicate_ids), ("image file name", coco.duplicate_file_names)):
        if dup:
            c.error(path, f"duplicate {what}(s) in images: {dup[:5]}")
    return coco


def _load_json(c: _Collector, path: Path):
    if not c.ok_path(path):
        return None
    try:
        return h1200_io.load_json(path)
    except RamkitError as exc:
        c.from_exc(exc, path)
        return None


def _image_header(c: _Collector, path: Path) -> tuple[int, int] | None:
    try:
        return image_size(path)
    except RamkitError as exc:
        c.from_exc(exc, path)
        return None


def _header_mode(c: _Collector, path: Path) -> None:
    """Quick mode: the bit depth from the image header only (no pixel decode)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            mode = img.mode
    except Exception:  # noqa: BLE001 - the full decode names the problem
        _decode_image(c, path, quick=False)
        return
    problem = rules.image_mode_problem(mode)
    if problem:
        c.error(path, problem)


def _decode_image(c: _Collector, path: Path, quick: bool = False) -> None:
    """Fully decode one image (catches truncation); odd modes become WARN lines naming the file."""
    if quick:
        _header_mode(c, path)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            img = read_gray(path)
        except RamkitError as exc:
            c.from_exc(exc, path)
            return
    for w in caught:
        if not issubclass(w.category, DeprecationWarning):
            msg = str(w.message)
            c.warn(path, msg.split(": ", 1)[1] if msg.startswith(f"{path}: ") else msg)
    problem = rules.image_dtype_problem(img.dtype)
    if problem:
        c.error(path, problem)


def _check_coco_images(
    c: _Collector, coco: CocoFile, image_dir: Path, on_disk: dict[str, Path], need_annotations: bool
) -> None:
    """Listed images exist with the COCO size; images on disk are listed; annotation category ids are known."""
    for cid in sorted(coco.unknown_category_ids()):
        n = sum(1 for im in coco.images.values() for a in coco.annotations(im) if int(a["category_id"]) == cid)
        c.error(coco.path, f"{n} annotation(s) use category id {cid}, which is not in categories")
    orphans = coco.image_ids_with_annotations() - set(coco.images)
    if orphans:
        c.error(coco.path, f"annotations refer to image id(s) not in images: {sorted(orphans)[:5]}")
    annotated = coco.image_ids_with_annotations()
    for im in coco.images.values():
        path = on_disk.get(im.file_name)
        if path is None:
            c.error(image_dir / im.file_name, f"listed in {coco.path.name} but missing")
            continue
        hw = _image_header(c, path)
        if hw is not None and hw != (im.height, im.width):
            c.error(path, f"image is {hw[0]}x{hw[1]} but {coco.path.name} says {im.height}x{im.width}")
        if need_annotations and im.id not in annotated:
            c.warn(path, f"image without annotations in {coco.path.name} (readers skip it)")
    listed = set(coco.by_file_name)
    for name, path in on_disk.items():
        if name not in listed:
            c.warn(path, f"image without annotations: not listed in {coco.path.name} (readers skip it)")


def _decode_all(c: _Collector, coco: CocoFile, desc: str) -> None:
    """Decode every image's masks once (all categories), one image at a time, recording undecodable ones."""
    if c.quick:
        return
    names = sorted(set(coco.categories.values()))
    annotated = coco.image_ids_with_annotations()
    for im in track([im for im in coco.images.values() if im.id in annotated], desc):
        try:
            coco.masks(im, names)
        except RamkitError as exc:
            msg = str(exc)
            for prefix in (f"{coco.path}: ",):
                msg = msg.replace(prefix, "", 1)
            c.error(coco.path, msg)


# --------------------------------------------------------------------------------------------------
# RAM-H1200
# --------------------------------------------------------------------------------------------------
def _check_bone_categories(c: _Collector, coco: CocoFile) -> None:
    kept = sorted(
        (cid, n) for cid, n in coco.categories.items() if cid != 0 and n not in anatomy.DROPPED_BONE_CATEGORY_NAMES
    )
    names = [n for _, n in kept]
    for n in sorted({n for n in names if names.count(n) > 1}):
        c.error(coco.path, f"bone category {n!r} appears more than once")
    for n in anatomy.HAND_BONES:
        if n not in names:
            c.error(coco.path, f"bone category {n!r} is missing")
    for n in names:
        if n not in anatomy.HAND_BONES:
            c.error(coco.path, f"unknown category {n!r}")
    if set(names) == set(anatomy.HAND_BONES) and names != list(anatomy.HAND_BONES):
        c.warn(coco.path, "bone categories sorted by id are not in the expected order (readers map by name)")


def _check_be_categories(c: _Collector, coco: CocoFile) -> None:
    names = [n for cid, n in sorted(coco.categories.items()) if cid != 0]
    for n in anatomy.BE_CATEGORIES:
        if n not in names:
            c.error(coco.path, f"BE category {n!r} is missing")
    for n in names:
        if n not in anatomy.BE_CATEGORIES and n not in ("Background", "background", anatomy.BE_SUPERCATEGORY_NAME):
            c.error(coco.path, f"unknown category {n!r}")


def _check_h1200(root: Path, c: _Collector) -> dict:
    split_stats: dict[str, dict] = {}
    patient_splits: dict[str, set[str]] = defaultdict(set)
    known_json = {h1200_io.BONE_JSON, h1200_io.BE_JSON}
    for split in anatomy.SPLITS:
        d = root / "Segmentation" / split
        if not d.is_dir():
            c.error(d, "missing split folder")
            continue
        on_disk: dict[str, Path] = {}
        for p in c.scan(d):
            if p.is_file() and p.suffix.lower() in h1200_io.IMAGE_SUFFIXES:
                on_disk[p.name] = p
            elif p.name not in known_json and not p.name.startswith("."):
                c.warn(p, "unexpected file")
        if not on_disk:
            c.error(d, "no images")
        for p in track(list(on_disk.values()), f"images {split}"):
            _decode_image(c, p, c.quick)
        bone = _load_coco(c, d / h1200_io.BONE_JSON)
        if bone is not None:
            _check_bone_categories(c, bone)
            _check_coco_images(c, bone, d, on_disk, need_annotations=True)
            _decode_all(c, bone, f"bone masks {split}")
        be = _load_coco(c, d / h1200_io.BE_JSON)
        if be is not None:
            _check_be_categories(c, be)
            _check_coco_images(c, be, d, on_disk, need_annotations=False)
            _decode_all(c, be, f"BE masks {split}")
        stats = {"images": len(on_disk), "L": 0, "R": 0, "centers": Counter(), "patients": set()}
        for p in on_disk.values():
            fields = h1200_io.parse_h1200_stem(p.stem)
            if fields is None:
                c.warn(p, "file name does not match JP_<Center>_P<PatientID>_<StudyDate>_<ImageID>_<L|R>")
                side = h1200_io.side_of_stem(p.stem)
                if side:
                    stats[side] += 1
                continue
            stats[fields["side"]] += 1
            stats["centers"][fields["center"]] += 1
            if fields["center"] not in anatomy.H1200_CENTERS:
                c.warn(p, f"unknown center {fields['center']!r}; expected one of {list(anatomy.H1200_CENTERS)}")
            pid = f"{fields['center']}_P{fields['patient']}"
            stats["patients"].add(pid)
            patient_splits[pid].add(split)
        split_stats[split] = stats

    score_dist: dict[str, dict[str, Counter]] = {}
    for kind in ("be", "jsn"):
        joints = anatomy.JOINTS[kind]
        allowed = anatomy.SCORE_VALUES[kind]
        dist: dict[str, Counter] = {j.display: Counter() for j in joints}
        score_dist[kind] = dist
        by_stem = {j.stem: j for j in joints}
        for split in anatomy.SPLITS:
            sdir = root / "SvdH_Scoring" / f"SvdH_{kind.upper()}_Scoring" / split
            if not sdir.is_dir():
                c.error(sdir, "missing split folder")
                continue
            spath = sdir / h1200_io.score_json_name(kind)
            data = _load_json(c, spath)
            if data is not None and not isinstance(data, dict):
                c.error(spath, "expected an object keyed by image file name")
                data = None
            data = data or {}
            folders = {p.name: p for p in c.scan(sdir) if p.is_dir()}
            scored_stems = set()
            for file_name in track(sorted(data), f"{kind.upper()} scores {split}"):
                entry = data[file_name]
                hand = Path(file_name).stem
                scored_stems.add(hand)
                fields = h1200_io.parse_h1200_stem(hand)
                if fields:
                    patient_splits[f"{fields['center']}_P{fields['patient']}"].add(split)
                if not isinstance(entry, dict):
                    c.error(spath, f"scores of {file_name!r} are not an object")
                    continue
                folder = folders.get(hand)
                if folder is None:
                    c.error(sdir / hand, f"missing ROI folder for {file_name}")
                for key in sorted(set(entry) - {j.key for j in joints}):
                    c.error(spath, f"{file_name}: unknown score key {key!r}")
                for j in joints:
                    roi = sdir / hand / f"{j.stem}.bmp"
                    if j.key not in entry:
                        msg = f"{file_name}: missing score key {j.key}"
                        c.error(spath, msg + (" (its ROI file exists)" if roi.is_file() else ""))
                        continue
                    problem = rules.score_problem(entry[j.key], allowed)
                    if problem:
                        c.error(spath, f"{file_name} {j.key}: {problem}")
                    else:
                        dist[j.display][int(entry[j.key])] += 1
                    if folder is not None and not os.path.lexists(roi):
                        c.error(roi, "missing ROI file")
            for name, folder in sorted(folders.items()):
                if name not in scored_stems:
                    c.error(folder, f"ROI folder without scores in {spath.name}")
                    continue
                for p in c.scan(folder):
                    if p.suffix.lower() == ".bmp" and p.stem not in by_stem:
                        c.error(p, f"ROI file without a score key (not a {kind.upper()} joint)")
                    elif p.suffix.lower() == ".bmp":
                        _decode_image(c, p, c.quick)
            det = _load_coco(c, sdir / h1200_io.joint_detection_json_name(kind))
            if det is not None:
                _check_joint_coco(c, det, kind, scored_stems)

    meta = root / "Metadata.xlsx"
    if not os.path.lexists(meta):
        c.warn(meta, "missing file")
    elif not c.ok_path(meta):
        pass
    else:
        try:
            h1200_io.H1200(root).metadata()
        except RamkitError as exc:
            c.from_exc(exc, meta)

    _check_patient_splits(c, root, patient_splits)

    return {
        "splits": {
            s: {
                "images": st["images"],
                "hands_L": st["L"],
                "hands_R": st["R"],
                "patients": len(st["patients"]),
                "centers": {k: st["centers"].get(k, 0) for k in anatomy.H1200_CENTERS}
                | {k: v for k, v in st["centers"].items() if k not in anatomy.H1200_CENTERS},
            }
            for s, st in split_stats.items()
        },
        "scores": {
            kind: {j: {str(v): dist[j].get(v, 0) for v in anatomy.SCORE_VALUES[kind]} for j in dist}
            for kind, dist in score_dist.items()
        },
    }


def _check_joint_coco(c: _Collector, det: CocoFile, kind: str, expected_stems: set[str] | None) -> None:
    for cid in sorted(det.unknown_category_ids()):
        c.error(det.path, f"annotations use category id {cid}, which is not in categories")
    valid_cids = set()
    for cid, name in sorted(det.categories.items()):
        if name == anatomy.SUPERCATEGORY_NAME or name.lower() in ("background", "joints"):
            continue
        try:
            anatomy.joint_by_stem(kind, name)
            valid_cids.add(cid)
        except KeyError:
            c.error(det.path, f"unknown category {name!r}")
    n_joints = len(anatomy.JOINTS[kind])
    for im in det.images.values():
        for name, bxs in sorted(det.boxes(im).items()):
            for b in bxs:
                problem = rules.box_problem(b, im.height, im.width)
                if problem:
                    c.error(det.path, f"{im.file_name} {name}: {problem}")
        found = {int(a["category_id"]) for a in det.annotations(im)} & valid_cids
        if not found:
            c.warn(det.path, f"{im.file_name}: image without joint boxes")
        elif len(found) < n_joints:
            c.warn(det.path, f"{im.file_name}: {n_joints - len(found)} of {n_joints} joint boxes missing")
        if expected_stems is not None and im.stem not in expected_stems:
            c.warn(det.path, f"{im.file_name}: has joint boxes but no scores")


# --------------------------------------------------------------------------------------------------
# RAM-W600
# --------------------------------------------------------------------------------------------------
def _check_w600(root: Path, c: _Collector) -> dict:
    img_dir = root / w600_io.SEG_DIR / "images"
    images: dict[str, Path] = {}
    if not img_dir.is_dir():
        c.error(img_dir, "missing folder")
    else:
        for p in c.scan(img_dir):
            if p.is_file() and p.suffix.lower() in w600_io.IMAGE_SUFFIXES:
                images[p.stem] = p
            elif not p.name.startswith("."):
                c.warn(p, "unexpected file")
    patient_splits: dict[str, set[str]] = defaultdict(set)
    split_stats: dict[str, dict] = {}
    masked: set[str] = set()
    for split in anatomy.SPLITS:
        d = root / w600_io.SEG_DIR / "masks" / split
        if not d.is_dir():
            c.error(d, "missing split folder")
            continue
        stats = {"images": 0, "L": 0, "R": 0, "patients": set()}
        files = [p for p in c.scan(d) if not p.name.startswith(".")]
        for p in files:
            if p.suffix != ".npy":
                c.warn(p, "unexpected file")
        for mp in track([p for p in files if p.suffix == ".npy"], f"wrist masks {split}"):
            stem = mp.stem
            masked.add(stem)
            ip = images.get(stem)
            if ip is None:
                c.error(mp, f"mask without an image in {w600_io.SEG_DIR}/images")
            hw = _image_header(c, ip) if ip is not None else None
            if ip is not None:
                _decode_image(c, ip, c.quick)
            try:
                arr = w600_io.load_mask_header(mp)
                w600_io.validate_mask(arr, mp, hw)
                bad = rules.mask_values_problem(np.unique(np.asarray(arr)).tolist())
                if bad is not None:
                    (c.warn if bad[0] == WARN else c.error)(mp, bad[1])
            except RamkitError as exc:
                c.from_exc(exc, mp)
            stats["images"] += 1
            fields = w600_io.parse_w600_stem(stem)
            if fields is None:
                c.warn(mp, "file name does not match <PatientID>_<StudyID>_<L|R>")
                side = h1200_io.side_of_stem(stem)
                if side:
                    stats[side] += 1
                continue
            stats[fields["side"]] += 1
            stats["patients"].add(fields["patient"])
            patient_splits[fields["patient"]].add(split)
        split_stats[split] = stats
    for stem, p in images.items():
        if stem not in masked:
            c.warn(p, "image without annotations (no mask in any split)")

    det_path = root / w600_io.DET_DIR / w600_io.JOINTS_COCO
    det = _load_coco(c, det_path)
    if det is not None:
        _check_joint_coco(c, det, "w600", None)
        ddir = root / w600_io.DET_DIR / "images"
        on_disk = {p.name: p for p in c.scan(ddir) if p.is_file()} if ddir.is_dir() else {}
        if not ddir.is_dir():
            c.error(ddir, "missing folder")
        _check_coco_images(c, det, ddir, on_disk, need_annotations=False)

    gt_path = root / w600_io.CLS_DIR / w600_io.GT_JSON
    data = _load_json(c, gt_path)
    gt: dict[str, dict[str, int]] = {}
    allowed = anatomy.SCORE_VALUES["w600"]
    dist: dict[str, Counter] = {j.display: Counter() for j in anatomy.W600_JOINTS}
    if data is not None and not isinstance(data, list):
        c.error(gt_path, "expected a list of {identifier, joints} objects")
        data = None
    for i, e in enumerate(data or []):
        if not isinstance(e, dict) or "identifier" not in e or not isinstance(e.get("joints"), dict):
            c.error(gt_path, f"entry {i} lacks 'identifier' or a 'joints' object")
            continue
        ident = str(e["identifier"])
        if ident in gt:
            c.error(gt_path, f"identifier {ident!r} appears more than once")
            continue
        scores: dict[str, int] = {}
        for name, value in e["joints"].items():
            j = w600_io.canonical_joint(name)
            if j is None:
                c.error(gt_path, f"{ident}: unknown joint {name!r}")
                continue
            problem = rules.score_problem(value, allowed)
            if problem:
                c.error(gt_path, f"{ident} {name}: {problem}")
                continue
            scores[j.stem] = int(value)
        gt[ident] = scores
    seen_ids: set[str] = set()
    for split in anatomy.SPLITS:
        d = root / w600_io.CLS_DIR / split
        if not d.is_dir():
            c.error(d, "missing split folder")
            continue
        for folder in track([p for p in c.scan(d) if p.is_dir()], f"wrist ROIs {split}"):
            ident = folder.name
            seen_ids.add(ident)
            fields = w600_io.parse_w600_stem(ident)
            if fields:
                patient_splits[fields["patient"]].add(split)
            if ident not in gt:
                c.error(folder, f"ROI folder without a GT entry in {w600_io.GT_JSON}")
                continue
            files = {}
            for p in c.scan(folder):
                j = w600_io.canonical_joint(p.stem) if p.suffix.lower() in w600_io.IMAGE_SUFFIXES else None
                if j is None:
                    c.error(p, "ROI file without a score key (not a wrist joint)")
                else:
                    files[j.stem] = p
                    _decode_image(c, p, c.quick)
            for j in anatomy.W600_JOINTS:
                if j.stem not in gt[ident]:
                    c.error(
                        gt_path,
                        f"{ident}: missing score key {j.stem}" + (" (its ROI file exists)" if j.stem in files else ""),
                    )
                    continue
                dist[j.display][gt[ident][j.stem]] += 1
                if j.stem not in files:
                    c.error(folder / f"{j.stem}.bmp", "missing ROI file")
    for ident in sorted(set(gt) - seen_ids):
        c.warn(gt_path, f"{ident}: GT entry without an ROI folder in any split")

    _check_patient_splits(c, root, patient_splits)
    return {
        "splits": {
            s: {"images": st["images"], "hands_L": st["L"], "hands_R": st["R"], "patients": len(st["patients"])}
            for s, st in split_stats.items()
        },
        "scores": {"w600": {j: {str(v): dist[j].get(v, 0) for v in allowed} for j in dist}},
    }


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------
def check(root: str | os.PathLike, quick: bool = False) -> CheckReport:
    """Validate the dataset at ``root`` (the dataset folder or its parent) and return a :class:`CheckReport`.

    Raises :class:`RamkitError` only when ``root`` is not a dataset at all; every other problem is collected.
    ``quick`` reads image headers instead of pixels and skips decoding the COCO masks (see the module doc).
    """
    layout, resolved = detect(root)
    c = _Collector(resolved, quick)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = _check_h1200(resolved, c) if layout == "h1200" else _check_w600(resolved, c)
    for w in caught:  # warnings from library helpers (e.g. image mode conversions) become WARN problems
        if issubclass(w.category, Warning) and not issubclass(w.category, DeprecationWarning):
            c.warn(resolved, str(w.message))
    return CheckReport(layout=layout, root=resolved, summary=summary, problems=c.problems)


def print_report(report: CheckReport, console=None) -> None:
    """Print the Table-9 style summary, score distributions and every problem (one line each)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    name = "RAM-H1200" if report.layout == "h1200" else "RAM-W600"
    splits = report.summary.get("splits", {})
    t = Table(title=f"{name}: {report.root}")
    t.add_column("")
    for s in splits:
        t.add_column(s, justify="right")
    t.add_column("total", justify="right")

    def row(label: str, values: list[int]) -> None:
        t.add_row(label, *[str(v) for v in values], str(sum(values)))

    row("Images", [v["images"] for v in splits.values()])
    row("Hands L", [v["hands_L"] for v in splits.values()])
    row("Hands R", [v["hands_R"] for v in splits.values()])
    row("Patients", [v["patients"] for v in splits.values()])
    centers: list[str] = []
    for v in splits.values():
        centers += [k for k in v.get("centers", {}) if k not in centers]
    for center in centers:
        row(f"  {center}", [v["centers"].get(center, 0) for v in splits.values()])
    console.print(t)
    for kind, dist in report.summary.get("scores", {}).items():
        values = anatomy.SCORE_VALUES[kind]
        st = Table(title=f"{kind.upper()} scores per joint (ROI counts, all splits)")
        st.add_column("Joint")
        for v in values:
            st.add_column(str(v), justify="right")
        st.add_column("total", justify="right")
        totals = [0] * len(values)
        for joint, counts in dist.items():
            cells = [counts.get(str(v), 0) for v in values]
            totals = [a + b for a, b in zip(totals, cells, strict=False)]
            st.add_row(joint, *[str(x) for x in cells], str(sum(cells)))
        st.add_row("All", *[str(x) for x in totals], str(sum(totals)), style="bold")
        console.print(st)
    for p in report.problems:
        console.print(p.line(), markup=False, highlight=False, soft_wrap=True)
    verdict = "OK" if report.ok else "FAILED"
    console.print(
        f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)", markup=False, highlight=False
    )
