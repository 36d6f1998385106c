"""Behaviour objects of the six benchmark tasks: segmentation (patches or whole image) and joint-ROI scoring.

Each object is parameterised by what differs inside its family (case reader, activation, loss, classes); the
heavy helpers stay in :mod:`ramkit.train` and are imported lazily, so ``ramkit.tasks`` imports stay light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ramkit import anatomy
from ramkit.errors import RamkitError
from ramkit.tasks.base import TaskKind


# ---------------------------------------------------------------------------------------------------------------
# case builders
# ---------------------------------------------------------------------------------------------------------------
def bone_cases(ds, split: str, be_protocol: str) -> list:
    """RAM-H1200 hands with their 30 bone masks."""
    from ramkit.train.data import Case

    return [Case(s.stem, s.image, s.bones, {"side": s.side}) for s in ds.seg(split)]


def be_cases(ds, split: str, be_protocol: str) -> list:
    """RAM-H1200 hands with their BE label map of ``be_protocol``."""
    from ramkit.train.data import Case

    samples = ds.seg(split, be_protocol=be_protocol)
    return [Case(s.stem, s.image, partial(s.be, be_protocol), {"side": s.side}) for s in samples]


def wrist_cases(ds, split: str, be_protocol: str) -> list:
    """RAM-W600 wrists with their 14 masks; left wrists flipped to right-hand orientation (official loader)."""
    from ramkit.train.data import Case

    return [
        Case(s.stem, partial(s.image, orient=True), partial(s.masks, orient=True), {"side": s.side})
        for s in ds.seg(split)
    ]


def _fixed(names: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    return lambda be_protocol: names


def be_classes(be_protocol: str) -> tuple[str, ...]:
    """Background + the lesion classes of a BE protocol."""
    if be_protocol not in anatomy.BE_PROTOCOL_CLASSES:
        raise RamkitError(
            f"unknown BE protocol {be_protocol!r}; expected one of {', '.join(anatomy.BE_PROTOCOL_CLASSES)}"
        )
    return ("background",) + anatomy.BE_PROTOCOL_CLASSES[be_protocol]


# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SegmentationKind(TaskKind):
    """Segmentation trained on random patches (``input="patch"``, sliding-window test at full resolution) or on
    the whole image resized (``input="whole"``); multi-label sigmoid masks or a softmax label map."""

    read: Callable = bone_cases  #: (reader, split, be_protocol) -> cases
    classes: Callable[[str], tuple[str, ...]] = _fixed(anatomy.HAND_BONES)
    input: str = "patch"  #: "patch" | "whole"
    softmax: bool = False  #: label map with background (DiceCE) instead of multi-label masks (BCE + Dice)
    metric_task: str = "bone"  #: SegmentationEvaluator task: "bone" | "be"

    model_kind = "seg"
    headline = ("DSC", "NSD", "VOE", "MSD")
    item_unit = "image"

    @property
    def activation(self) -> str:
        return "softmax" if self.softmax else "sigmoid"

    @property
    def target_dtype(self) -> str:  # type: ignore[override]
        return "int64" if self.softmax else "float32"

    def class_names(self, spec, be_protocol="svdh90"):
        return self.classes(be_protocol)

    def lesion_channels(self, spec, be_protocol="svdh90"):
        names = self.class_names(spec, be_protocol)
        return names[1:] if self.softmax else names

    def cases(self, spec, ds, split, be_protocol="svdh90"):
        return self.read(ds, split, be_protocol)

    def prepare_cases(self, spec, cfg, train_cases, val_cases):
        if cfg.max_val_cases and spec.select == "positive_DSC":
            from ramkit.train.trainer import lesion_cases_first

            val_cases = lesion_cases_first(val_cases)
        if self.input == "patch" and cfg.input_scale != 1.0:
            from ramkit.train.data import rescale_case

            train_cases = [rescale_case(c, cfg.input_scale) for c in train_cases]
        return train_cases, val_cases

    def build_model(self, spec, cfg):
        from ramkit.train.trainer import init_output_bias

        model = super().build_model(spec, cfg)
        if not self.softmax:
            init_output_bias(model, spec.out_channels(cfg.be_protocol))
        return model

    def loss(self, spec, cfg, train_cases):
        import torch

        from ramkit.train.losses import BceDiceLoss, DiceCELoss

        if not self.softmax:
            return BceDiceLoss()
        ce_weight = None
        if cfg.fg_class_weight:
            ce_weight = torch.full((spec.out_channels(cfg.be_protocol),), float(cfg.fg_class_weight))
            ce_weight[0] = 1.0
        return DiceCELoss(ce_weight)

    # -------------------------------------------------------------- inference helpers
    def masks(self, logits):
        """Binary C×H×W masks of the evaluated channels (sigmoid > 0.5, or softmax argmax without background)."""
        if not self.softmax:
            return (logits > 0).cpu().numpy()
        label = logits.argmax(0).cpu().numpy()
        return np.stack([label == k for k in range(1, logits.shape[0])])

    def truth(self, target: np.ndarray, n_channels: int) -> np.ndarray:
        """Ground truth as binary C×H×W of the evaluated channels."""
        if self.softmax:
            return np.stack([target == k for k in range(1, n_channels)])
        return target > 0

    def validate(self, spec, model, cases, cfg, device, amp):
        from ramkit.metrics.segmentation import dice
        from ramkit.train import inference as inf

        per_image, positive = [], []
        n = spec.out_channels(cfg.be_protocol)
        for c in cases:
            img, tgt = c.image(), c.target()
            logits = inf.seg_logits(
                model,
                img,
                spec,
                cfg.patch_size,
                device,
                amp,
                scale=cfg.input_scale,
                overlap=cfg.val_overlap,
                sw_batch=16,
            )
            pred = inf.seg_masks(logits, spec)
            truth = inf.target_masks(tgt, spec, n, cfg.patch_size)
            d = np.asarray(dice(pred, truth), dtype=float)
            v = float(np.nanmean(d)) if np.isfinite(d).any() else (1.0 if not pred.any() else 0.0)
            per_image.append(v)
            if truth.any():
                positive.append(v)
        return {
            "DSC": float(np.mean(per_image)) if per_image else 0.0,
            "positive_DSC": float(np.mean(positive)) if positive else 0.0,
        }

    def test(self, spec, model, cfg, items, out, dev, amp, warmup, quiet, split="test", convention=None):
        from ramkit.train.evaluate import test_segmentation

        return test_segmentation(spec, model, cfg, items, out, dev, amp, warmup, quiet, split, convention)

    def predict(self, predictor, images, out, **opts):
        from ramkit.train.evaluate import predict_segmentation

        return predict_segmentation(predictor, images, out, **opts)


# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class JointScoringKind(TaskKind):
    """Joint-ROI scoring: ordinal SvdH scores (``binary=False``; K−1 threshold logits, ordinal BCE) or
    erosion presence (``binary=True``; 2-class softmax, inverse-frequency weighted CE)."""

    binary: bool = False

    input = "roi"
    item_unit = "ROI"

    @property
    def model_kind(self) -> str:  # type: ignore[override]
        return "cls" if self.binary else "ordinal"

    @property
    def headline(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("BACC", "F1", "ACC", "SEN", "SPC") if self.binary else ("QWK", "MAE", "BACC", "ACC")

    @property
    def activation(self) -> str:
        return "softmax-binary" if self.binary else "ordinal"

    def class_names(self, spec, be_protocol="svdh90"):
        if self.binary:
            return ("no-erosion", "erosion")
        return tuple(str(v) for v in spec.score_values)

    def cases(self, spec, ds, split, be_protocol="svdh90"):
        from ramkit.train.data import Case

        rows = ds.scores(spec.score_kind, split) if spec.dataset == "h1200" else ds.scores(split)
        values = spec.score_values
        out = []
        for r in rows:
            if r.score not in values:
                raise RamkitError(f"{r.hand}/{r.joint.stem}: score {r.score} is not one of {values}", r.path)
            label = (1 if r.score != 0 else 0) if self.binary else values.index(r.score)
            out.append(
                Case(
                    f"{r.hand}/{r.joint.stem}",
                    (lambda r=r: r.image(orient=True)),
                    (lambda v=label: v),
                    {"hand": r.hand, "joint": r.joint, "score": r.score, "side": r.side},
                )
            )
        return out

    def build_model(self, spec, cfg):
        from ramkit.models import create

        kw = dict(cfg.model_kw)
        if not self.binary:
            kw["ordinal"] = cfg.ordinal
        return create(cfg.model, self.model_kind, 1, spec.out_channels(cfg.be_protocol), size=cfg.model_size, **kw)

    def loss(self, spec, cfg, train_cases):
        import torch

        from ramkit.train.losses import OrdinalBCELoss, WeightedCELoss

        if self.binary:
            counts = np.bincount([int(c.target()) for c in train_cases], minlength=2).astype(float)
            return WeightedCELoss(torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32))
        pos_weight = None
        if cfg.ordinal_pos_weight:
            from ramkit.models.ordinal import ordinal_targets

            t = ordinal_targets(torch.tensor([int(c.target()) for c in train_cases]), spec.out_channels())
            pos = t.sum(0)
            pos_weight = ((len(t) - pos) / pos.clamp(min=1)).clamp(max=100.0)
            if cfg.ordinal_pos_weight == "sqrt":
                pos_weight = pos_weight.sqrt()
        return OrdinalBCELoss(pos_weight)

    def decode(self, out):
        """(class indices, raw outputs) of a batch of model outputs."""
        import torch

        if not self.binary:
            from ramkit.models.ordinal import ordinal_decode

            return ordinal_decode(out).cpu(), out.cpu()
        p = torch.softmax(out, 1)
        return p.argmax(1).cpu(), p.cpu()

    def validate(self, spec, model, cases, cfg, device, amp):
        from ramkit.metrics.scoring import balanced_accuracy, mean_absolute_error, quadratic_kappa
        from ramkit.train import inference as inf

        out: dict[str, float] = {}
        truth = np.array([int(c.target()) for c in cases])
        pred, _ = inf.roi_predict(model, [c.image() for c in cases], spec, cfg.patch_size, device, amp)
        if not self.binary:
            values = np.array(spec.score_values)
            out["QWK"] = float(quadratic_kappa(values[truth], values[pred]))
            out["MAE"] = float(mean_absolute_error(values[truth], values[pred]))
        out["BACC"] = float(balanced_accuracy(truth, pred))
        out["ACC"] = float((truth == pred).mean()) if len(truth) else 0.0
        return {k: (v if math.isfinite(v) else 0.0) for k, v in out.items()}

    def test(self, spec, model, cfg, items, out, dev, amp, warmup, quiet, split="test", convention=None):
        from ramkit.train.evaluate import test_scores

        return test_scores(spec, model, cfg, items, out, dev, amp, warmup, quiet, split, convention)

    def predict(self, predictor, images, out: Path, **opts):
        from ramkit.train.evaluate import predict_scores

        return predict_scores(predictor, images, out, **opts)
