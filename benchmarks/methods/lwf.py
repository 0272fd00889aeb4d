"""Learning without Forgetting for class-incremental learning as PyCIL runs it (G-U-N/PyCIL
models/lwf.py), as a plugin on Avalanche's ``Naive`` with the ``NewClassesCrossEntropy``
criterion (new_classes.py):

    loss = CE(logits of the new classes, y - known) + alpha * KD_T(logits of the old classes)

KD_T is PyCIL's ``_KD_loss``: the soft cross-entropy ``-sum softmax(z_old / T) *
log_softmax(z / T)`` over the classes known before the phase, averaged over the batch (no T^2),
between the current network's logits ``z`` and the logits ``z_old`` of a frozen copy of the
network as it ended the previous phase, in eval mode (PyCIL's ``copy().freeze()``), on the same
(augmented) batch. PyCIL's defaults: T = 2, alpha (its ``lamda``) = 3.

Avalanche 0.6.0's ``LwF`` differs in two ways that matter here: its cross-entropy covers all
logits, and its previous model is a copy left in training mode, so on the first iteration of a
phase (and on every iteration of a one-batch phase) teacher and student give the same outputs and
its KL penalty is zero (to rounding); its KL equals PyCIL's soft cross-entropy up to the teacher's
entropy (same gradient).
"""

from __future__ import annotations

import copy

import torch
from avalanche.core import SupervisedPlugin
from torch import Tensor


def kd_loss(logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """PyCIL's ``_KD_loss``: soft cross-entropy at temperature T, summed over classes, mean over
    the batch."""
    log_p = torch.log_softmax(logits / temperature, dim=1)
    q = torch.softmax(teacher_logits / temperature, dim=1)
    return -(q * log_p).sum() / logits.shape[0]


class LwFDistillationPlugin(SupervisedPlugin):
    """Adds ``alpha * kd_loss`` on the logits of the classes of earlier phases (label k = k-th
    class seen) from the second phase on; the teacher is frozen in eval mode."""

    def __init__(self, alpha: float = 3.0, temperature: float = 2.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.teacher: torch.nn.Module | None = None
        self.old_classes = 0  # classes the teacher knows
        self._seen = 0

    def penalty(self, x: Tensor, logits: Tensor) -> Tensor:
        """alpha * KD of the current logits against the teacher's on the same inputs."""
        assert self.teacher is not None
        with torch.no_grad():
            old = self.teacher(x)[:, : self.old_classes]
        return self.alpha * kd_loss(logits[:, : self.old_classes], old, self.temperature)

    def before_training_exp(self, strategy, **kwargs) -> None:
        classes = strategy.experience.classes_in_this_experience
        self._seen = max([self._seen, *(int(c) + 1 for c in classes)])

    def before_backward(self, strategy, **kwargs) -> None:
        if self.teacher is not None and self.old_classes > 0:
            strategy.loss += self.penalty(strategy.mb_x, strategy.mb_output)

    def after_training_exp(self, strategy, **kwargs) -> None:
        teacher = copy.deepcopy(strategy.model)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher
        self.old_classes = self._seen


__all__ = ["LwFDistillationPlugin", "kd_loss"]
