"""The training losses, one module each (MONAI style): a task's :class:`~ramkit.tasks.TaskKind` builds its own."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BceDiceLoss(nn.Module):
    """Multi-label masks: BCE + batch soft Dice on sigmoid outputs (MONAI ``DiceLoss``)."""

    def __init__(self):
        super().__init__()
        from monai.losses import DiceLoss

        self.dice = DiceLoss(sigmoid=True, squared_pred=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return F.binary_cross_entropy_with_logits(logits, target) + self.dice(logits, target)


class DiceCELoss(nn.Module):
    """Label maps: batch Dice without background + (optionally class-weighted) CE over all classes.

    Batch Dice: lesions are tiny and many patches have none; per-sample Dice is then mostly noise.
    """

    def __init__(self, ce_weight: torch.Tensor | None = None):
        super().__init__()
        from monai.losses import DiceLoss

        self.dice = DiceLoss(to_onehot_y=True, softmax=True, include_background=False, squared_pred=True, batch=True)
        self.ce_weight = ce_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        w = None if self.ce_weight is None else self.ce_weight.to(logits.device)
        return self.dice(logits, target.unsqueeze(1)) + F.cross_entropy(logits, target.long(), weight=w)


class OrdinalBCELoss(nn.Module):
    """Ordinal scores: BCE on the K−1 cumulative thresholds, optional per-threshold ``pos_weight``."""

    def __init__(self, pos_weight: torch.Tensor | None = None):
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from ramkit.models.ordinal import ordinal_loss

        pw = None if self.pos_weight is None else self.pos_weight.to(logits.device)
        return ordinal_loss(logits.float(), target, pos_weight=pw)


class WeightedCELoss(nn.Module):
    """Class-weighted cross-entropy (weights default to 1)."""

    def __init__(self, weights: torch.Tensor | None = None, n_classes: int = 2):
        super().__init__()
        self.register_buffer("weights", weights if weights is not None else torch.ones(n_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target, weight=self.weights)


class StandardisedMSELoss(nn.Module):
    """MSE between a standardised prediction and ``(target − mean) / std`` (MIL total scores)."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred.float().reshape(-1), (target.float().reshape(-1) - self.mean) / self.std)


__all__ = ["BceDiceLoss", "DiceCELoss", "OrdinalBCELoss", "WeightedCELoss", "StandardisedMSELoss"]
