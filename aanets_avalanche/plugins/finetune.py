"""PODNet's balanced fine-tuning: after a phase's main training and herding, the classifier's
proxies (old and new classes) are trained alone on the exemplar memory, which holds the same
number of images for every class, to undo the bias towards the new classes.

Only the proxies move (the learned scale does not); the backbone is run without gradients. By
default the network stays in train mode, as in the reference, so BatchNorm running statistics
are re-estimated on exemplar batches (``bn_train_mode=False`` keeps them). Afterwards the NME
class means are recomputed, since the features may have changed with the BN statistics.
"""

from __future__ import annotations

from typing import Callable

import torch
from avalanche.core import SupervisedPlugin
from torch import Tensor
from torch.utils.data import DataLoader

from ..nca import nca_loss
from ..precision import resolve_amp
from ..validation import check_optional_real, check_real
from .herding import HerdingMemoryPlugin


def clamp_gradients_(parameters, bound: float | None) -> None:
    """Clip every gradient elementwise to [-bound, bound] (the reference's gradient hooks)."""
    if bound is None:
        return
    for p in parameters:
        if p.grad is not None:
            p.grad.clamp_(-bound, bound)


class BalancedFinetunePlugin(SupervisedPlugin):
    """Classifier-only fine-tuning on the memory after every experience but the first.

    Must come after ``memory`` in the strategy's plugin list (it needs this experience's
    exemplars) and before the plugin that snapshots the previous model.
    """

    def __init__(
        self,
        memory: HerdingMemoryPlugin,
        *,
        epochs: int = 20,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        batch_size: int = 128,
        margin: float = 0.0,
        grad_clip: float | None = 5.0,
        bn_train_mode: bool = True,
        num_workers: int = 0,
        augmentation: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        lr = check_real("finetune lr", lr, low=0)
        momentum = check_real("momentum", momentum, low=0, high=1, high_open=True)
        weight_decay = check_real("weight_decay", weight_decay, low=0)
        margin = check_real("nca_margin", margin, low=0)
        grad_clip = check_optional_real("grad_clip", grad_clip, low=0, low_open=True)
        self.memory = memory
        # on the batched input path the memory yields raw images: the level-1 batch
        # augmentation is applied here too, as the per-sample path's datasets would
        self.augmentation = augmentation
        self.epochs, self.lr, self.momentum, self.weight_decay = epochs, lr, momentum, weight_decay
        self.batch_size, self.margin, self.grad_clip = batch_size, margin, grad_clip
        self.bn_train_mode = bn_train_mode
        self.num_workers = num_workers

    def after_training_exp(self, strategy, **kwargs) -> None:
        classifier = strategy.model.classifier
        if self.epochs <= 0 or classifier.num_old_classes == 0:
            return
        data = self.memory.memory_dataset()
        if data is None:
            return
        # the strategy's precision: the backbone's forward in bf16 autocast with use_amp
        self.finetune(strategy.model, data, strategy.device, getattr(strategy, "use_amp", False))
        self.memory.update_class_means(strategy.model, strategy.device)

    def finetune(self, model, data, device, use_amp: bool | str = False) -> None:
        """``epochs`` passes over ``data`` training the proxies alone; with ``use_amp`` (True,
        False or "auto") the backbone runs in bf16 autocast, the classifier and loss in fp32."""
        classifier = model.classifier
        proxies = [classifier.old_proxies, classifier.new_proxies]
        was_training = model.training
        trainable_before = [p.requires_grad for p in proxies]
        for p in proxies:
            p.requires_grad_(True)
        optimizer = torch.optim.SGD(proxies, lr=self.lr, momentum=self.momentum,
                                    weight_decay=self.weight_decay)
        loader = DataLoader(data, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers)
        scale = classifier.scale.detach()
        device = torch.device(device)
        use_amp = resolve_amp(use_amp, device)
        model.train(self.bn_train_mode)
        try:
            for _ in range(self.epochs):
                for batch in loader:
                    x, y = batch[0].to(device), batch[1].to(device)
                    if self.augmentation is not None:
                        x = self.augmentation(x)
                    with torch.no_grad(), torch.autocast(device_type=device.type,
                                                         dtype=torch.bfloat16, enabled=use_amp):
                        features = model.features(x)
                    loss = nca_loss(classifier(features.float()), y, scale=scale, margin=self.margin)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    clamp_gradients_(proxies, self.grad_clip)
                    optimizer.step()
        finally:
            for p, trainable in zip(proxies, trainable_before):
                p.requires_grad_(trainable)
                p.grad = None
            model.train(was_training)


__all__ = ["BalancedFinetunePlugin", "clamp_gradients_"]
