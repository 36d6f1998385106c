"""Gated-attention multiple-instance pooling (ABMIL, Ilse et al. 2018) for the total-SvdH MIL task."""

from __future__ import annotations

import torch
from torch import nn


class GatedAttentionMIL(nn.Module):
    """Gated attention pooling ``a = softmax(w^T (tanh(V h) ⊙ sigmoid(U h)))`` then a linear regressor.

    ``forward(h, mask=None)`` takes instance features B×N×D (or N×D for one bag) and an optional boolean B×N
    mask of valid instances; returns ``(prediction B×out, attention B×N)`` with attention summing to 1 per bag.
    """

    def __init__(self, in_dim: int, hidden: int = 128, out_dim: int = 1, dropout: float = 0.1):
        super().__init__()
        self.V = nn.Linear(in_dim, hidden)
        self.U = nn.Linear(in_dim, hidden)
        self.w = nn.Linear(hidden, 1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(in_dim, out_dim)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        single = h.dim() == 2
        if single:
            h = h.unsqueeze(0)
            mask = None if mask is None else mask.unsqueeze(0)
        h = self.drop(h)
        scores = self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h))).squeeze(-1)  # B×N
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), float("-inf"))
        attn = torch.softmax(scores, dim=1)
        pooled = torch.bmm(attn.unsqueeze(1), h).squeeze(1)
        out = self.head(self.drop(pooled))
        if single:
            return out.squeeze(0), attn.squeeze(0)
        return out, attn


class MilNet(nn.Module):
    """Total-score MIL model: a patch classifier (normal/abnormal) whose penultimate features feed a
    :class:`GatedAttentionMIL` regressor.

    * ``extractor``: a registry classification backbone with its classifier removed (``num_features`` = D);
    * ``patch_head``: D -> 2 logits (normal / abnormal), trained first from per-joint labels; it is the "last
      layer" the extractor is truncated before, and ranks scheme-1 tiles;
    * ``mil``: gated attention pooling + linear regression head on the *standardised* total;
    * buffers ``target_mean`` / ``target_std`` turn the standardised output back into score points.

    ``forward(bag, mask)`` takes a bag of patches B×N×1×S×S (or pre-computed features B×N×D) and a boolean B×N
    mask of real instances; it returns the standardised prediction (B). :meth:`attend` also returns attention.
    """

    def __init__(self, extractor: nn.Module, dim: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.extractor = extractor
        self.patch_head = nn.Linear(dim, 2)
        self.mil = GatedAttentionMIL(dim, hidden=hidden, out_dim=1, dropout=dropout)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))
        self.dim = dim

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        """D-dimensional features of M×1×S×S patches."""
        return self.extractor(patches)

    def patch_logits(self, patches: torch.Tensor) -> torch.Tensor:
        """Normal/abnormal logits (M×2) of M×1×S×S patches."""
        return self.patch_head(self.features(patches))

    def attend(self, bag: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(standardised prediction B, attention B×N) of a batch of bags (patches or features)."""
        if bag.dim() == 5:  # B×N×1×S×S patches -> B×N×D features
            b, n = bag.shape[:2]
            bag = self.features(bag.flatten(0, 1)).view(b, n, -1)
        pred, attn = self.mil(bag, mask)
        return pred.squeeze(-1), attn

    def forward(self, bag: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(bag, mask)[0]

    def to_score(self, standardised: torch.Tensor) -> torch.Tensor:
        """Score points from the standardised output."""
        return standardised * self.target_std + self.target_mean
