"""Bias Correction (BiC; Wu et al., CVPR 2019) as its authors' code runs it
(wuyuebupt/LargeScaleIncrementalLearning, resnet.py and imagenet_main.py), as one plugin on
Avalanche's ``Naive`` with a growing linear head.

- Memory: a fixed total budget shared equally by the classes seen so far; each class's share is
  split into training exemplars (chosen by herding on the backbone's features, best first, so a
  smaller share keeps a prefix) and validation exemplars, ``val_percentage`` of the share (the
  authors' 9 : 1 split; both count towards the budget).
- Phase 0 is plain training on all of its data (cross-entropy): the run is Naive's, number for
  number; the bias layer is the identity until phase 1.
- Phase t >= 1, stage 1: the training set is the new classes' data minus the samples held out
  for validation (as many per new class as each old class keeps, so the validation set is
  balanced) plus the old classes' training exemplars, shuffled together. The loss is
  ``(1 - lambda) * CE(all logits) + lambda * KD``, ``lambda = n / (n + m)`` for n old and m new
  classes; KD is the soft cross-entropy at temperature T over the old classes' logits against a
  frozen copy of the previous network in eval mode, whose logits of the previous phase's classes
  pass through that phase's bias layer (from phase 2 on), as the authors' code does.
- Stage 2: a new bias layer ``alpha * z + beta`` on the new classes' logits only (alpha 1,
  beta 0 at the start) is the only thing trained, on the validation set (old classes'
  validation exemplars + the held-out new samples, no augmentation), with cross-entropy over all
  logits plus ``0.1 * beta^2 / 2``, SGD momentum 0.9, the lr divided by 10 at 30, 60, 80 and 90%
  of the stage-2 epochs. The network is frozen in eval mode, so its validation logits are
  computed once and stage 2 runs on them.
- Evaluation applies the last bias layer to the newest classes' logits.

Where it differs from the authors (they give the reasons in the reference note and
docs/baselines.md): the base classes' validation exemplars come from phase-0 data the network
was trained on (the authors hold a validation pool out of every class from the start, phase 0
included; we keep phase 0 identical to Naive); smaller shares keep a prefix of the herding order
(the authors re-run herding on the current features); stage 2 runs the network in eval mode (the
authors' estimator ran it with training-mode BatchNorm).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from avalanche.benchmarks.utils.utils import concat_datasets
from avalanche.core import SupervisedPlugin
from avalanche.models.bic_model import BiasLayer
from torch import Tensor

from aanets_avalanche.features import extract_features
from aanets_avalanche.plugins.herding import herding_order

from .lwf import kd_loss

STAGE_2_DECAYS = (0.3, 0.6, 0.8, 0.9)  # the authors' 30/60/80/90 (x2) of 100 (x2) epochs
BETA_L2 = 0.1                          # their 0.1 * tf.nn.l2_loss(gamma) = 0.1 * beta^2 / 2


def _indices(dataset: Any, cls: int) -> Tensor:
    return torch.as_tensor(list(dataset.targets.val_to_idx[cls]), dtype=torch.long)


class BiasCorrectionPlugin(SupervisedPlugin):
    """BiC (see the module docstring). ``mem_size``: total exemplars, validation included;
    ``distill_weight``: a fixed lambda instead of the old classes' share n / (n + m)."""

    def __init__(self, mem_size: int, val_percentage: float = 0.1, temperature: float = 2.0,
                 stage_2_epochs: int = 200, lr: float = 0.1, batch_size: int | None = None,
                 eval_batch_size: int = 100, distill_weight: float | None = None) -> None:
        super().__init__()
        if mem_size <= 0:
            raise ValueError(f"mem_size must be > 0, got {mem_size}")
        if not 0 < val_percentage < 1:
            raise ValueError(f"val_percentage must be in (0, 1), got {val_percentage}")
        self.mem_size = int(mem_size)
        self.val_percentage = float(val_percentage)
        self.temperature = float(temperature)
        self.stage_2_epochs = int(stage_2_epochs)
        self.lr = float(lr)
        self.batch_size = batch_size
        self.eval_batch_size = int(eval_batch_size)
        if distill_weight is not None and not 0 <= distill_weight <= 1:
            raise ValueError(f"distill_weight must be in [0, 1] or None, got {distill_weight}")
        self.distill_weight = distill_weight  # None: the authors' n / (n + m)
        self.exemplars: dict[int, Any] = {}   # class -> training exemplars (herding order)
        self.validation: dict[int, Any] = {}  # class -> validation exemplars
        # new class -> (held-out, trained) indices into this phase's dataset
        self.split: dict[int, tuple[Tensor, Tensor]] = {}
        self.new_classes: list[int] = []
        self.known_classes = 0                # classes of the earlier phases
        self.teacher: torch.nn.Module | None = None
        self.bias_layer: BiasLayer | None = None  # the last phase's, on its classes

    # ------------------------------------------------------------------ sizes

    def share(self, classes: int) -> tuple[int, int]:
        """(training, validation) exemplars per class when ``classes`` share the memory."""
        per_class = self.mem_size // max(classes, 1)
        val = max(1, math.floor(self.val_percentage * per_class))
        return max(per_class - val, 0), val

    # ------------------------------------------------------------------ stage 1

    def after_train_dataset_adaptation(self, strategy, **kwargs) -> None:
        classes = sorted(int(c) for c in strategy.experience.classes_in_this_experience)
        seen = sorted(set(self.exemplars) | set(self.validation))
        if classes and seen and min(classes) <= max(seen):
            raise ValueError(f"BiC needs each phase's labels after the earlier ones' (label k = "
                             f"k-th class seen); got {classes} after {seen}")
        self.new_classes = classes
        self.known_classes = len(seen)
        self.split = {}
        if self.known_classes == 0:
            return  # phase 0: all of the data, as Naive
        _, val = self.share(self.known_classes)
        data = strategy.adapted_dataset
        for cls in classes:
            index = _indices(data, cls)
            index = index[torch.randperm(len(index))]
            self.split[cls] = (index[:val], index[val:])
        keep = torch.cat([trained for _, trained in self.split.values()]).sort().values
        train = data.subset(keep.tolist())
        old = [self.exemplars[c].train() for c in sorted(self.exemplars) if len(self.exemplars[c])]
        strategy.adapted_dataset = concat_datasets([train, *old]) if old else train

    def before_backward(self, strategy, **kwargs) -> None:
        if self.teacher is None or self.known_classes == 0:
            return
        known, total = self.known_classes, self.known_classes + len(self.new_classes)
        with torch.no_grad():
            old = self.teacher(strategy.mb_x)
            if self.bias_layer is not None:  # the previous phase's correction of its classes
                old = self.bias_layer(old)
        distill = kd_loss(strategy.mb_output[:, :known], old[:, :known], self.temperature)
        weight = known / total if self.distill_weight is None else self.distill_weight
        strategy.loss = (1.0 - weight) * strategy.loss + weight * distill

    # ------------------------------------------------------------------ stage 2 + memory

    def after_training_exp(self, strategy, **kwargs) -> None:
        model = strategy.model
        if self.known_classes > 0:
            self.bias_layer = self.train_bias_layer(strategy)
        self.update_memory(strategy)
        teacher = copy.deepcopy(model)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher
        self.split = {}

    @torch.no_grad()
    def _logits(self, model: torch.nn.Module, dataset: Any, device) -> tuple[Tensor, Tensor]:
        was_training = model.training
        model.eval()
        try:
            loader = torch.utils.data.DataLoader(dataset, batch_size=self.eval_batch_size,
                                                 shuffle=False)
            outs, labels = [], []
            for batch in loader:
                outs.append(model(batch[0].to(device)).float())
                labels.append(torch.as_tensor(batch[1]).to(device))
        finally:
            model.train(was_training)
        return torch.cat(outs), torch.cat(labels).long()

    def train_bias_layer(self, strategy) -> BiasLayer:
        """Stage 2: fit alpha, beta of the new classes on the validation set."""
        device = strategy.device
        parts = [self.validation[c].eval() for c in sorted(self.validation)]
        data = strategy.experience.dataset
        parts += [data.subset(self.split[c][0].tolist()).eval() for c in sorted(self.split)]
        logits, labels = self._logits(strategy.model, concat_datasets(parts), device)
        layer = BiasLayer(self.new_classes).to(device)
        optimizer = torch.optim.SGD(layer.parameters(), lr=self.lr, momentum=0.9)
        decays = [int(f * self.stage_2_epochs) for f in STAGE_2_DECAYS]
        batch = int(self.batch_size or strategy.train_mb_size)
        n = labels.shape[0]
        with torch.enable_grad():
            for epoch in range(self.stage_2_epochs):
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * 0.1 ** sum(epoch >= d for d in decays)
                order = torch.randperm(n, device=device)
                for start in range(0, n, batch):
                    rows = order[start:start + batch]
                    loss = (F.cross_entropy(layer(logits[rows]), labels[rows])
                            + BETA_L2 * layer.beta.pow(2).sum() / 2)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
        layer.eval()
        for p in layer.parameters():
            p.requires_grad_(False)
        return layer

    def update_memory(self, strategy) -> None:
        """Shrink the old classes' shares, add the new classes' (herding for training
        exemplars; validation from the held-out samples, or at random in phase 0)."""
        total = self.known_classes + len(self.new_classes)
        train_n, val_n = self.share(total)
        for cls in list(self.exemplars):
            self.exemplars[cls] = self.exemplars[cls].subset(range(min(train_n, len(self.exemplars[cls]))))
            self.validation[cls] = self.validation[cls].subset(range(min(val_n, len(self.validation[cls]))))
        data = strategy.experience.dataset
        for cls in self.new_classes:
            if cls in self.split:  # phase >= 1: the held-out samples, never trained on
                held, trained = self.split[cls]
            else:  # phase 0: validation drawn at random from the phase's (trained) data
                index = _indices(data, cls)
                index = index[torch.randperm(len(index))]
                held, trained = index[:val_n], index[val_n:]
            self.validation[cls] = data.subset(held[:val_n].tolist())
            features, _ = extract_features(strategy.model, data.subset(trained.tolist()).eval(),
                                           batch_size=self.eval_batch_size, device=strategy.device)
            order = herding_order(features, train_n)
            self.exemplars[cls] = data.subset(trained[order].tolist())

    # ------------------------------------------------------------------ evaluation

    def after_eval_forward(self, strategy, **kwargs) -> None:
        if self.bias_layer is not None:
            strategy.mb_output = self.bias_layer(strategy.mb_output)


__all__ = ["BiasCorrectionPlugin"]
