"""The classification loss PyCIL gives its exemplar-free methods (G-U-N/PyCIL models/lwf.py and
models/ewc.py, ``_update_representation``): from the second phase on, cross-entropy over the
logits of the classes new in the phase only, labels shifted by the number of classes known
before it; the first phase uses all logits (nothing is known yet).

With one new class per phase this loss is identically zero (a softmax over one logit): such a
phase teaches the network nothing about its class, and only the method's own term (LwF's
distillation, EWC's penalty) and weight decay move the weights. Plain cross-entropy over all
logits is no better there: without old data it drives every output to the one class present
(what ``naive`` shows).
"""

from __future__ import annotations

import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from torch import Tensor


class NewClassesCrossEntropy(SupervisedPlugin):
    """A criterion (``Naive(criterion=...)``) that is also a plugin (Avalanche adds it to the
    strategy's plugins): it counts the classes of the finished phases and, while a training epoch
    runs, scores only the logits after them. Outside training (evaluation, importance passes)
    it is plain cross-entropy. Labels must be numbered in order of appearance (label k = k-th
    class seen), as every harness stream is."""

    def __init__(self) -> None:
        super().__init__()
        self.known_classes = 0  # classes of the phases before the current one
        self.seen_classes = 0   # classes of all phases trained so far (current one included)
        self.active = False     # inside a training epoch

    def before_training_exp(self, strategy, **kwargs) -> None:
        classes = [int(c) for c in strategy.experience.classes_in_this_experience]
        if classes and min(classes) < self.seen_classes:
            raise ValueError(
                f"NewClassesCrossEntropy needs each phase's labels after the earlier phases' "
                f"(label k = k-th class seen); this phase has {sorted(classes)} after "
                f"{self.seen_classes} known classes")
        self.known_classes = self.seen_classes
        self.seen_classes = max([self.seen_classes, *(c + 1 for c in classes)])

    def before_training_epoch(self, strategy, **kwargs) -> None:
        self.active = True

    def after_training_epoch(self, strategy, **kwargs) -> None:
        self.active = False

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        known = self.known_classes if self.active else 0
        if known == 0:
            return F.cross_entropy(logits, targets)
        return F.cross_entropy(logits[:, known:], targets - known)


__all__ = ["NewClassesCrossEntropy"]
