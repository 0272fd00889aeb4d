"""iCaRL-style distillation as used by the AANets reference: temperature KD on old logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..validation import check_real
from .previous_model import PreviousModelDistillation


def icarl_kd_loss(logits: Tensor, old_logits: Tensor, temperature: float) -> Tensor:
    """T^2 * KL(softmax(z_old/T) || softmax(z[:, :old]/T)), summed over classes, mean over batch.

    The reference averages its KL over batch x old classes and multiplies by the number of old
    classes, which is exactly this batch mean. In fp32 (bf16 logits are cast up).
    """
    num_old = old_logits.shape[1]
    log_p = F.log_softmax(logits[:, :num_old].float() / temperature, dim=1)
    q = F.softmax(old_logits.detach().float() / temperature, dim=1)
    return F.kl_div(log_p, q, reduction="batchmean") * temperature**2


class ICaRLDistillationPlugin(PreviousModelDistillation):
    """Adds beta * KD(old logits, current logits on old classes) from the second experience on."""

    needs_features = False  # works on the logits the strategy already has

    def __init__(self, temperature: float = 2.0, beta: float = 0.25) -> None:
        super().__init__()
        self.temperature = check_real("temperature", temperature, low=0, low_open=True)
        self.beta = check_real("beta", beta, low=0)

    def distillation_loss(self, strategy, features: Tensor | None) -> Tensor:
        with torch.no_grad():
            old_logits = self.old_model(strategy.mb_x)
        return self.beta * icarl_kd_loss(strategy.mb_output, old_logits, self.temperature)


__all__ = ["ICaRLDistillationPlugin", "icarl_kd_loss"]
