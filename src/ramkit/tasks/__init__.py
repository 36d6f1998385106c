"""The task registry: ``ramkit.tasks.get(task_id) -> TaskSpec``; a task is one entry of :data:`TASKS`.

A :class:`TaskSpec` says which dataset feeds the task, its paper hyper-parameters (``shared/spec/TASKS.md``),
its named training budgets (``quick``, ``cpu``, ``paper``) and its behaviour: a :class:`TaskKind` object
(:mod:`ramkit.tasks.kinds` for segmentation and joint scoring, :mod:`ramkit.tasks.mil` for the total-SvdH MIL)
that builds cases, model, loss, optimiser and the validation / test / predict outputs. The trainer
(:mod:`ramkit.train`) is generic over these objects: there is no script per task and no dispatch on task ids.
See docs/architecture.md, "How to add a task".
"""

from __future__ import annotations

from ramkit import anatomy
from ramkit.errors import RamkitError
from ramkit.tasks.base import BUDGETS, TaskKind, TaskSpec
from ramkit.tasks.kinds import JointScoringKind, SegmentationKind, be_cases, be_classes, wrist_cases
from ramkit.tasks.mil import MilKind

__all__ = ["TaskSpec", "TaskKind", "TASKS", "BUDGETS", "get", "list_tasks"]

# ``cpu`` budgets: the CPU bench protocol on the medium synthetic cohort (1 warm-up epoch + cosine, no early
# stopping, higher LRs than the paper's 1e-4 because there are far fewer steps); ``quick`` shrinks them further.
_WARM = {"warmup_epochs": 1, "patience": 0}

TASKS: dict[str, TaskSpec] = {
    t.id: t
    for t in (
        TaskSpec(
            id="hand-bone-seg",
            description="hand bone instance segmentation (30 multi-label masks)",
            dataset="h1200",
            kind=SegmentationKind(),  # full-resolution sliding window (overlap 0.5, Gaussian), sigmoid > 0.5
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
            budgets={
                "cpu": dict(
                    model="Unet",
                    model_kw={"filters": (8, 16, 32, 64, 128)},
                    input_scale=0.25,
                    patch_size=160,
                    patches_per_image=4,
                    batch_size=8,
                    epochs=40,
                    lr=3e-3,
                    max_val_cases=4,
                    **_WARM,
                ),
                "quick": dict(
                    model="Unet",
                    model_kw={"filters": (8, 16, 32, 64, 128)},
                    input_scale=0.25,
                    patch_size=160,
                    patches_per_image=2,
                    batch_size=8,
                    epochs=12,
                    lr=3e-3,
                    max_val_cases=2,
                    **_WARM,
                ),
            },
        ),
        TaskSpec(
            id="hand-be-seg",
            description="bone-erosion segmentation (SvdH-BE-90 or 3 lesion classes)",
            dataset="h1200",
            # sliding window at the training scale, softmax argmax; select on DSC of lesion images
            kind=SegmentationKind(read=be_cases, classes=be_classes, softmax=True, metric_task="be"),
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
            budgets={
                "cpu": dict(
                    model="Unet",
                    model_kw={"filters": (16, 32, 64, 128)},
                    patch_size=64,
                    patches_per_image=16,
                    batch_size=16,
                    epochs=14,
                    lr=3e-3,
                    max_val_cases=3,
                    pos_image_ratio=0.9,
                    fg_ratio=0.8,
                    fg_class_weight=5.0,
                    val_overlap=0.25,
                    **_WARM,
                ),
                "quick": dict(
                    model="Unet",
                    model_size="tiny",
                    model_kw={},
                    patch_size=64,
                    patches_per_image=4,
                    batch_size=16,
                    epochs=2,
                    lr=3e-3,
                    max_val_cases=2,
                    pos_image_ratio=0.9,
                    fg_ratio=0.8,
                    fg_class_weight=5.0,
                    val_overlap=0.25,
                    **_WARM,
                ),
            },
        ),
        TaskSpec(
            id="hand-be-score",
            description="SvdH bone-erosion scoring of 16 joint ROIs (0/1/2/3/5)",
            dataset="h1200",
            kind=JointScoringKind(),
            select="QWK",
            default_model="ResNet",
            score_kind="be",
            patch_size=224,
            batch_size=32,
            epochs=200,
            lr=1e-4,
            weight_decay=1e-3,
            patience=0,
            budgets={
                "cpu": dict(
                    model="ResNet18",
                    patch_size=64,
                    batch_size=32,
                    epochs=20,
                    lr=2e-3,
                    ordinal_pos_weight="sqrt",
                    **_WARM,
                ),
                "quick": dict(
                    model="MobileNet",
                    model_size="tiny",
                    patch_size=64,
                    batch_size=32,
                    epochs=3,
                    lr=2e-3,
                    ordinal_pos_weight="sqrt",
                    **_WARM,
                ),
            },
        ),
        TaskSpec(
            id="hand-jsn-score",
            description="SvdH joint-space-narrowing scoring of 15 joint ROIs (0-4)",
            dataset="h1200",
            kind=JointScoringKind(),
            select="QWK",
            default_model="ResNet",
            score_kind="jsn",
            patch_size=224,
            batch_size=32,
            epochs=200,
            lr=1e-4,
            weight_decay=1e-3,
            patience=0,
            budgets={
                "cpu": dict(
                    model="ResNet18", patch_size=64, batch_size=32, epochs=15, lr=1e-3, ordinal_pos_weight=True, **_WARM
                ),
                "quick": dict(
                    model="ResNet18", patch_size=64, batch_size=32, epochs=8, lr=1e-3, ordinal_pos_weight=True, **_WARM
                ),
            },
        ),
        TaskSpec(
            id="wrist-bone-seg",
            description="wrist bone segmentation (14 masks)",
            dataset="w600",
            # whole image resized to the input size; metrics on the resized masks (as the paper)
            kind=SegmentationKind(read=wrist_cases, classes=lambda p: anatomy.WRIST_BONES, input="whole"),
            select="DSC",
            default_model="Unet",
            patch_size=512,
            batch_size=8,
            epochs=100,
            lr=1e-4,
            weight_decay=1e-2,
            patience=10,
            budgets={
                "cpu": dict(
                    model="Unet",
                    model_kw={"filters": (16, 32, 64, 128, 256)},
                    patch_size=128,
                    batch_size=4,
                    epochs=40,
                    lr=3e-3,
                    max_val_cases=4,
                    **_WARM,
                ),
                "quick": dict(
                    model="Unet",
                    model_kw={"filters": (16, 32, 64, 128, 256)},
                    patch_size=128,
                    batch_size=4,
                    epochs=40,
                    lr=3e-3,
                    max_val_cases=2,
                    **_WARM,
                ),
            },
        ),
        TaskSpec(
            id="wrist-be-cls",
            description="wrist bone-erosion presence per joint ROI (score > 0 = positive)",
            dataset="w600",
            kind=JointScoringKind(binary=True),
            select="BACC",
            default_model="ResNet",
            score_kind="w600",
            patch_size=224,
            batch_size=16,
            epochs=100,
            lr=1e-4,
            weight_decay=1e-2,
            patience=10,
            budgets={
                "cpu": dict(model="ResNet18", patch_size=64, batch_size=32, epochs=20, lr=1e-3, **_WARM),
                "quick": dict(
                    model="MobileNet", model_size="tiny", patch_size=64, batch_size=32, epochs=3, lr=1e-3, **_WARM
                ),
            },
        ),
        TaskSpec(
            id="total-svdh-mil",
            description="total SvdH (BE + JSN) of a hand by gated-attention MIL over joint patches or tiles",
            dataset="h1200",
            kind=MilKind(),
            select="neg_RMSE",  # −RMSE: PCC alone is blind to the bias and scale of the predicted totals
            default_model="ResNet18",
            patch_size=224,
            batch_size=1,
            epochs=100,
            lr=1e-3,
            weight_decay=1e-3,
            patience=0,
            budgets={
                "paper": dict(mil_feature_epochs=30),
                "cpu": dict(
                    model="ResNet18",
                    patch_size=64,
                    batch_size=8,
                    epochs=60,
                    lr=1e-2,
                    mil_feature_epochs=8,
                    mil_tiles=24,
                    **_WARM,
                ),
                "quick": dict(
                    model="MobileNet",
                    model_size="tiny",
                    patch_size=48,
                    batch_size=8,
                    epochs=20,
                    lr=1e-2,
                    mil_feature_epochs=3,
                    mil_tiles=16,
                    **_WARM,
                ),
            },
        ),
    )
}


def list_tasks() -> list[str]:
    """The task ids ramkit trains."""
    return list(TASKS)


def get(task_id: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task_id``; RamkitError listing the valid ids when unknown."""
    try:
        return TASKS[task_id]
    except KeyError:
        raise RamkitError(f"unknown task {task_id!r}; expected one of: {', '.join(TASKS)}") from None
