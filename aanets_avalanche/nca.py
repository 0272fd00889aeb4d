"""PODNet's NCA classification loss on local-similarity logits.

loss_i = -(s_iy - log(1 + sum_{j != y} exp(s_ij))), with s = scale * (logits - margin on the
positive), then minus each row's maximum, averaged over the batch. The positive class is taken
out of the denominator and replaced by exp(0) = 1, as in the reference; because of that 1 the
row-maximum shift changes the value (it is part of the loss, not only a stability trick).

The reference subtracts its margin (0.6) from every logit before the row maximum, where it
cancels: its margin has no effect (PODNet repository, issue 59). Here ``margin`` acts on the
positive logit only; ``margin=0`` reproduces the reference's numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def nca_loss(logits: Tensor, targets: Tensor, scale: Tensor | float = 1.0, margin: float = 0.0,
             exclude_positive: bool = True) -> Tensor:
    """Mean NCA loss over the batch (``exclude_positive=False``: plain cross-entropy on the
    scaled, margined logits)."""
    positive = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    s = scale * (logits - margin * positive)
    if not exclude_positive:
        return F.cross_entropy(s, targets)
    s = s - s.max(dim=1, keepdim=True).values
    numerator = (s * positive).sum(dim=1)
    negatives = s.masked_fill(positive.bool(), 0.0)  # positive slot -> exp(0) = 1
    return (torch.logsumexp(negatives, dim=1) - numerator).mean()


class NCALoss(nn.Module):
    """``nca_loss`` as a criterion module: holds the margin; the scale is passed per call (it is
    the classifier's learned parameter)."""

    def __init__(self, margin: float = 0.0, exclude_positive: bool = True) -> None:
        super().__init__()
        self.margin = margin
        self.exclude_positive = exclude_positive

    def forward(self, logits: Tensor, targets: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        return nca_loss(logits, targets, scale, self.margin, self.exclude_positive)


__all__ = ["NCALoss", "nca_loss"]
