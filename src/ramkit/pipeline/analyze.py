"""``ramkit analyze``: radiographs in -> per-joint SvdH scores, erosion areas, totals, overlays and a report out.

Per radiograph (:meth:`Analyzer.analyze`): read (DICOM with its LUTs, spacing, laterality) -> hand or wrist
(``--anatomy`` or decided from the image: a hand shows phalanges) -> bone segmentation -> joint boxes
(:mod:`ramkit.joints`) -> ROI crops on the model grid (right-hand orientation, training spacing, as the
release's crops) -> BE and JSN ordinal scores (class probabilities, expected score, SD) or, for a wrist, the
erosion probability per joint -> BE segmentation with lesion area (mm²) per joint -> totals. Everything is
mapped back to the input file's grid and orientation. Per batch (:func:`analyze`): ``OUT/<name>/result.json``
+ ``overlay.png``, ``OUT/results.csv``, ``OUT/progression.csv`` and one self-contained ``OUT/report.html``.
The result schema is documented in docs/analyze.md (``RESULT_SCHEMA`` is its version).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ramkit import anatomy
from ramkit.errors import RamkitError, RamkitWarning
from ramkit.io.atomic import write_json

#: Version of the result.json schema (docs/analyze.md).
RESULT_SCHEMA = "ramkit.analyze/1"
#: Stage -> task that serves it.
STAGES = {
    "hand-bones": "hand-bone-seg",
    "hand-be-score": "hand-be-score",
    "hand-jsn-score": "hand-jsn-score",
    "hand-be-seg": "hand-be-seg",
    "wrist-bones": "wrist-bone-seg",
    "wrist-be": "wrist-be-cls",
    "hand-total-mil": "total-svdh-mil",
}
#: result key of the MIL total per regressed target (``--target`` of the MIL run)
MIL_TOTAL_KEY = {"total": "SvdH_mil", "be": "BE_mil", "jsn": "JSN_mil"}
#: A hand shows phalanges: at least this many of the 14 phalanx channels with >= PHALANX_MIN_MM2 of mask.
MIN_PHALANGES = 5
PHALANX_MIN_MM2 = 10.0
#: A whole hand needs a field of view of at least this (longest side, mm); RAM-W600 wrist crops span ~90 mm.
HAND_MIN_EXTENT_MM = 160.0
_SOFT_TISSUE = "SoftTissue"  #: the one non-bone channel of the hand task (not coloured in overlays)
assert _SOFT_TISSUE in anatomy.HAND_BONES
_PHALANGES = tuple(b for b in anatomy.HAND_BONES if b[:2] in ("PP", "MP", "DP"))


class Analyzer:
    """The trained runs of a batch, loaded once (lazily, per stage), and the per-radiograph analysis."""

    def __init__(
        self,
        runs: dict[str, Path],
        device: str = "cpu",
        amp: bool = False,
        anatomy_hint: str | None = None,
        threads: int | None = None,
        log=None,
    ):
        self.runs = dict(runs)
        self.device = device
        self.amp = amp
        self.anatomy_hint = anatomy_hint
        self.threads = threads
        self.log = log = log or _log
        self._pred: dict[str, Any] = {}
        for stage, task in STAGES.items():
            if task not in self.runs:
                log(f"ramkit: warning: no {task} run given; stage {stage!r} skipped")

    def predictor(self, task: str):
        """The :class:`~ramkit.predictor.Predictor` of ``task`` or None when no run serves it."""
        if task not in self.runs:
            return None
        if task not in self._pred:
            from ramkit.predictor import Predictor

            self._pred[task] = Predictor.from_run(
                self.runs[task], device=self.device, amp=self.amp, threads=self.threads
            )
        return self._pred[task]

    def describe_runs(self) -> dict:
        return {t: self.predictor(t).describe() for t in sorted(self.runs)}

    # ------------------------------------------------------------------ one radiograph
    def analyze(self, path: Path, spacing_mm: float | None = None, side: str | None = None) -> dict:
        """Analyse one radiograph; returns the ``result.json`` dict (``arrays`` holds the overlay inputs)."""
        _refuse_colour_photo(path)
        _refuse_dicom_without_spacing(path, spacing_mm)
        hand = self.predictor("hand-bone-seg")
        wrist = self.predictor("wrist-bone-seg")
        if hand is None and wrist is None:
            raise RamkitError("no bone segmentation run (hand-bone-seg or wrist-bone-seg) given; nothing to do")
        which = self.anatomy_hint
        seg = None
        if which in (None, "hand") and hand is not None:
            rad = hand.prepare(path, spacing_mm=spacing_mm, side=side, dataset="h1200")
            if which is None and wrist is not None and _extent_mm(rad) < HAND_MIN_EXTENT_MM:
                which = "wrist"  # a field this small cannot hold a whole hand
            else:
                seg = hand.predict_prepared(rad)
                if which is None:
                    which = "hand" if _is_hand(seg) or wrist is None else "wrist"
        if which is None:
            which = "wrist"
        if which == "hand":
            if hand is None:
                raise RamkitError("--anatomy hand needs a hand-bone-seg run")
            return self._hand(seg, path)
        if wrist is None:
            raise RamkitError("the image shows a wrist (no phalanges found) but no wrist-bone-seg run was given")
        rad = wrist.prepare(path, spacing_mm=spacing_mm, side=side, dataset="w600")
        return self._wrist(wrist.predict_prepared(rad), path, spacing_mm, side)

    def _hand(self, seg, path: Path) -> dict:
        from ramkit import joints

        rad = seg.radiograph
        sp = seg.spacing_mm
        boxes = {k: joints.joint_boxes(seg.model_masks, sp, k) for k in ("be", "jsn")}
        if all(b is None for k in boxes for b in boxes[k].values()):
            raise RamkitError("no bone found in the image (no joint could be located)", path)
        res = _base_result(path, rad, "hand", seg)
        joints_out: dict[str, dict] = {}
        for kind, task in (("be", "hand-be-score"), ("jsn", "hand-jsn-score")):
            pred = self.predictor(task)
            for j in anatomy.JOINTS[kind]:
                b = boxes[kind][j.stem]
                entry = joints_out.setdefault(f"{kind.upper()}:{j.stem}", {"kind": kind, "joint": j.stem})
                entry.update({"display": j.display, "box_model": list(b) if b else None})
                entry["box"] = joints.box_to_source(b, seg.pixels.shape, rad.source_shape, rad.flipped) if b else None
            if pred is not None:
                located = [j for j in anatomy.JOINTS[kind] if boxes[kind][j.stem] is not None]
                crops = [joints.crop(seg.pixels, b) for j in located if (b := boxes[kind][j.stem]) is not None]
                if crops:
                    s = pred.predict_rois(crops, spacing_mm=sp)
                    for i, j in enumerate(located):
                        joints_out[f"{kind.upper()}:{j.stem}"].update(_score_entry(s, i))
        lesion = self._lesions(rad, joints_out)
        res["joints"] = list(joints_out.values())
        res["totals"] = _totals(res["joints"], lesion)
        mil = self._mil_total(seg, boxes, joints_out)
        if mil is not None:
            res["totals"][mil["key"]] = mil["total"]
            res["mil"] = mil
        res["arrays"] = {
            "bones": _overlay_bones(seg.masks, seg.class_names),
            "lesions": lesion,
            "image": rad.to_source(seg.pixels),
        }
        res["stages"] = self._stages(
            ("hand-bone-seg", "hand-be-score", "hand-jsn-score", "hand-be-seg", "total-svdh-mil")
        )
        return res

    def _mil_total(self, seg, boxes: dict, joints_out: dict) -> dict | None:
        """The MIL run's total of the hand and each patch's attention, or None without a MIL run.

        Scheme 2: the bag is the located BE and JSN joint crops (the boxes analyze derived, on the bone model's
        grid); each joint entry gets its ``attention`` weight. Scheme 1: the top-K tiles of the radiograph.
        """
        from ramkit import joints
        from ramkit.tasks import mil as milmod

        pred = self.predictor("total-svdh-mil")
        if pred is None:
            return None
        cfg = pred.config
        rad = seg.radiograph
        if cfg.mil_scheme == 2:
            located = [(k, j.stem) for k in ("be", "jsn") for j in anatomy.JOINTS[k] if boxes[k][j.stem] is not None]
            model_boxes = [boxes[k][stem] for k, stem in located]
            names = [f"{k.upper()}:{stem}" for k, stem in located]
            patches = [joints.crop(seg.pixels, b) for b in model_boxes]
        else:
            from ramkit.train.data import Case

            img = seg.pixels
            case = Case("analyze", milmod._constant(img), milmod._constant(0.0), {"instances": []})
            inst = milmod.bag_instances(pred.model, case, cfg, pred.device)
            names, model_boxes, patches = [i.name for i in inst], [i.box for i in inst], [i.image() for i in inst]
        if not patches:
            return None
        total, attn = milmod.predict_bag(pred.model, patches, model_boxes, names, pred.device, cfg.patch_size)
        src_boxes = [joints.box_to_source(b, seg.pixels.shape, rad.source_shape, rad.flipped) for b in model_boxes]
        for name, a in zip(names, attn, strict=True):
            if name in joints_out:
                joints_out[name]["attention"] = round(float(a), 6)
        return {
            "key": MIL_TOTAL_KEY[cfg.target],
            "target": cfg.target,
            "scheme": int(cfg.mil_scheme),
            "total": round(float(total), 2),
            "patches": [
                {"name": n, "box": [round(float(v), 1) for v in b], "attention": round(float(a), 6)}
                for n, b, a in zip(names, src_boxes, attn, strict=True)
            ],
        }

    def _wrist(self, seg, path: Path, spacing_mm, side) -> dict:
        from ramkit import joints

        rad = seg.radiograph
        boxes = joints.wrist_joint_boxes(seg.model_masks, seg.spacing_mm)
        if all(b is None for b in boxes.values()):
            raise RamkitError("no bone found in the image (no wrist joint could be located)", path)
        res = _base_result(path, rad, "wrist", seg)
        out: dict[str, dict] = {}
        for j in anatomy.W600_JOINTS:
            b = boxes[j.stem]
            out[j.stem] = {
                "kind": "w600",
                "joint": j.stem,
                "display": j.display,
                "be_joint": anatomy.W600_JOINT_TO_BE_STEM[j.stem],
                "box_model": list(b) if b else None,
                "box": joints.box_to_source(b, seg.pixels.shape, rad.source_shape, rad.flipped) if b else None,
            }
        located = [j for j in anatomy.W600_JOINTS if boxes[j.stem] is not None]
        crops = [joints.crop(seg.pixels, b) for j in located if (b := boxes[j.stem]) is not None]
        cls = self.predictor("wrist-be-cls")
        if cls is not None and crops:
            s = cls.predict_rois(crops, spacing_mm=seg.spacing_mm)
            for i, j in enumerate(located):
                out[j.stem].update({"erosion": bool(s.classes[i]), "p_erosion": round(float(s.probs[i, 1]), 4)})
        scorer = self.predictor("hand-be-score")
        if scorer is not None and crops:  # the RAM-H1200 BE scorer on the same joints (0/1/2/3/5)
            s = scorer.predict_rois(crops, spacing_mm=seg.spacing_mm)
            for i, j in enumerate(located):
                out[j.stem].update(_score_entry(s, i))
        lesion = self._lesions(rad, out, dataset="w600", spacing_mm=spacing_mm, side=side)
        res["joints"] = list(out.values())
        res["totals"] = _totals(res["joints"], lesion)
        res["arrays"] = {"bones": seg.masks, "lesions": lesion, "image": rad.to_source(seg.pixels)}
        res["stages"] = self._stages(("wrist-bone-seg", "wrist-be-cls", "hand-be-score", "hand-be-seg"))
        return res

    def _lesions(self, rad, joints_out: dict, dataset: str = "h1200", spacing_mm=None, side=None):
        """BE segmentation around each BE/wrist joint box; lesion mask on the source grid and the lesion area
        (mm²) inside each box. Only the boxes (plus a margin of half a BE patch) are segmented: lesion area is
        reported per joint, and this is ~3× cheaper than the whole radiograph. None without a BE run."""
        from ramkit import joints
        from ramkit.predictor import masks_to_source

        be = self.predictor("hand-be-seg")
        if be is None:
            return None
        if dataset == "h1200" and abs(be.train_spacing_mm - float(rad.spacing_mm)) < 1e-9:
            grid = rad
        else:
            grid = be.prepare(rad.path, spacing_mm=spacing_mm, side=side, dataset=dataset, check_extent=False)
        h, w = grid.pixels.shape
        lesion = np.zeros((h, w), bool)
        margin = be.patch_size // 2
        todo = [e for e in joints_out.values() if e["kind"] in ("be", "w600") and e.get("box") is not None]
        for e in todo:
            x, y, bw, bh = joints.box_to_model(e["box"], (h, w), grid.source_shape, grid.flipped)
            x0, y0, x1, y1 = max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin)
            m = be.segment_grid(grid.pixels[y0:y1, x0:x1]).any(0)
            lesion[y : y + bh, x : x + bw] |= m[y - y0 : y - y0 + bh, x - x0 : x - x0 + bw]
        lesion_src = masks_to_source(grid, lesion)
        src_sp = grid.source_spacing_mm or (grid.spacing_mm * h / grid.source_shape[0],) * 2
        px_area = float(src_sp[0] * src_sp[1])
        for e in todo:
            x, y, bw, bh = (int(round(v)) for v in e["box"])
            e["lesion_area_mm2"] = round(float(lesion_src[y : y + bh, x : x + bw].sum()) * px_area, 2)
        return lesion_src

    def _stages(self, tasks: Iterable[str]) -> dict:
        return {t: ("done" if t in self.runs else "skipped (no run)") for t in tasks}


# ------------------------------------------------------------------------------------------------------
def _write_attention(path: Path, image: np.ndarray, mil: dict) -> None:
    """The MIL attention map of one hand: every patch box filled by its weight (mil.draw_attention)."""
    from ramkit.tasks.mil import draw_attention

    p = mil["patches"]
    title = f"MIL {mil['key']} {mil['total']:.1f} (scheme {mil['scheme']})"
    draw_attention(image, [q["box"] for q in p], np.array([q["attention"] for q in p]), [q["name"] for q in p],
                   path, title)  # fmt: skip


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _extent_mm(rad) -> float:
    """Longest side of the radiograph in mm (its spacing, or the assumed release spacing of the model grid)."""
    sy = rad.spacing_mm * rad.pixels.shape[0]
    sx = rad.spacing_mm * rad.pixels.shape[1]
    return float(max(sy, sx))


def _is_hand(seg) -> bool:
    idx = [seg.class_names.index(b) for b in _PHALANGES if b in seg.class_names]
    min_px = PHALANX_MIN_MM2 / seg.spacing_mm**2
    return sum(int(seg.model_masks[i].sum() >= min_px) for i in idx) >= MIN_PHALANGES


def _refuse_colour_photo(path: Path) -> None:
    """A colour picture (channels differ) is not a radiograph: RamkitError instead of a silent grey conversion."""
    from PIL import Image, UnidentifiedImageError

    from ramkit.io.images import is_dicom

    if is_dicom(path):
        return
    try:
        with Image.open(path) as img:
            if img.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
                return
            img.draft("RGB", (256, 256))
            rgb = np.asarray(img.convert("RGB").resize((128, 128)), np.float32)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return  # the reader reports it with its own message
    spread = np.abs(rgb - rgb.mean(2, keepdims=True)).mean()
    if spread > 4.0:
        raise RamkitError(f"colour image (mean channel spread {spread:.0f} grey levels); not a radiograph", path)


def _refuse_dicom_without_spacing(path: Path, spacing_mm: float | None) -> None:
    """Areas in mm² and the model grid need a spacing: a DICOM without one must be given ``--input-spacing``."""
    from ramkit.io.images import is_dicom

    if spacing_mm is not None or not is_dicom(path):
        return
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - unreadable: the reader reports it
        return
    if "PixelSpacing" not in ds and "ImagerPixelSpacing" not in ds:
        raise RamkitError("DICOM has no PixelSpacing or ImagerPixelSpacing; give --input-spacing MM", path)


def _overlay_bones(masks: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The bone channels worth colouring (the soft-tissue outline would cover the whole hand)."""
    keep = [i for i, n in enumerate(names) if n != _SOFT_TISSUE]
    return masks[keep]


def _score_entry(s, i: int) -> dict:
    return {
        "score": int(s.scores[i]),
        "probabilities": {str(v): round(float(p), 4) for v, p in zip(s.values, s.probs[i], strict=True)},
        "expected": round(float(s.expected[i]), 3),
        "sd": round(float(s.sd[i]), 3),
        "entropy": round(float(s.entropy[i]), 3),
    }


def _totals(joints_out: list[dict], lesion) -> dict:
    t: dict[str, Any] = {}
    for kind, name in (("be", "BE"), ("jsn", "JSN")):
        rows = [e for e in joints_out if e["kind"] == kind]
        scored = [e for e in rows if "score" in e]
        if scored:
            t[name] = int(sum(e["score"] for e in scored))
            t[f"{name}_expected"] = round(float(sum(e["expected"] for e in scored)), 2)
            t[f"{name}_max"] = anatomy.MAX_TOTAL[kind]
            t[f"{name}_joints_scored"] = len(scored)
    w = [e for e in joints_out if e["kind"] == "w600"]
    if w:
        scored = [e for e in w if "score" in e]
        if scored:
            t["BE"] = int(sum(e["score"] for e in scored))
            t["BE_expected"] = round(float(sum(e["expected"] for e in scored)), 2)
            t["BE_max"] = anatomy.MAX_TOTAL["w600"]
        if any("erosion" in e for e in w):
            t["eroded_joints"] = int(sum(bool(e.get("erosion")) for e in w))
    if "BE" in t and "JSN" in t:
        t["SvdH"] = t["BE"] + t["JSN"]
    if lesion is not None:
        t["lesion_area_mm2"] = round(float(sum(e.get("lesion_area_mm2", 0.0) for e in joints_out)), 2)
    return t


def _base_result(path: Path, rad, which: str, seg) -> dict:
    import ramkit
    from ramkit.pipeline.progression import visit_key
    from ramkit.predictor import file_sha256

    sp = rad.source_spacing_mm or (  # the assumed release spacing, as the model grid implies it
        round(rad.spacing_mm * rad.pixels.shape[0] / rad.source_shape[0], 6),
        round(rad.spacing_mm * rad.pixels.shape[1] / rad.source_shape[1], 6),
    )
    return {
        "schema": RESULT_SCHEMA,
        "ramkit_version": ramkit.__version__,
        "input": {
            "file": os.fspath(path),
            "sha256": file_sha256(path),
            "height": rad.source_shape[0],
            "width": rad.source_shape[1],
            "bit_depth": rad.bit_depth,
        },  # fmt: skip
        "spacing_mm": list(sp),
        "spacing_assumed": rad.source_spacing_mm is None,
        "model_spacing_mm": seg.spacing_mm,
        "side": rad.side,
        "flipped_for_models": bool(rad.flipped),
        "anatomy": which,
        "visit": visit_key(path),
    }


# ------------------------------------------------------------------------------------------------------
def result_is_current(result_file: Path, sha256: str, runs: dict[str, str]) -> bool:
    """A previous result is reused when the input hash, the schema and every run's weights checksum match."""
    import json

    try:
        old = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        old.get("status") == "ok"
        and old.get("schema") == RESULT_SCHEMA
        and old.get("input", {}).get("sha256") == sha256
        and {t: r.get("weights_sha256") for t, r in old.get("runs", {}).items()} == runs
    )


def _analyze_shard(
    items: list[tuple[Path, str]], out: Path, runs: dict[str, Path], opts: dict, rank: int = 0, quiet: bool = False
) -> list[dict]:
    """Analyse ``items`` (path, output name); write ``OUT/<name>/result.json`` + overlay; return summaries."""
    from ramkit.predictor import file_sha256
    from ramkit.progress import track
    from ramkit.report.overlay import analysis_overlay, write_rgb

    an = Analyzer(runs, device=opts.get("device", "cpu"), amp=opts.get("amp", False),
                  anatomy_hint=opts.get("anatomy"), threads=opts.get("threads"),
                  log=(lambda m: None) if rank else _log)  # fmt: skip
    checksums = {t: an.predictor(t).checksum for t in runs}
    summaries = []
    it = items if quiet else track(items, "analyze" if not rank else f"analyze (rank {rank})")
    for path, name in it:
        folder = out / name
        t0 = time.perf_counter()
        try:
            sha = file_sha256(path) if path.is_file() else None
        except OSError:
            sha = None
        if sha and opts.get("resume", True) and result_is_current(folder / "result.json", sha, checksums):
            summaries.append({"name": name, "input": os.fspath(path), "status": "ok", "resumed": True})
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RamkitWarning)
            try:
                res = an.analyze(path, spacing_mm=opts.get("spacing"), side=opts.get("side"))
                arrays = res.pop("arrays")
                res["status"] = "ok"
                res["runs"] = an.describe_runs()
                write_rgb(folder / "overlay.png", analysis_overlay(arrays["image"], arrays["bones"],
                          arrays["lesions"], res["joints"], res.get("side")))  # fmt: skip
                if res.get("mil"):
                    _write_attention(folder / "attention.png", arrays["image"], res["mil"])
            except RamkitError as exc:
                res = {"schema": RESULT_SCHEMA, "status": "failed", "error": str(exc),
                       "input": {"file": os.fspath(path), "sha256": sha}}  # fmt: skip
                print(f"ramkit: error: {exc}", file=sys.stderr, flush=True)
        res["warnings"] = [str(w.message) for w in caught if issubclass(w.category, RamkitWarning)]
        for w in res["warnings"]:
            print(f"ramkit: warning: {w}", file=sys.stderr, flush=True)
        res["name"] = name
        res["seconds"] = round(time.perf_counter() - t0, 3)
        write_json(folder / "result.json", res, indent=2)
        summaries.append({"name": name, "input": os.fspath(path), "status": res["status"]})
    return summaries


def _shard_worker(args) -> list[dict]:
    items, out, runs, opts, rank = args
    import torch

    torch.set_num_threads(max(1, int(opts.get("threads") or 1)))
    return _analyze_shard(items, out, runs, opts, rank=rank, quiet=True)


def analyze(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    runs: dict[str, Path],
    *,
    anatomy_hint: str | None = None,
    device: str = "cpu",
    amp: bool = False,
    spacing_mm: float | None = None,
    side: str | None = None,
    workers: int = 1,
    threads: int | None = None,
    resume: bool = True,
    quiet: bool = False,
) -> dict:
    """Analyse every input; returns ``{"n", "failed", "out", "report"}``. Under ``torchrun`` (``WORLD_SIZE`` > 1)
    rank i takes every N-th input and rank 0 writes ``results.csv`` and ``report.html`` after a barrier."""
    from ramkit.pipeline.inputs import iter_inputs, unique_names

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RamkitError("output path exists and is not a folder", out)
    if anatomy_hint not in (None, "hand", "wrist"):
        raise RamkitError(f"--anatomy must be hand or wrist, got {anatomy_hint!r}")
    paths = list(iter_inputs(inputs))
    if not paths:
        raise RamkitError("no input radiographs found")
    out.mkdir(parents=True, exist_ok=True)
    items = list(zip(paths, unique_names(paths), strict=True))
    opts = {"device": device, "amp": amp, "anatomy": anatomy_hint, "spacing": spacing_mm, "side": side,
            "threads": threads, "resume": resume}  # fmt: skip
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        _analyze_shard(items[rank::world], out, runs, opts, rank=rank, quiet=quiet or rank > 0)
        dist.barrier()
        if rank != 0:
            return {"n": len(items), "failed": None, "out": out, "report": None}
    elif workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            pool.map(_shard_worker, [(items[i::workers], out, runs, opts, i) for i in range(workers)])
    else:
        _analyze_shard(items, out, runs, opts, quiet=quiet)
    return write_batch(out, items)


def write_batch(out: Path, items: list[tuple[Path, str]]) -> dict:
    """``results.csv``, ``progression.csv`` and ``report.html`` from the per-input result files."""
    import json

    from ramkit.pipeline.progression import progression, progression_table
    from ramkit.report.analysis_html import write_report

    results = []
    for path, name in items:
        f = out / name / "result.json"
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            r = {"status": "failed", "error": f"{f}: no result written", "input": {"file": os.fspath(path)}}
        r["name"] = name
        results.append(r)
    table = results_table(results)
    from ramkit.io.atomic import write_csv

    write_csv(out / "results.csv", table)
    prog = progression(results)
    write_csv(out / "progression.csv", progression_table(prog))
    write_report(out / "report.html", results, prog, out)
    failed = sum(r.get("status") != "ok" for r in results)
    return {"n": len(results), "failed": failed, "out": out, "report": out / "report.html"}


def results_table(results: list[dict]):
    """One row per radiograph, one column per joint score (``BE_<stem>``, ``JSN_<stem>``, ``W600_<joint>``)."""
    import pandas as pd

    rows = []
    for r in results:
        row: dict[str, Any] = {
            "name": r.get("name"),
            "input": r.get("input", {}).get("file"),
            "status": r.get("status"),
            "error": r.get("error", ""),
            "anatomy": r.get("anatomy"),
            "side": r.get("side"),
            "patient": (r.get("visit") or {}).get("patient"),
            "visit": (r.get("visit") or {}).get("order"),
        }
        for k, v in (r.get("totals") or {}).items():
            row[f"total_{k}"] = v
        for e in r.get("joints", []):
            prefix = {"be": "BE", "jsn": "JSN", "w600": "W600"}[e["kind"]]
            if "score" in e:
                row[f"{prefix}_{e['joint']}"] = e["score"]
            if "p_erosion" in e:
                row[f"{prefix}_{e['joint']}_p_erosion"] = e["p_erosion"]
            if "lesion_area_mm2" in e:
                row[f"{prefix}_{e['joint']}_lesion_mm2"] = e["lesion_area_mm2"]
        row["warnings"] = " | ".join(r.get("warnings", []))
        rows.append(row)
    return pd.DataFrame(rows)
