"""What AANetsStrategy and PODNetStrategy share as Avalanche SupervisedTemplates: growing the
network at a new experience (two branches from the first incremental one, new classes imprinted
from current features), a per-experience lr scheduler stepped at the end of every epoch,
DataLoader workers, and mixed precision on CUDA.

A class using it lists this mixin before SupervisedTemplate, sets ``branch_mode``,
``num_workers``, ``use_amp``, ``grad_scaler`` (a torch.amp.GradScaler) and ``lr_scheduler`` (or
None), has a model with ``.backbone`` and ``.classifier`` (``num_classes``, ``add_classes(n,
init)``) and implements ``imprinted_weights``.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor, nn

from .features import extract_features
from .models import AggregatedBackbone


class ClassIncrementalParts:
    """Mixin for a SupervisedTemplate subclass (see the module docstring)."""

    def model_adaptation(self, model: nn.Module | None = None) -> nn.Module:
        """At a new training experience: build the two-branch network (first incremental
        experience, unless branch_mode is "single"), then add the new classes: the classifier's
        own initialisation in the first experience, ``imprinted_weights`` afterwards."""
        model = self.model if model is None else model
        if not self.is_training:
            return model.to(self.device)
        classifier = model.classifier
        num_old = classifier.num_classes
        new_classes = self.arriving_classes(num_old)
        if not new_classes:
            return model.to(self.device)  # classes already known: nothing to grow
        model.to(self.device)
        if num_old == 0:
            classifier.add_classes(len(new_classes))
            return model
        if self.branch_mode != "single" and not isinstance(model.backbone, AggregatedBackbone):
            model.backbone = AggregatedBackbone(model.backbone, mode=self.branch_mode)
        feats, labels = extract_features(
            model, self.experience.dataset.eval(), batch_size=self.eval_mb_size, device=self.device,
            num_workers=self.num_workers,
        )
        weights = self.imprinted_weights([feats[labels == c] for c in new_classes], new_classes)
        classifier.add_classes(len(new_classes), weights.to(self.device))
        return model

    @abstractmethod
    def imprinted_weights(self, class_features: list[Tensor], new_classes: list[int]) -> Tensor:
        """Classifier weights for the new classes from their current features (one tensor per
        class, un-augmented training images)."""

    def aggregation_weights(self) -> list[float] | None:
        """The a_k of each level (None while the network is a single branch)."""
        backbone = self.model.backbone
        return backbone.aggregation_weights() if isinstance(backbone, AggregatedBackbone) else None

    def arriving_classes(self, num_known: int) -> list[int]:
        """Labels of the current experience not seen before ([] if it brings none); they must
        be num_known, num_known + 1, ... (labels renumbered in arrival order)."""
        new_classes = sorted(int(c) for c in self.experience.classes_in_this_experience)
        if all(c < num_known for c in new_classes):
            return []
        expected = list(range(num_known, num_known + len(new_classes)))
        if new_classes != expected:
            raise ValueError(
                f"{type(self).__name__} expects the experience's labels to be {expected[0]}..{expected[-1]} "
                f"(contiguous, in arrival order) but got {new_classes}; build the benchmark with "
                "class_ids_from_zero_from_first_exp=True"
            )
        return new_classes

    step_lr_at_epoch_end = True  # a subclass may step its scheduler elsewhere

    def _after_training_epoch(self, **kwargs) -> None:
        super()._after_training_epoch(**kwargs)
        if self.lr_scheduler is not None and self.step_lr_at_epoch_end:
            self.lr_scheduler.step()  # end of epoch, standard PyTorch practice

    def make_train_dataloader(self, num_workers: int | None = None, **kwargs) -> None:
        workers = self.num_workers if num_workers is None else num_workers
        super().make_train_dataloader(num_workers=workers, **kwargs)

    def make_eval_dataloader(self, num_workers: int | None = None, **kwargs) -> None:
        workers = self.num_workers if num_workers is None else num_workers
        super().make_eval_dataloader(num_workers=workers, **kwargs)

    # -- mixed precision (CUDA only) --------------------------------------------------------
    def forward(self):
        with torch.autocast(device_type=self.device.type, enabled=self.use_amp):
            return super().forward()

    def backward(self) -> None:
        self.grad_scaler.scale(self.loss).backward(retain_graph=self.retain_graph)

    def optimizer_step(self) -> None:
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()


__all__ = ["ClassIncrementalParts"]
