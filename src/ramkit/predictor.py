"""One inference API for every trained run: ``Predictor.from_run(RUN).predict(image)``.

Every path that applies a trained model to new data (``ramkit predict``, ``ramkit analyze``, the benchmarks,
user code) goes through :class:`Predictor`, so no caller can forget a step of the run's input protocol:

* **spacing** — a radiograph is resampled from its own pixel spacing (DICOM ``PixelSpacing``, the
  ``spacing_mm`` argument, or — for files without one — the release spacing of the run's dataset, with a
  warning) to the spacing the run was **trained** at (the training dataset's ``Metadata.xlsx`` ``PixelSpacing``;
  the bench's medium cohort is 0.35 mm/px, the real release 0.175 mm/px);
* **input scale** — runs trained with ``input_scale`` (the bench's bone run: 0.25) see the image resampled by it;
* **orientation** — left hands/wrists are mirrored to right-hand orientation for the model (released RAM-H1200
  images are already stored that way and are never flipped again);
* **restore** — masks are mapped back onto the input file's grid and orientation;
* **precision** — fp32 unless ``amp=True`` (bf16/fp16 autocast on CUDA only; the official tester is fp32).

Implausible inputs are refused or warned about (:data:`MAX_INPUT_PIXELS`, :data:`HAND_EXTENT_MM`, ...).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ramkit import anatomy
from ramkit.errors import RamkitError, warn

#: Inputs with more pixels than this are refused (an 8000×8000 image would take ~50 s and > 5 GB on CPU).
MAX_INPUT_PIXELS = 40_000_000
#: Plausible physical extent (longest side, mm) of a whole radiograph per dataset; outside -> one warning.
HAND_EXTENT_MM = (60.0, 500.0)
WRIST_EXTENT_MM = (30.0, 300.0)
#: A scoring model's input is a joint crop: a longest side above this (mm) looks like a whole radiograph.
ROI_MAX_EXTENT_MM = 80.0
#: Segmentation inputs with a longest side below this many pixels cannot be segmented meaningfully.
MIN_SIDE_PX = 16

__all__ = [
    "Predictor",
    "SegPrediction",
    "ScorePrediction",
    "MAX_INPUT_PIXELS",
    "release_spacing",
    "file_sha256",
]


def release_spacing(dataset: str) -> float:
    """Pixel spacing (mm) of a release: 0.175 (RAM-H1200 hands) or 0.15 (RAM-W600 wrists)."""
    return anatomy.H1200_SPACING_MM if dataset == "h1200" else anatomy.W600_SPACING_MM


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@dataclass
class SegPrediction:
    """Masks of one radiograph.

    ``masks``: bool C×H×W on the **input file's** grid and orientation; ``model_masks``: bool C×h×w on the
    model grid (right-hand orientation, ``spacing_mm`` per pixel); ``pixels``: the model-grid image (float32
    [0, 1]); ``radiograph``: the prepared :class:`~ramkit.io.images.Radiograph` (``.to_source`` maps any
    model-grid array back to the file).
    """

    class_names: tuple[str, ...]
    masks: np.ndarray
    model_masks: np.ndarray
    pixels: np.ndarray
    spacing_mm: float
    radiograph: Any
    notes: list[str] = field(default_factory=list)

    def to_source(self, arr: np.ndarray) -> np.ndarray:
        return masks_to_source(self.radiograph, arr)


def masks_to_source(rad, arr: np.ndarray) -> np.ndarray:
    """:meth:`Radiograph.to_source` with a fast nearest-neighbour path for bool/integer masks (index mapping
    instead of a spline zoom: ~50× faster for 30 bone channels on a 1720×1280 hand). Floats use ``to_source``."""
    arr = np.asarray(arr)
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        return rad.to_source(arr)
    h, w = arr.shape[-2:]
    if (h, w) != tuple(rad.pixels.shape):
        raise RamkitError(f"array of shape {arr.shape} does not match the radiograph grid {rad.pixels.shape}", rad.path)
    if rad.flipped:
        arr = arr[..., ::-1]
    H, W = rad.source_shape
    if (H, W) != (h, w):
        rows = np.minimum(((np.arange(H) + 0.5) * h / H).astype(np.intp), h - 1)
        cols = np.minimum(((np.arange(W) + 0.5) * w / W).astype(np.intp), w - 1)
        arr = arr[..., rows[:, None], cols[None, :]]
    return np.ascontiguousarray(arr)


@dataclass
class ScorePrediction:
    """Scores of N joint crops: class index, raw score, class probabilities, expected score and uncertainty.

    Ordinal runs: ``probs[k] = P(y > k-1) - P(y > k)`` from the K-1 threshold sigmoids (clipped at 0 and
    renormalised when the thresholds are not monotone); ``expected`` = Σ p_k·value_k; ``sd`` the standard
    deviation of the score under ``probs``; ``entropy`` normalised to [0, 1]. Binary runs (wrist erosion):
    ``probs`` = softmax, ``expected`` = P(erosion).
    """

    classes: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    expected: np.ndarray
    sd: np.ndarray
    entropy: np.ndarray
    values: tuple[int, ...]


def ordinal_probs(logits: np.ndarray) -> np.ndarray:
    """N×K class probabilities from N×(K−1) cumulative threshold logits."""
    s = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    n = s.shape[0]
    upper = np.concatenate([np.ones((n, 1)), s], 1)
    lower = np.concatenate([s, np.zeros((n, 1))], 1)
    p = np.clip(upper - lower, 0.0, None)
    tot = p.sum(1, keepdims=True)
    return np.where(tot > 0, p / np.where(tot > 0, tot, 1.0), 1.0 / p.shape[1])


class Predictor:
    """A trained run ready for inference (see the module docstring for the protocol it applies)."""

    def __init__(self, run: Path, model, spec, cfg, meta: dict, device, amp: str, train_spacing_mm: float):
        self.run = Path(run)
        self.model = model
        self.task = spec
        self.config = cfg
        self.meta = meta
        self.device = device
        self.amp = amp
        self.train_spacing_mm = float(train_spacing_mm)
        self._checksum: str | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike,
        device: str = "auto",
        amp: bool = False,
        which: str = "best",
        threads: int | None = None,
        train_spacing_mm: float | None = None,
    ) -> Predictor:
        """Load ``run_dir`` (a ``ramkit train`` run). ``amp=True`` opts in to bf16/fp16 autocast on CUDA.

        ``train_spacing_mm`` overrides the spacing the run was trained at (default: the training dataset's
        ``Metadata.xlsx`` PixelSpacing when readable, else the release spacing).
        """
        import torch

        from ramkit.train.trainer import amp_mode, load_run, pick_device

        run = Path(run_dir)
        if not (run / f"{which}.json").is_file():
            raise RamkitError(f"not a ramkit run ({which}.json missing)", run)
        dev = pick_device(device)
        model, spec, cfg, meta = load_run(run, which, dev)
        mode = amp_mode("auto", dev) if amp else "none"
        if threads or cfg.threads:
            torch.set_num_threads(int(threads or cfg.threads))
        sp = train_spacing_mm if train_spacing_mm is not None else _training_spacing(spec, cfg, meta)
        return cls(run, model, spec, cfg, meta, dev, mode, sp)

    # ------------------------------------------------------------------ properties
    @property
    def kind(self) -> str:
        """``"seg"`` (whole radiographs -> masks), ``"roi"`` (joint crops -> scores) or ``"bag"`` (MIL total)."""
        return {"seg": "seg", "mil": "bag"}.get(self.task.model_kind, "roi")

    @property
    def class_names(self) -> tuple[str, ...]:
        """Mask channels (segmentation, background excluded) or class labels (scoring)."""
        if self.kind == "seg":
            return tuple(self.task.lesion_channels(self.config.be_protocol))
        return tuple(self.task.class_names(self.config.be_protocol))

    @property
    def input_scale(self) -> float:
        return float(self.config.input_scale)

    @property
    def patch_size(self) -> int:
        return int(self.config.patch_size)

    @property
    def checksum(self) -> str:
        """SHA-256 of the selected weights file (recorded in analysis results)."""
        if self._checksum is None:
            self._checksum = file_sha256(self.run / "best.safetensors")
        return self._checksum

    def describe(self) -> dict:
        """Run, task, model, weights checksum, training data and spacing (for result files)."""
        return {
            "run": os.fspath(self.run),
            "task": self.task.id,
            "model": self.config.model,
            "weights_sha256": self.checksum,
            "best_epoch": self.meta.get("best_epoch"),
            "train_data": self.config.data,
            "train_spacing_mm": self.train_spacing_mm,
            "input_scale": self.input_scale,
            "synthetic": trained_on_synthetic(self.config.data),
        }

    # ------------------------------------------------------------------ inference
    def predict(
        self,
        x,
        *,
        spacing_mm: float | None = None,
        side: str | None = None,
        flip_left: bool | None = None,
    ) -> SegPrediction | ScorePrediction:
        """Predict one input: a path (BMP/PNG/TIFF/DICOM), an H×W array (uint8/uint16/float in [0, 1]), a
        :class:`~ramkit.io.images.Radiograph`, or — for scoring runs — a joint crop or a list of crops.

        ``spacing_mm`` is the input's pixel spacing when the file does not carry one; ``side`` "L"/"R" overrides
        DICOM laterality and the file name; ``flip_left`` (default: yes except for released RAM-H1200 names).
        """
        if self.kind == "roi":
            crops = x if isinstance(x, list | tuple) else [x]
            return self.predict_rois([self.roi_array(c) for c in crops], spacing_mm=spacing_mm)
        rad = self.prepare(x, spacing_mm=spacing_mm, side=side, flip_left=flip_left)
        return self.predict_prepared(rad)

    def prepare(self, x, *, spacing_mm=None, side=None, flip_left=None, dataset: str | None = None, check_extent=True):
        """Read/orient/resample an input to this run's model grid (a Radiograph whose ``to_source`` undoes it)."""
        return prepare_radiograph(
            x,
            train_spacing_mm=self.train_spacing_mm,
            dataset=dataset or self.task.dataset,
            spacing_mm=spacing_mm,
            side=side,
            flip_left=flip_left,
            check_extent=check_extent,
        )

    def predict_prepared(self, rad) -> SegPrediction:
        """Segment a radiograph already on this run's grid (from :meth:`prepare` of any run of the same spacing)."""
        if self.kind != "seg":
            raise RamkitError(f"run {self.run} scores joint crops ({self.task.id}); use predict_rois", self.run)
        px = rad.pixels
        if max(px.shape) < MIN_SIDE_PX:
            raise RamkitError(
                f"image of {px.shape[1]}×{px.shape[0]} px on the model grid is too small to segment "
                f"(< {MIN_SIDE_PX} px)",
                rad.path,
            )
        model_masks = self.segment_grid(px)
        masks = masks_to_source(rad, model_masks)
        return SegPrediction(
            class_names=self.class_names,
            masks=masks,
            model_masks=model_masks,
            pixels=px,
            spacing_mm=float(rad.spacing_mm or self.train_spacing_mm),
            radiograph=rad,
        )

    def segment_grid(self, pixels: np.ndarray, overlap: float = 0.5) -> np.ndarray:
        """bool C×h×w masks of a float32 image already on this run's model grid (no reading, resampling or flip;
        the run's input scale and sliding window still apply)."""
        from ramkit.train import inference as inf

        logits = inf.seg_logits(
            self.model, pixels, self.task, self.patch_size, self.device, self.amp, overlap=overlap,
            scale=self.input_scale,
        )  # fmt: skip
        return inf.restore_size(inf.seg_masks(logits, self.task), *pixels.shape).astype(bool)

    def predict_rois(self, crops: list[np.ndarray], spacing_mm: float | None = None) -> ScorePrediction:
        """Score joint crops (H×W arrays, right-hand orientation, as the release's ROI crops)."""
        from ramkit.train import inference as inf

        if self.kind != "roi":
            raise RamkitError(f"run {self.run} segments whole radiographs ({self.task.id}); use predict", self.run)
        sp = spacing_mm or self.train_spacing_mm
        for c in crops:
            if max(c.shape) * sp > ROI_MAX_EXTENT_MM:
                warn(
                    f"input of {c.shape[1]}×{c.shape[0]} px ({max(c.shape) * sp:.0f} mm) looks like a whole "
                    f"radiograph, not a joint crop; {self.task.id} scores joint ROI crops (use `ramkit analyze`)"
                )
                break
        classes, raw = inf.roi_predict(self.model, list(crops), self.task, self.patch_size, self.device, self.amp)
        return self._score_prediction(classes, raw)

    def _score_prediction(self, classes: np.ndarray, raw: np.ndarray) -> ScorePrediction:
        if self.task.kind.activation == "ordinal":
            values = tuple(self.task.score_values)
            probs = ordinal_probs(raw) if len(raw) else np.zeros((0, len(values)))
            scores = np.asarray(values)[classes] if len(classes) else np.zeros(0, int)
        else:
            values = (0, 1)
            probs = np.asarray(raw, np.float64)
            scores = classes.copy()
        v = np.asarray(values, np.float64)
        expected = probs @ v if len(probs) else np.zeros(0)
        sd = np.sqrt(np.clip(probs @ v**2 - expected**2, 0, None)) if len(probs) else np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.nansum(np.where(probs > 0, probs * np.log(probs), 0.0), 1) / np.log(probs.shape[1])
        return ScorePrediction(
            classes=np.asarray(classes, int),
            scores=np.asarray(scores, int),
            probs=probs,
            expected=expected,
            sd=sd,
            entropy=ent if len(probs) else np.zeros(0),
            values=values,
        )

    def roi_array(self, c) -> np.ndarray:
        """A joint crop as an H×W array (a path is read with its stored grey values)."""
        if isinstance(c, str | os.PathLike):
            from ramkit.io.images import read_gray

            a = read_gray(c)
            if a.ndim != 2:
                raise RamkitError(f"expected a single-channel ROI image, got shape {a.shape}", c)
            return a
        return np.asarray(c)


# ---------------------------------------------------------------------------------------------------------
def trained_on_synthetic(data: str | os.PathLike | None) -> bool | None:
    """Whether a run's training data is a ramkit synthetic cohort (its COCO ``info`` says so); None if unknown."""
    if not data:
        return None
    from ramkit.io import h1200, w600

    seen = False
    for f in _cohort_files(data, (f"Segmentation/train/{h1200.BONE_JSON}", f"{w600.DET_DIR}/{w600.JOINTS_COCO}")):
        seen = True
        with open(f, "rb") as fh:
            if b"ramkit synthetic" in fh.read(4096):
                return True
    return False if seen else None


def _cohort_files(data: str | os.PathLike, rel: tuple[str, ...]):
    """The files ``rel`` (paths inside a release tree) that exist under ``data``, given as a release tree or as a
    folder holding ``RAM-H1200-v1`` / ``RAM-W600`` (a synthetic cohort or a bench's ``data``)."""
    from ramkit.io import h1200, w600

    root = Path(data)
    for base in (root, root / h1200.H1200_DIRNAME, root / w600.W600_DIRNAME):
        for r in rel:
            if (base / r).is_file():
                yield base / r


def _training_spacing(spec, cfg, meta: dict) -> float:
    """Pixel spacing (mm) of the run's training images: config/meta key, the H1200 metadata, else the release."""
    for d in (meta.get("config", {}), meta):
        if isinstance(d, dict) and d.get("spacing_mm"):
            return float(d["spacing_mm"])
    if spec.dataset == "h1200" and cfg.data:
        try:
            from ramkit.io.h1200 import H1200

            sp = H1200(cfg.data).metadata()["PixelSpacing"].astype(float)
            sp = sp[np.isfinite(sp) & (sp > 0)]
            if len(sp):
                return float(np.median(sp))
        except Exception:  # noqa: BLE001 - data moved or unreadable: fall back to the release spacing
            pass
    if spec.dataset == "w600" and cfg.data:
        sp = _coco_info_spacing(cfg.data)
        if sp:
            return sp
    return release_spacing(spec.dataset)


def _coco_info_spacing(data: str | os.PathLike) -> float | None:
    """``info.pixel_spacing_mm`` of a W600 tree's ``Joints.coco.json`` (ramkit's synthetic wrists are drawn at
    0.15-0.5625 mm/px; the release carries no spacing, it is always 0.15); None when absent or unreadable."""
    import json

    from ramkit.io import w600

    for f in _cohort_files(data, (f"{w600.DET_DIR}/{w600.JOINTS_COCO}",)):
        try:
            sp = json.loads(f.read_text()).get("info", {}).get("pixel_spacing_mm")
        except (OSError, ValueError, AttributeError):
            return None
        return float(sp) if isinstance(sp, int | float) and sp > 0 else None
    return None


def _is_released_h1200(path: Path | None) -> bool:
    return path is not None and re.match(anatomy.H1200_STEM_PATTERN, path.stem) is not None


def prepare_radiograph(
    x,
    *,
    train_spacing_mm: float,
    dataset: str = "h1200",
    spacing_mm: float | None = None,
    side: str | None = None,
    flip_left: bool | None = None,
    check_extent: bool = True,
):
    """Read ``x`` (path, array or Radiograph) and bring it to ``train_spacing_mm`` in right-hand orientation.

    The input spacing is, in order: ``spacing_mm``, the DICOM spacing, else the release spacing of ``dataset``
    (a warning for DICOM files that lack one; ordinary image files carry no trusted spacing, so the release
    spacing is the documented assumption). Refuses inputs above :data:`MAX_INPUT_PIXELS`; warns when the
    physical extent is implausible for a whole radiograph.
    """
    from ramkit.io.images import Radiograph, _resize, image_size, is_dicom, read_radiograph

    if isinstance(x, Radiograph):
        rad = x
    elif isinstance(x, str | os.PathLike):
        path = Path(x)
        if not path.is_file():
            raise RamkitError("image file not found", path)
        if not is_dicom(path):
            h, w = image_size(path)
            _check_pixels(h, w, path)
        flip = (not _is_released_h1200(path)) if flip_left is None else flip_left
        rad = read_radiograph(path, target_spacing_mm=None, side=side, flip_left=flip, source_spacing_mm=spacing_mm)
        if rad.source_spacing_mm is None and is_dicom(path):
            warn(
                f"DICOM has no PixelSpacing or ImagerPixelSpacing; assumed the release spacing "
                f"{release_spacing(dataset)} mm/px",
                path,
            )
    else:
        from ramkit.train.data import to_float

        arr = np.asarray(x)
        if arr.ndim != 2:
            raise RamkitError(f"expected an H×W grey image, got an array of shape {arr.shape}")
        _check_pixels(int(arr.shape[0]), int(arr.shape[1]), None)
        px = to_float(np.ascontiguousarray(arr))
        s = str(side).upper()[:1] if side else None
        flipped = bool((True if flip_left is None else flip_left) and s == "L")
        rad = Radiograph(
            pixels=np.ascontiguousarray(px[:, ::-1] if flipped else px, dtype=np.float32),
            spacing_mm=spacing_mm,
            source_spacing_mm=(spacing_mm, spacing_mm) if spacing_mm else None,
            side=s,
            flipped=flipped,
            path=Path("<array>"),
            bit_depth=16 if arr.dtype == np.uint16 else 8,
            source_shape=(int(arr.shape[0]), int(arr.shape[1])),
        )
    src = rad.source_spacing_mm or (release_spacing(dataset),) * 2
    if check_extent:
        lo, hi = HAND_EXTENT_MM if dataset == "h1200" else WRIST_EXTENT_MM
        ext = max(rad.source_shape[0] * src[0], rad.source_shape[1] * src[1])
        if not lo <= ext <= hi:
            warn(
                f"{rad.source_shape[1]}×{rad.source_shape[0]} px at {src[0]:g} mm/px spans {ext:.0f} mm, "
                f"implausible for a {'hand' if dataset == 'h1200' else 'wrist'} radiograph "
                f"(expected {lo:.0f}–{hi:.0f} mm)",
                rad.path,
            )
    # resample from the file's grid (pixels may already be flipped, which commutes with resizing)
    new_shape = (
        max(1, int(round(rad.source_shape[0] * src[0] / train_spacing_mm))),
        max(1, int(round(rad.source_shape[1] * src[1] / train_spacing_mm))),
    )
    px = rad.pixels
    if new_shape != tuple(px.shape):
        px = np.clip(_resize(px, new_shape), 0.0, 1.0).astype(np.float32)
    return replace(rad, pixels=np.ascontiguousarray(px), spacing_mm=float(train_spacing_mm))


def _check_pixels(h: int, w: int, path) -> None:
    if h * w > MAX_INPUT_PIXELS:
        raise RamkitError(
            f"image of {w}×{h} px exceeds the limit of {MAX_INPUT_PIXELS // 1_000_000} megapixels "
            "(ramkit.predictor.MAX_INPUT_PIXELS); downsample it first",
            path,
        )
    if min(h, w) < MIN_SIDE_PX:
        warn(f"image of {w}×{h} px is implausibly small for a radiograph", path)
