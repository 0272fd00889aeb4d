"""The frozen copy of the network at the end of the previous experience (the "old model")."""

from __future__ import annotations

from abc import abstractmethod

from avalanche.core import SupervisedPlugin
from torch import Tensor, nn

from ..contract import require_feature_model
from ..models import folded_copy
from ..features import ClassifierInputCapture, classifier_num_classes


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with no trainable parameter, its BatchNorm layers folded into
    the convolutions before them (it runs on every training batch and never trains again)."""
    return folded_copy(model)


class PreviousModelDistillation(SupervisedPlugin):
    """Base for distillation plugins: snapshots the model after each experience and captures the
    current feature of every training forward pass (no second backbone pass) for subclasses
    whose loss needs it (``needs_features``)."""

    needs_features = True

    def __init__(self) -> None:
        super().__init__()
        self.old_model: nn.Module | None = None
        self.num_old_classes = 0
        self.capture = ClassifierInputCapture()

    def before_training(self, strategy, **kwargs) -> None:
        require_feature_model(strategy.model, type(self).__name__)

    def before_training_exp(self, strategy, **kwargs) -> None:
        if self.needs_features:
            self.capture.attach(strategy.model)

    def after_training_exp(self, strategy, **kwargs) -> None:
        self.capture.detach()
        self.old_model = frozen_copy(strategy.model)
        self.num_old_classes = classifier_num_classes(strategy.model.classifier)

    def before_backward(self, strategy, **kwargs) -> None:
        if self.old_model is None:
            return
        if self.needs_features and self.capture.features is None:
            raise RuntimeError(f"{type(self).__name__}: no feature captured; the model needs a .classifier")
        strategy.loss = strategy.loss + self.distillation_loss(strategy, self.capture.features)

    @abstractmethod
    def distillation_loss(self, strategy, features: Tensor | None) -> Tensor:
        """The term added to the loss; ``features`` is the batch's captured feature (None when
        the subclass sets ``needs_features = False``)."""


__all__ = ["PreviousModelDistillation", "frozen_copy"]
