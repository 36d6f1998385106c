"""Task specs: ids, class names from anatomy, defaults from TASKS.md."""

from __future__ import annotations

import pytest

from ramkit import anatomy
from ramkit.errors import RamkitError
from ramkit.models import REGISTRY
from ramkit.tasks import BUDGETS, TaskKind, get, list_tasks
from ramkit.train import TrainConfig


def test_task_registry():
    assert list_tasks() == [
        "hand-bone-seg",
        "hand-be-seg",
        "hand-be-score",
        "hand-jsn-score",
        "wrist-bone-seg",
        "wrist-be-cls",
        "total-svdh-mil",
    ]
    for t in list_tasks():
        spec = get(t)
        assert spec.default_model in REGISTRY
        assert spec.hyperparameters()["epochs"] > 0
        assert isinstance(spec.kind, TaskKind) and spec.kind.headline


@pytest.mark.parametrize("task", list_tasks())
def test_every_task_has_the_three_budgets_and_flags_override_them(task):
    spec = get(task)
    for budget in BUDGETS:
        cfg = TrainConfig(task=task, data="d", out="o", budget=budget).resolve()
        assert cfg.budget == budget and cfg.model in REGISTRY
        for k, v in spec.budget(budget).items():
            assert getattr(cfg, k) == (dict(v) if isinstance(v, dict) else v), (budget, k)
    paper = TrainConfig(task=task, data="d", out="o").resolve()  # default budget: the paper protocol
    assert paper.budget == "paper" and paper.model == spec.default_model
    assert {k: getattr(paper, k) for k in spec.hyperparameters()} == spec.hyperparameters()
    cpu = TrainConfig(task=task, data="d", out="o", budget="cpu", epochs=2, lr=0.5).resolve()
    assert (cpu.epochs, cpu.lr) == (2, 0.5)  # explicit values beat the budget
    with pytest.raises(RamkitError, match="unknown budget"):
        TrainConfig(task=task, data="d", out="o", budget="laptop").resolve()


def test_class_names_and_channels():
    assert get("hand-bone-seg").class_names() == anatomy.HAND_BONES
    assert get("hand-bone-seg").out_channels() == 30
    assert get("wrist-bone-seg").out_channels() == 14
    be = get("hand-be-seg")
    assert be.class_names() == ("background", "SvdH-BE-90")
    assert be.lesion_channels("3class") == anatomy.BE_CATEGORIES
    assert be.out_channels("3class") == 4
    assert get("hand-be-score").score_values == (0, 1, 2, 3, 5)
    assert get("hand-jsn-score").out_channels() == 5
    assert get("wrist-be-cls").out_channels() == 2
    with pytest.raises(RamkitError, match="unknown BE protocol"):
        be.class_names("5class")


def test_paper_defaults():
    bone = get("hand-bone-seg")
    assert (bone.patch_size, bone.patches_per_image, bone.fg_ratio, bone.batch_size, bone.patience) == (
        512,
        16,
        0.7,
        8,
        15,
    )
    be = get("hand-be-seg")
    assert (be.patch_size, be.patches_per_image, be.batch_size, be.patience, be.select) == (
        256,
        24,
        16,
        20,
        "positive_DSC",
    )
    s = get("hand-jsn-score")
    assert (s.patch_size, s.batch_size, s.weight_decay, s.select, s.model_kind) == (224, 32, 1e-3, "QWK", "ordinal")
    m = get("total-svdh-mil")  # MIL paper: SGD lr 1e-3, wd 1e-3
    assert (m.lr, m.weight_decay, m.select, m.model_kind) == (1e-3, 1e-3, "neg_RMSE", "mil")


def test_unknown_task():
    with pytest.raises(RamkitError, match="unknown task 'nope'; expected one of: hand-bone-seg"):
        get("nope")
