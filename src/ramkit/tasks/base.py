"""The behaviour interface of a task (:class:`TaskKind`) and the spec that carries it (:class:`TaskSpec`).

A task is one :class:`TaskSpec` entry: ids, data set, paper hyper-parameters, named training budgets and a
:class:`TaskKind` object — as an nnU-Net trainer class or a MONAI loss/metric object — that knows how to build the
task's cases, model, loss, optimiser, training samples, validation metrics, ``ramkit test`` outputs and
``ramkit predict`` outputs. The generic trainer (:mod:`ramkit.train.trainer`) and evaluator
(:mod:`ramkit.train.evaluate`) only call these methods; nothing dispatches on task-id strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ramkit.errors import RamkitError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch import nn

    from ramkit.train.data import Augmentation

#: the named training budgets every task defines (``ramkit train --budget``, ``ramkit bench --budget``)
BUDGETS = ("quick", "cpu", "paper")
#: the TaskSpec fields that are training hyper-parameters (TrainConfig fields of the same name default to them)
HYPERPARAMETERS = (
    "patch_size",
    "patches_per_image",
    "fg_ratio",
    "batch_size",
    "epochs",
    "lr",
    "weight_decay",
    "patience",
)


class TaskKind:
    """Behaviour of a family of tasks. Subclasses override what differs; see the docstring of each method.

    Attributes used by generic code: ``model_kind`` ("seg" | "ordinal" | "cls" | "mil": the model registry
    kind), ``headline`` (metric columns ``ramkit bench`` prints), ``item_unit`` (what one timed inference is).
    """

    model_kind: str = "cls"
    headline: tuple[str, ...] = ()
    item_unit: str = "item"
    #: the per-sample unit the TaskDataset draws ("patch" | "whole" | "roi" | "bag")
    input: str = "roi"
    #: NumPy dtype of training targets (int64 for label maps / class indices used by cross-entropy)
    target_dtype: str = "float32"

    @property
    def activation(self) -> str:
        """The output activation, as the model card and the ONNX metadata name it ("sigmoid" | "softmax" |
        "ordinal" | "softmax-binary" | "regression")."""
        raise NotImplementedError

    # ------------------------------------------------------------------ names
    def class_names(self, spec: TaskSpec, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Output channel / class names."""
        raise NotImplementedError

    def lesion_channels(self, spec: TaskSpec, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Channels scored by the evaluator (default: every output channel)."""
        return self.class_names(spec, be_protocol)

    # ------------------------------------------------------------------ data
    def cases(self, spec: TaskSpec, ds, split: str, be_protocol: str = "svdh90") -> list:
        """The :class:`ramkit.train.data.Case` list of ``split`` read from the opened reader ``ds``."""
        raise NotImplementedError

    def prepare_cases(self, spec: TaskSpec, cfg, train_cases: list, val_cases: list) -> tuple[list, list]:
        """Hook to transform the case lists once the config is known (default: unchanged)."""
        return train_cases, val_cases

    def train_dataset(self, spec: TaskSpec, cfg, train_cases: list, model: nn.Module, device: torch.device):
        """The training :class:`torch.utils.data.Dataset` (with ``set_epoch``)."""
        from ramkit.train.data import TaskDataset

        return TaskDataset(
            spec,
            train_cases,
            cfg.patch_size,
            seed=cfg.seed,
            train=True,
            patches_per_image=cfg.patches_per_image,
            fg_ratio=cfg.fg_ratio,
            pos_image_ratio=cfg.pos_image_ratio,
        )

    # ------------------------------------------------------------------ model / optimisation
    def build_model(self, spec: TaskSpec, cfg) -> nn.Module:
        """A freshly initialised model from the registry (``cfg.model``)."""
        from ramkit.models import create

        return create(
            cfg.model, self.model_kind, 1, spec.out_channels(cfg.be_protocol), size=cfg.model_size, **cfg.model_kw
        )

    def prepare(self, spec: TaskSpec, cfg, model: nn.Module, train_cases: list, val_cases: list, device, run: Path):
        """Hook run after the model is built and before training (MIL trains its patch classifier here)."""

    def loss(self, spec: TaskSpec, cfg, train_cases: list) -> nn.Module:
        """The loss module (class weights etc. may be computed from ``train_cases``)."""
        raise NotImplementedError

    def optimizer(self, spec: TaskSpec, cfg, model: nn.Module) -> torch.optim.Optimizer:
        """AdamW (the papers' optimiser for the six benchmark tasks)."""
        import torch

        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # ------------------------------------------------------------------ evaluation
    def validate(self, spec: TaskSpec, model: nn.Module, cases: list, cfg, device, amp: str) -> dict[str, float]:
        """Validation metrics (``spec.select`` among them); higher is better for the selection metric."""
        raise NotImplementedError

    def test(
        self,
        spec: TaskSpec,
        model: nn.Module,
        cfg,
        items: list,
        out: Path,
        dev,
        amp: str,
        warmup: int,
        quiet: bool,
        split: str = "test",
        convention=None,
    ):
        """``ramkit test`` body: write predictions/per-case files under ``out``; return summary entries + timing.

        ``convention``: the :class:`ramkit.metrics.conventions.Convention` the evaluators aggregate with.
        """
        raise NotImplementedError

    def predict(self, predictor, images: list[str], out: Path, **opts):
        """``ramkit predict`` body: write outputs for new images under ``out``; return the files written.

        ``predictor`` is the run's :class:`ramkit.Predictor` (model, config, device, spacing/flip protocol).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ decoding (ramkit.train.inference)
    def masks(self, logits: torch.Tensor) -> np.ndarray:
        """Segmentation kinds: binary C×H×W masks of the evaluated channels from C×H×W logits."""
        raise NotImplementedError

    def truth(self, target: np.ndarray, n_channels: int) -> np.ndarray:
        """Segmentation kinds: a training target as binary C×H×W of the evaluated channels."""
        raise NotImplementedError

    def decode(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scoring kinds: (class indices, raw outputs) of a batch of model outputs, on the CPU."""
        raise NotImplementedError


@dataclass(frozen=True)
class TaskSpec:
    """One task: identity, data set, paper hyper-parameters (TASKS.md), named budgets and its behaviour ``kind``.

    ``budgets`` maps ``quick`` / ``cpu`` (/ ``paper``) to :class:`ramkit.train.TrainConfig` overrides. The
    hyper-parameter fields and ``default_model`` are the paper protocol (TASKS.md): they *are* the ``paper``
    budget, and fill whatever a budget and the user leave unset.
    """

    id: str
    description: str
    dataset: str  #: "h1200" | "w600"
    kind: TaskKind
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
    budgets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: training augmentation (:class:`ramkit.train.data.Augmentation`); None = ``DEFAULT_AUGMENTATION``
    augmentation: Augmentation | None = None

    def class_names(self, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Output channel / class names (for softmax segmentation the background is listed first)."""
        return self.kind.class_names(self, be_protocol)

    def out_channels(self, be_protocol: str = "svdh90") -> int:
        """Network output channels (classes K for ordinal models: the model itself emits K−1 logits)."""
        return len(self.class_names(be_protocol))

    def lesion_channels(self, be_protocol: str = "svdh90") -> tuple[str, ...]:
        """Channels scored by the segmentation evaluator (background excluded for softmax tasks)."""
        return self.kind.lesion_channels(self, be_protocol)

    @property
    def model_kind(self) -> str:
        """The model registry kind of the task ("seg" | "ordinal" | "cls" | "mil")."""
        return self.kind.model_kind

    @property
    def score_values(self) -> tuple[int, ...]:
        """Raw score values of a scoring task (index = ordinal class)."""
        from ramkit import anatomy

        return anatomy.SCORE_VALUES[self.score_kind] if self.score_kind else ()

    def hyperparameters(self) -> dict:
        """The paper training hyper-parameters as a flat dict (what an unset TrainConfig field falls back to)."""
        return {k: getattr(self, k) for k in HYPERPARAMETERS}

    def budget(self, name: str) -> dict[str, Any]:
        """The TrainConfig overrides of budget ``name`` (``quick`` | ``cpu`` | ``paper``); RamkitError if unknown."""
        if name not in BUDGETS and name not in self.budgets:
            raise RamkitError(f"unknown budget {name!r}; expected one of: {', '.join(BUDGETS)}")
        base: dict[str, Any] = {"model": self.default_model, **self.hyperparameters()} if name == "paper" else {}
        base.update({k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.budgets.get(name, {}).items()})
        return base
