"""Subject-adversarial training (gradient reversal, Ganin & Lempitsky 2015), for the ``adversarial`` candidate.

Where features say more about who a subject is than about how they feel (the ``identity-heavy`` world, and the
face features on held-out data, whose arousal models collapsed on test subjects), a regressor can learn each train
subject's level from their look and carry none of it to a new subject. A small classifier reads the regressor's
recurrent states, averaged over a window, and learns which train subject the window came from; its gradient
reaches the recurrent layers reversed and scaled by ``weight``, so they learn states from which the subject is
hard to tell while the output layer still predicts the label. The classifier is used in training only: the
regressor's checkpoint and predictions are those of a plain model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class _Reverse(torch.autograd.Function):
    """Identity forward; the gradient times ``-weight`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # type: ignore[override]
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.weight * grad, None


class SubjectAdversary(nn.Module):
    """Which of ``subjects`` train subjects a window's mean recurrent state (width ``width``) came from."""

    def __init__(self, width: int, subjects: int, weight: float) -> None:
        super().__init__()
        self.classify, self.weight = nn.Linear(width, subjects), weight

    def loss(self, h: torch.Tensor, valid: torch.Tensor | None, subject: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the subject (B,) from states (B, T, width) over valid (B, T) steps, its gradient to
        ``h`` reversed."""
        if valid is None:
            pooled = h.mean(1)
        else:
            w = valid.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp_min(1)
        return F.cross_entropy(self.classify(_Reverse.apply(pooled, self.weight)), subject)
