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
