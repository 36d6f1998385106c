"""Training/evaluation data for every task: case lists from the readers, on-the-fly patch sampling, augmentation.

Randomness is a pure function of ``(seed, epoch, index)`` (a NumPy generator per sample), so a run gives the same
batches whatever the worker count, and a resumed run continues exactly where the interrupted one stopped.

Augmentation (:class:`Augmentation`, :func:`augment`) is nnU-Net v2's 2-D default set, for synthetic-to-real
transfer: a random affine (rotation ±15°, scale 0.85–1.25, shift ±6.25 %; masks nearest-neighbour) and, each with
its own probability, Gaussian noise, blur, brightness, contrast, simulated low resolution and gamma; no flips
(released H1200 images are already flipped). A TaskSpec may carry its own ``augmentation``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ramkit.errors import RamkitError
from ramkit.tasks import TaskSpec

#: decoded images/targets of the small cohort are cached in RAM up to this many bytes per dataset
CACHE_BYTES = int(os.environ.get("RAMKIT_CACHE_MB", "1024")) * 2**20
#: what a case's ``target()`` returns: label map / masks, class index, or regression total (MIL)
Target = np.ndarray | int | float


@dataclass
class Case:
    """One training/evaluation unit: a whole image (segmentation) or one joint ROI (scoring)."""

    key: str  #: image stem, or "hand/joint" for ROIs
    image: Callable[[], np.ndarray]
    target: Callable[[], Target]
    meta: dict


def to_float(img: np.ndarray) -> np.ndarray:
    """Fixed normalisation to [0, 1] (/255 for 8-bit, /65535 for 16-bit), float32."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    img = img.astype(np.float32)
    return np.clip(img, 0.0, 1.0) if img.max() <= 1.0 else img / max(float(img.max()), 1e-6)


#: dataset id -> (display name, reader class path)
READERS = {"h1200": ("RAM-H1200", "ramkit.io.h1200:H1200"), "w600": ("RAM-W600", "ramkit.io.w600:W600")}


def open_dataset(spec: TaskSpec, root: str | os.PathLike):
    """Open the reader of ``spec.dataset`` on ``root``; RamkitError when ``root`` holds the other layout."""
    import importlib

    from ramkit.io.layout import detect

    kind, resolved = detect(root)
    want, reader = READERS[spec.dataset]
    if kind != spec.dataset:
        raise RamkitError(f"task {spec.id} needs a {want} data root, but this is a {kind.upper()} layout", root)
    module, name = reader.split(":")
    return getattr(importlib.import_module(module), name)(resolved)


def splits_of(ds) -> tuple[str, ...]:
    """The split names a reader offers (``splits`` may be a property or a method)."""
    sp = ds.splits
    return tuple(sp() if callable(sp) else sp)


def cases(spec: TaskSpec, ds, split: str, be_protocol: str = "svdh90") -> list[Case]:
    """The cases of ``split`` for ``spec`` (built by the task's behaviour object, ``spec.kind.cases``)."""
    return spec.kind.cases(spec, ds, split, be_protocol)


class _Cache:
    """A bounded in-RAM cache of decoded (image, target) pairs."""

    def __init__(self, budget: int = CACHE_BYTES):
        self.budget, self.used = budget, 0
        self.items: OrderedDict[str, tuple[np.ndarray, Target]] = OrderedDict()

    def get(self, case: Case) -> tuple[np.ndarray, Target]:
        hit = self.items.get(case.key)
        if hit is not None:
            self.items.move_to_end(case.key)
            return hit
        img, tgt = case.image(), case.target()
        size = img.nbytes + (tgt.nbytes if isinstance(tgt, np.ndarray) else 0)
        if size <= self.budget:
            while self.used + size > self.budget and self.items:
                _, (a, b) = self.items.popitem(last=False)
                self.used -= a.nbytes + (b.nbytes if isinstance(b, np.ndarray) else 0)
            self.items[case.key] = (img, tgt)
            self.used += size
        return img, tgt


# -------------------------------------------------------------------------------------------------------------
# augmentation
# -------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augmentation:
    """Parameters of the training augmentation (:func:`augment`); the defaults follow nnU-Net v2's 2-D defaults.

    The models are trained on synthetic phantoms and applied to real radiographs, which differ in tone curve,
    sharpness, noise and framing; each transform below perturbs one of these, with its own probability (nnU-Net's
    values unless noted), so a sample sees a random subset of them:

    * affine (``p_affine`` 0.5; nnU-Net draws rotation and scale with 0.2 each): rotation ±``rotate`` = 15° (the
      generator poses hands up to ±15°, real wrists are rotated too), scale ``scale`` = 0.85–1.25, shift
      ±``shift`` = 6.25 % of the side; image bilinear, target nearest, zero fill; no flips (released images are
      already flipped to one side);
    * Gaussian noise (``p_noise`` 0.1): σ uniform in 0–``noise`` = 0.1 × the image's intensity range (max − min);
    * Gaussian blur (``p_blur`` 0.2): σ uniform in ``blur`` = 0.5–1.0 px;
    * multiplicative brightness (``p_brightness`` 0.15): × uniform ``brightness`` = 0.75–1.25;
    * contrast (``p_contrast`` 0.15): (x − mean) × uniform ``contrast`` = 0.75–1.25 + mean;
    * simulated low resolution (``p_lowres`` 0.125; nnU-Net 0.25 × 0.5 per channel): nearest downsampling by a
      factor uniform in ``lowres`` = 0.5–1.0, bilinear back to the original size;
    * gamma (``p_gamma`` 0.3): x ↦ x^γ, γ uniform in ``gamma`` = 0.7–1.5; with ``p_gamma_invert`` 0.5 applied to
      the inverted image, 1 − (1 − x)^γ (nnU-Net runs a separate inverted gamma with p 0.1).

    Applied in nnU-Net's order (spatial, noise, blur, brightness, contrast, low resolution, gamma), each intensity
    transform clamped to [0, 1]. Only the affine moves the target. A :class:`ramkit.tasks.TaskSpec` may carry its
    own ``augmentation``; every task uses :data:`DEFAULT_AUGMENTATION` otherwise.
    """

    p_affine: float = 0.5
    rotate: float = 15.0  #: degrees, ±
    scale: tuple[float, float] = (0.85, 1.25)
    shift: float = 0.0625  #: fraction of the image side, ±
    p_noise: float = 0.1
    noise: float = 0.1  #: largest noise σ as a fraction of the image's intensity range
    p_blur: float = 0.2
    blur: tuple[float, float] = (0.5, 1.0)  #: Gaussian σ in pixels
    p_brightness: float = 0.15
    brightness: tuple[float, float] = (0.75, 1.25)  #: multiplicative factor
    p_contrast: float = 0.15
    contrast: tuple[float, float] = (0.75, 1.25)
    p_lowres: float = 0.125
    lowres: tuple[float, float] = (0.5, 1.0)  #: downsampling factor of the image side
    p_gamma: float = 0.3
    gamma: tuple[float, float] = (0.7, 1.5)
    p_gamma_invert: float = 0.5  #: share of the gamma transforms applied to the inverted image

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= v <= 1.0:
                raise RamkitError(f"augmentation {f.name} must be in [0, 1] (got {v})")
            if isinstance(v, tuple) and not (len(v) == 2 and 0.0 < v[0] <= v[1]):
                raise RamkitError(f"augmentation {f.name} must be a range (low, high) with 0 < low <= high (got {v})")

    def with_probability(self, p: float) -> Augmentation:
        """The same ranges with every transform's probability set to ``p`` (1: all of them, 0: identity)."""
        probs: dict[str, Any] = {
            f.name: p for f in fields(self) if f.name.startswith("p_") and f.name != "p_gamma_invert"
        }
        return replace(self, **probs)


#: the augmentation of every task whose TaskSpec does not set its own
DEFAULT_AUGMENTATION = Augmentation()


def augment(
    img: torch.Tensor, target: torch.Tensor | None, rng: np.random.Generator, aug: Augmentation = DEFAULT_AUGMENTATION
):
    """Random affine (image and target) and intensity transforms (image only) of a 1×H×W float image in [0, 1].

    ``target`` is C×H×W (float masks) or H×W (long label map) or None. Every random number comes from ``rng``
    (same generator state, same output). Returns ``(img, target)`` with their shapes and dtypes.
    """
    img = img.clamp(0.0, 1.0)  # antialiased resizing overshoots [0, 1] slightly: a negative pixel ** gamma is NaN
    if rng.random() < aug.p_affine:
        img, target = _affine(img, target, rng, aug)
    for p, transform in (
        (aug.p_noise, _noise),
        (aug.p_blur, _blur),
        (aug.p_brightness, _brightness),
        (aug.p_contrast, _contrast),
        (aug.p_lowres, _lowres),
        (aug.p_gamma, _gamma),
    ):
        if rng.random() < p:
            img = transform(img, rng, aug).clamp(0.0, 1.0)
    return img, target


def _affine(img: torch.Tensor, target: torch.Tensor | None, rng: np.random.Generator, aug: Augmentation):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    h, w = img.shape[-2:]
    angle = float(rng.uniform(-aug.rotate, aug.rotate))
    tx, ty = (int(round(rng.uniform(-aug.shift, aug.shift) * w)), int(round(rng.uniform(-aug.shift, aug.shift) * h)))
    kw = dict(angle=angle, translate=[tx, ty], scale=float(rng.uniform(*aug.scale)), shear=[0.0, 0.0])
    img = TF.affine(img, interpolation=InterpolationMode.BILINEAR, **kw)
    if target is not None:
        t = target if target.dim() == 3 else target.unsqueeze(0)
        t = TF.affine(t, interpolation=InterpolationMode.NEAREST, **kw)
        target = t if target.dim() == 3 else t.squeeze(0)
    return img, target


def _noise(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    sigma = float(rng.uniform(0.0, aug.noise)) * float(img.max() - img.min())
    return img + sigma * torch.from_numpy(rng.standard_normal(tuple(img.shape), dtype=np.float32))


def _blur(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    sigma = float(rng.uniform(*aug.blur))
    k = 2 * int(np.ceil(3 * sigma)) + 1  # ±3σ
    return TF.gaussian_blur(img, kernel_size=[k, k], sigma=[sigma, sigma])


def _brightness(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    return img * float(rng.uniform(*aug.brightness))


def _contrast(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    mean = img.mean()
    return (img - mean) * float(rng.uniform(*aug.contrast)) + mean


def _lowres(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    h, w = img.shape[-2:]
    f = float(rng.uniform(*aug.lowres))
    small = F.interpolate(img.unsqueeze(0), size=(max(1, round(h * f)), max(1, round(w * f))), mode="nearest")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).squeeze(0)


def _gamma(img: torch.Tensor, rng: np.random.Generator, aug: Augmentation) -> torch.Tensor:
    invert = rng.random() < aug.p_gamma_invert
    g = float(rng.uniform(*aug.gamma))
    return 1.0 - (1.0 - img).pow(g) if invert else img.pow(g)


def resize_image(img: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of a 1×H×W image to size×size."""
    return F.interpolate(
        img.unsqueeze(0), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    ).squeeze(0)


def resize_target(t: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest resize of a C×H×W mask stack or H×W label map to size×size."""
    x = t if t.dim() == 3 else t.unsqueeze(0)
    x = F.interpolate(x.unsqueeze(0).float(), size=(size, size), mode="nearest").squeeze(0)
    x = x.to(t.dtype)
    return x if t.dim() == 3 else x.squeeze(0)


def rescale_image(img: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear (antialiased) resampling of a 1×H×W float image by ``scale`` (sides rounded, at least 1)."""
    h, w = img.shape[-2:]
    size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    return F.interpolate(img.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False).squeeze(0)


def rescale_case(case: Case, scale: float) -> Case:
    """A case whose image (float32 in [0, 1], bilinear) and target (nearest) are resampled by ``scale``.

    Used by ``input_scale`` runs: patch tasks then train on coarser images (more context per patch, fewer
    pixels) while validation/testing resample the same way and score at full resolution.
    """
    if scale == 1.0:
        return case

    def image() -> np.ndarray:
        x = torch.from_numpy(to_float(np.ascontiguousarray(case.image()))).unsqueeze(0)
        return rescale_image(x, scale)[0].numpy()

    def target() -> np.ndarray:
        t = np.asarray(case.target())
        x = torch.from_numpy(np.ascontiguousarray(t if t.ndim == 3 else t[None])).float().unsqueeze(0)
        h, w = x.shape[-2:]
        size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
        y = F.interpolate(x, size=size, mode="nearest")[0].numpy().astype(t.dtype)
        return y if t.ndim == 3 else y[0]

    return Case(case.key, image, target, dict(case.meta))


def augmentation_of(spec: TaskSpec) -> Augmentation:
    """The task's training augmentation: ``spec.augmentation``, or :data:`DEFAULT_AUGMENTATION` when unset."""
    return DEFAULT_AUGMENTATION if spec.augmentation is None else spec.augmentation


def _target_tensor(spec: TaskSpec, tgt) -> torch.Tensor:
    return torch.from_numpy(np.asarray(tgt, dtype=spec.kind.target_dtype))


# -------------------------------------------------------------------------------------------------------------
# datasets
# -------------------------------------------------------------------------------------------------------------
class TaskDataset(Dataset):
    """Training samples of a task, drawn on the fly; call :meth:`set_epoch` before each epoch.

    * ``patch``: ``patches_per_image`` random patches per image per epoch, a share ``fg_ratio`` of them placed on
      a random foreground (bone) / lesion pixel; images without foreground use a uniformly random patch.
    * ``whole``: the image (and masks, nearest) resized to ``size``.
    * ``roi``: the joint ROI resized to ``size``; returns the class index.
    """

    def __init__(
        self,
        spec: TaskSpec,
        items: Sequence[Case],
        size: int,
        seed: int = 0,
        train: bool = True,
        patches_per_image: int | None = None,
        fg_ratio: float | None = None,
        pos_image_ratio: float | None = None,
    ):
        if not items:
            raise RamkitError(f"task {spec.id}: no training cases found")
        self.spec, self.items, self.size, self.seed, self.train = spec, list(items), size, seed, train
        self.input = spec.kind.input
        self.per_image = patches_per_image or spec.patches_per_image if self.input == "patch" else 1
        self.fg_ratio = spec.fg_ratio if fg_ratio is None else fg_ratio
        self.epoch = 0
        self.aug = augmentation_of(spec)
        self.cache = _Cache()
        self._fg: dict[str, np.ndarray] = {}
        if pos_image_ratio is not None and not 0.0 <= pos_image_ratio <= 1.0:
            raise RamkitError(f"pos_image_ratio must be in [0, 1] (got {pos_image_ratio})")
        self.pos_image_ratio = pos_image_ratio if self.input == "patch" else None
        self._pos: list[int] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (part of every sample's random seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items) * self.per_image

    def _foreground(self, case: Case, tgt) -> np.ndarray:
        fg = self._fg.get(case.key)
        if fg is None:
            m = (tgt > 0) if tgt.ndim == 2 else (tgt > 0).any(axis=0)
            ys, xs = np.nonzero(m)
            step = max(1, len(ys) // 20000)  # a subsample of candidate centres is plenty
            fg = np.stack([ys[::step], xs[::step]], 1).astype(np.int32)
            self._fg[case.key] = fg
        return fg

    def _patch(self, img: np.ndarray, tgt: np.ndarray, case: Case, rng: np.random.Generator):
        p = self.size
        h, w = img.shape
        if h < p or w < p:  # pad small images up to the patch size
            ph, pw = max(0, p - h), max(0, p - w)
            img = np.pad(img, ((0, ph), (0, pw)))
            tgt = np.pad(tgt, ((0, ph), (0, pw)) if tgt.ndim == 2 else ((0, 0), (0, ph), (0, pw)))
            h, w = img.shape
        fg = self._foreground(case, tgt)
        if len(fg) and rng.random() < self.fg_ratio:
            cy, cx = fg[rng.integers(len(fg))]
            if self.spec.fg_window:  # BE: lesion within ±p/4 of the patch centre
                half = p // 4
                y0 = cy - p // 2 + int(rng.integers(-half, half + 1))
                x0 = cx - p // 2 + int(rng.integers(-half, half + 1))
            else:  # bone: the foreground pixel anywhere in the patch
                y0 = cy - int(rng.integers(p))
                x0 = cx - int(rng.integers(p))
        else:
            y0, x0 = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        y0, x0 = int(np.clip(y0, 0, h - p)), int(np.clip(x0, 0, w - p))
        t = tgt[y0 : y0 + p, x0 : x0 + p] if tgt.ndim == 2 else tgt[:, y0 : y0 + p, x0 : x0 + p]
        return img[y0 : y0 + p, x0 : x0 + p], t

    def positive_indices(self) -> list[int]:
        """Indices of the items whose target has any foreground (computed once; decodes every target)."""
        if self._pos is None:
            self._pos = [i for i, c in enumerate(self.items) if np.asarray(self.cache.get(c)[1]).any()]
        return self._pos

    def __getitem__(self, index: int):
        case = self.items[index // self.per_image]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.pos_image_ratio is not None:
            # the image is redrawn: a share ``pos_image_ratio`` from the images with foreground, the rest from all
            pos = self.positive_indices()
            if pos and rng.random() < self.pos_image_ratio:
                case = self.items[pos[int(rng.integers(len(pos)))]]
            else:
                case = self.items[int(rng.integers(len(self.items)))]
        img, tgt = self.cache.get(case)
        if self.input == "patch":
            assert isinstance(tgt, np.ndarray)  # patch tasks are segmentation: the target is a mask / label map
            img, tgt = self._patch(img, tgt, case, rng)
        x = torch.from_numpy(to_float(np.ascontiguousarray(img))).unsqueeze(0)
        if self.input == "roi":
            x = resize_image(x, self.size)
            if self.train:
                x, _ = augment(x, None, rng, self.aug)
            return x, torch.tensor(int(tgt))
        t = _target_tensor(self.spec, np.ascontiguousarray(tgt))
        if self.input == "whole":
            x, t = resize_image(x, self.size), resize_target(t, self.size)
        if self.train:
            x, t = augment(x, t, rng, self.aug)
        return x, t
