"""Ordinal scoring heads (cumulative thresholds) as in the RAM-H1200 scoring benchmark.

K ordered classes are decomposed into K−1 binary questions "is y > k?" (targets ``1[y > k]``), trained with
BCE-with-logits. Two heads:

* ``independent`` (the paper default): the backbone emits K−1 unconstrained logits. Decoding counts the
  thresholds with sigmoid > 0.5, which is not rank-consistent: :func:`non_monotone_share` reports how often
  the decision vector is not of the form 1…10…0.
* ``coral`` (rank-consistent): the backbone emits one scalar s; logits = s − c_k with strictly increasing
  cut-points c_0 (free) and c_k = c_0 + Σ_{j<k} softplus(δ_j), δ initialised to 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CoralHead(nn.Module):
    """Ordered cut-points turning one scalar score into K−1 rank-consistent threshold logits."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.c0 = nn.Parameter(torch.zeros(1))
        self.delta = nn.Parameter(torch.zeros(max(num_classes - 2, 0)))

    def cutpoints(self) -> torch.Tensor:
        """The K−1 strictly increasing cut-points."""
        return torch.cat([self.c0, self.c0 + torch.cumsum(F.softplus(self.delta), 0)])

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s.reshape(-1, 1) - self.cutpoints().unsqueeze(0)


class OrdinalModel(nn.Module):
    """A backbone plus an ordinal head; ``forward`` returns N×(K−1) threshold logits."""

    def __init__(self, backbone: nn.Module, num_classes: int, method: str = "independent"):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.method = method
        self.coral = CoralHead(num_classes) if method == "coral" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backbone(x)
        return self.coral(out) if self.coral is not None else out


def ordinal_targets(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float N×(K−1) targets ``t_k = 1[y > k]`` for class indices ``y`` (0..K−1)."""
    ks = torch.arange(num_classes - 1, device=y.device)
    return (y.reshape(-1, 1) > ks.unsqueeze(0)).float()


def ordinal_loss(logits: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE-with-logits over the K−1 thresholds for class indices ``y``."""
    t = ordinal_targets(y, logits.shape[1] + 1)
    return F.binary_cross_entropy_with_logits(logits.float(), t, pos_weight=pos_weight)


def ordinal_decode(logits: torch.Tensor) -> torch.Tensor:
    """Class index = number of thresholds with sigmoid(logit) > 0.5 (the paper's decoding)."""
    return (logits > 0).sum(dim=1)


def non_monotone_share(logits: torch.Tensor) -> float:
    """Share of samples whose threshold decisions are not of the form 1…10…0 (rank-inconsistent)."""
    if logits.numel() == 0:
        return 0.0
    d = (logits > 0).int()
    bad = (d[:, 1:] > d[:, :-1]).any(dim=1)
    return float(bad.float().mean())
