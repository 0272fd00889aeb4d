"""Avalanche's EWC penalty with a bounded Fisher, so the baseline trains instead of diverging.

Avalanche 0.6.0's ``EWCPlugin`` estimates the Fisher diagonal with the network in eval mode and
never bounds it. In class-incremental streams whose phases bring one or a few classes, the
BatchNorm running statistics lag behind the weights after a phase, the eval-mode loss on the
phase's own data is large (measured: cross-entropy 98 in eval mode against 0.19 in train mode
at the end of a 1-class Split-Digits phase), and so are its squared gradients (importances up to
3e3). The penalty's curvature, 2 * lambda * F, then exceeds what SGD at lr 0.1 can follow: the
penalty reached 1e16 and the loss NaN one phase later. Every ``ewc`` row made before this module
came from such a diverged run.

PyCIL's EWC (G-U-N/PyCIL, models/ewc.py), a standard class-incremental toolkit, estimates the
Fisher in train mode and clamps it at 1e-4 (``fishermax``), with lambda 1000 on a penalty that
carries a 1/2. This plugin does the same inside Avalanche's EWC: the penalty, the ``separate``
/ ``online`` modes and the bookkeeping stay Avalanche's; only the importance estimate changes.
BatchNorm running statistics are restored after the estimate, so it leaves the model as trained.

``mode="pycil"`` also keeps PyCIL's single penalty: after each phase the new Fisher is merged
into the old one, ``F = a * F_old + (1 - a) * F_new`` on the entries both have (the head rows of
new classes keep ``F_new``), with ``a = known / total`` classes, and anchored at the weights the
phase ended with. Avalanche's ``separate`` keeps one Fisher and one anchor per phase, ``online``
sums Fishers with a fixed decay. PyCIL's classification loss (the new classes' logits only) is
new_classes.py's criterion; its Fisher uses plain cross-entropy over all logits, which that
criterion gives outside training epochs.
"""

from __future__ import annotations

from typing import Any

import torch
from avalanche.models.utils import avalanche_forward
from avalanche.training.plugins import EWCPlugin
from avalanche.training.utils import ParamData, zerolike_params_dict
from torch.utils.data import DataLoader

PYCIL_FISHER_MAX = 1e-4
PYCIL_LAMBDA = 500.0  # PyCIL's 1000 on a penalty halved; Avalanche's penalty has no 1/2


class BoundedFisherEWCPlugin(EWCPlugin):
    """EWC whose importances are train-mode squared gradients clamped at ``fisher_max``."""

    def __init__(self, ewc_lambda: float, mode: str = "separate", decay_factor: float | None = None,
                 keep_importance_data: bool = False, fisher_max: float = PYCIL_FISHER_MAX):
        pycil = mode == "pycil"
        super().__init__(ewc_lambda, mode="separate" if pycil else mode, decay_factor=decay_factor,
                         keep_importance_data=keep_importance_data)
        if pycil:  # one merged Fisher and one anchor, the last phase's
            self.mode, self.keep_importance_data = "pycil", False
        if not fisher_max > 0:
            raise ValueError(f"fisher_max must be > 0, got {fisher_max}")
        self.fisher_max = float(fisher_max)
        self.known_classes = 0  # classes of the phases before the current one
        self.seen_classes = 0   # ... and with it

    def before_training_exp(self, strategy, **kwargs) -> None:
        classes = [int(c) for c in strategy.experience.classes_in_this_experience]
        self.known_classes = self.seen_classes
        self.seen_classes = max([self.seen_classes, *(c + 1 for c in classes)])

    def before_backward(self, strategy, **kwargs) -> None:
        if self.mode != "pycil":
            return super().before_backward(strategy, **kwargs)
        previous = strategy.clock.train_exp_counter - 1
        if previous < 0:
            return
        saved, importances = self.saved_params[previous], self.importances[previous]
        penalty = torch.zeros((), device=strategy.device)
        for name, param in strategy.model.named_parameters():
            if name not in saved:  # a parameter born after the anchor: no penalty
                continue
            shape = param.shape
            penalty = penalty + (importances[name].expand(shape)
                                 * (param - saved[name].expand(shape)).pow(2)).sum()
        strategy.loss += self.ewc_lambda * penalty

    @torch.no_grad()
    def update_importances(self, importances, t: int) -> None:
        if self.mode != "pycil":
            return super().update_importances(importances, t)
        old = self.importances.get(t - 1) if t > 0 else None
        if old:
            weight = self.known_classes / max(self.seen_classes, 1)  # PyCIL's alpha
            for name, new in importances.items():
                if name not in old:
                    continue
                region = tuple(slice(0, size) for size in old[name].shape)
                merged = new.data.clone()
                merged[region] = weight * old[name].data + (1 - weight) * new.data[region]
                importances[name] = ParamData(new.name, merged.shape, init_tensor=merged,
                                              device=merged.device)
            del self.importances[t - 1]
        self.importances[t] = importances

    def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size,
                            num_workers=0) -> dict[str, Any]:
        importances = zerolike_params_dict(model)
        buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        was_training = model.training
        model.train()  # the BatchNorm statistics the model was trained with, as PyCIL
        collate_fn = getattr(dataset, "collate_fn", None)
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_fn,
                            num_workers=num_workers)
        try:
            for batch in loader:
                x, y, task_labels = batch[0].to(device), batch[1].to(device), batch[-1]
                model.zero_grad(set_to_none=True)
                criterion(avalanche_forward(model, x, task_labels), y).backward()
                for (_, param), imp in zip(model.named_parameters(), importances.values()):
                    if param.grad is not None:
                        imp.data += param.grad.detach().pow(2)
        finally:
            with torch.no_grad():  # undo the running-statistics updates of the passes above
                for name, buffer in model.named_buffers():
                    buffer.copy_(buffers[name])
            model.zero_grad(set_to_none=True)
            model.train(was_training)
        for imp in importances.values():
            imp.data = (imp.data / max(len(loader), 1)).clamp_(max=self.fisher_max)
        return importances


__all__ = ["BoundedFisherEWCPlugin", "PYCIL_FISHER_MAX", "PYCIL_LAMBDA"]
