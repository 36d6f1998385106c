"""Declarative specs of the six benchmark tasks: ``ramkit.tasks.get(task_id) -> TaskSpec``.

A :class:`TaskSpec` says which dataset reader and split accessor feed the task, what the input is (random
patches, the whole image resized, or joint ROIs), how training samples are drawn, the loss, the output
activation, the evaluator used by ``ramkit test``, the model-selection criterion and the default
hyper-parameters of ``shared/spec/TASKS.md``. The trainer (:mod:`ramkit.train`) is generic over these specs:
there is no script per task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ramkit import anatomy
from ramkit.errors import RamkitError

__all__ = ["TaskSpec", "TASKS", "get", "list_tasks"]


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task. Hyper-parameters are the paper defaults; ``cpu_*`` fields are the CPU-bench scale."""

    id: str
    description: str
    dataset: str  #: "h1200" | "w600"
    accessor: str  #: reader method: "seg" | "scores"
    input: str  #: "patch" (random patches, sliding-window test) | "whole" (resized image) | "roi" (joint crops)
    model_kind: str  #: "seg" | "ordinal" | "cls"
    activation: str  #: "sigmoid" (multi-label) | "softmax" (label map) | "ordinal" | "softmax-binary"
    loss: str  #: "bce+dice" | "dicece" | "ordinal-bce" | "weighted-ce"
    evaluator: str  #: "segmentation" | "score" | "binary"
    select: str  #: model-selection metric on validation (higher is better)
    default_model: str
    score_kind: str | None = None  #: "be" | "jsn" | "w600" for scoring tasks
    patch_size: int = 512  #: training patch / network input side
    patches_per_image: int = 16
    fg_ratio: float = 0.7  #: share of patches centred on foreground (lesion for BE)
    fg_window: int | None = None  #: BE: lesion pixel placed within ±fg_window/2 of the patch centre
    batch_size: int = 8
    epochs: int = 200
    lr: float = 1e-4
    weight_decay: float = 1e-2
    patience: int = 15  #: early stopping on ``select``; 0 = off
    eval_metric_note: str = ""
    cpu_patch_size: int = 128  #: defaults used by ``ramkit bench`` on the small synthetic cohort
    cpu_model: str = ""
    extra: dict = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------------
    def class_names(self, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Output channel / class names (for segmentation, the softmax background is listed first)."""
        if self.id == "hand-bone-seg":
            return anatomy.HAND_BONES
        if self.id == "wrist-bone-seg":
            return anatomy.WRIST_BONES
        if self.id == "hand-be-seg":
            if be_protocol not in anatomy.BE_PROTOCOL_CLASSES:
                raise RamkitError(
                    f"unknown BE protocol {be_protocol!r}; expected one of {', '.join(anatomy.BE_PROTOCOL_CLASSES)}"
                )
            return ("background",) + anatomy.BE_PROTOCOL_CLASSES[be_protocol]
        if self.id == "wrist-be-cls":
            return ("no-erosion", "erosion")
        assert self.score_kind is not None
        return tuple(str(v) for v in anatomy.SCORE_VALUES[self.score_kind])

    def out_channels(self, be_protocol: str = "svdh90") -> int:
        """Network output channels (classes K for ordinal models: the model itself emits K−1 logits)."""
        return len(self.class_names(be_protocol))

    def lesion_channels(self, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Channels scored by the segmentation evaluator (background excluded for softmax tasks)."""
        names = self.class_names(be_protocol)
        return names[1:] if self.activation == "softmax" else names

    @property
    def score_values(self) -> tuple[int, ...]:
        """Raw score values of a scoring task (index = ordinal class)."""
        return anatomy.SCORE_VALUES[self.score_kind] if self.score_kind else ()

    def hyperparameters(self) -> dict:
        """The default training hyper-parameters as a flat dict (what ``ramkit train`` starts from)."""
        keys = ("patch_size", "patches_per_image", "fg_ratio", "batch_size", "epochs", "lr", "weight_decay", "patience")
        d = asdict(self)
        return {k: d[k] for k in keys}

    def with_overrides(self, **kw) -> TaskSpec:
        """A copy with some fields replaced."""
        return replace(self, **kw)


TASKS: dict[str, TaskSpec] = {
    t.id: t
    for t in (
        TaskSpec(
            id="hand-bone-seg",
            description="hand bone instance segmentation (30 multi-label masks)",
            dataset="h1200",
            accessor="seg",
            input="patch",
            model_kind="seg",
            activation="sigmoid",
            loss="bce+dice",
            evaluator="segmentation",
            select="DSC",
            default_model="Unet",
            patch_size=512,
            patches_per_image=16,
            fg_ratio=0.7,
            batch_size=8,
            epochs=200,
            lr=1e-4,
            weight_decay=1e-2,
            patience=15,
            cpu_patch_size=128,
            eval_metric_note="full-resolution sliding window (overlap 0.5, Gaussian), sigmoid > 0.5",
        ),
        TaskSpec(
            id="hand-be-seg",
            description="bone-erosion segmentation (SvdH-BE-90 or 3 lesion classes)",
            dataset="h1200",
            accessor="seg",
            input="patch",
            model_kind="seg",
            activation="softmax",
            loss="dicece",
            evaluator="segmentation",
            select="positive_DSC",
            default_model="Unet",
            patch_size=256,
            patches_per_image=24,
            fg_ratio=0.7,
            fg_window=192,
            batch_size=16,
            epochs=100,
            lr=1e-4,
            weight_decay=1e-2,
            patience=20,
            cpu_patch_size=96,
            eval_metric_note="sliding window at the training scale, softmax argmax; select on DSC of lesion images",
        ),
        TaskSpec(
            id="hand-be-score",
            description="SvdH bone-erosion scoring of 16 joint ROIs (0/1/2/3/5)",
            dataset="h1200",
            accessor="scores",
            input="roi",
            model_kind="ordinal",
            activation="ordinal",
            loss="ordinal-bce",
            evaluator="score",
            select="QWK",
            default_model="ResNet",
            score_kind="be",
            patch_size=224,
            batch_size=32,
            epochs=200,
            lr=1e-4,
            weight_decay=1e-3,
            patience=0,
            cpu_patch_size=64,
        ),
        TaskSpec(
            id="hand-jsn-score",
            description="SvdH joint-space-narrowing scoring of 15 joint ROIs (0-4)",
            dataset="h1200",
            accessor="scores",
            input="roi",
            model_kind="ordinal",
            activation="ordinal",
            loss="ordinal-bce",
            evaluator="score",
            select="QWK",
            default_model="ResNet",
            score_kind="jsn",
            patch_size=224,
            batch_size=32,
            epochs=200,
            lr=1e-4,
            weight_decay=1e-3,
            patience=0,
            cpu_patch_size=64,
        ),
        TaskSpec(
            id="wrist-bone-seg",
            description="wrist bone segmentation (14 masks)",
            dataset="w600",
            accessor="seg",
            input="whole",
            model_kind="seg",
            activation="sigmoid",
            loss="bce+dice",
            evaluator="segmentation",
            select="DSC",
            default_model="Unet",
            patch_size=512,
            batch_size=8,
            epochs=100,
            lr=1e-4,
            weight_decay=1e-2,
            patience=10,
            cpu_patch_size=128,
            eval_metric_note="whole image resized to the input size; metrics on the resized masks (as the paper)",
        ),
        TaskSpec(
            id="wrist-be-cls",
            description="wrist bone-erosion presence per joint ROI (score > 0 = positive)",
            dataset="w600",
            accessor="scores",
            input="roi",
            model_kind="cls",
            activation="softmax-binary",
            loss="weighted-ce",
            evaluator="binary",
            select="BACC",
            default_model="ResNet",
            score_kind="w600",
            patch_size=224,
            batch_size=16,
            epochs=100,
            lr=1e-4,
            weight_decay=1e-2,
            patience=10,
            cpu_patch_size=64,
        ),
    )
}


def list_tasks() -> list[str]:
    """The benchmark task ids ramkit trains."""
    return list(TASKS)


def get(task_id: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task_id``; RamkitError listing the valid ids when unknown."""
    try:
        return TASKS[task_id]
    except KeyError:
        raise RamkitError(f"unknown task {task_id!r}; expected one of: {', '.join(TASKS)}") from None
