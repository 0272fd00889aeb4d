"""Parts every method shares: the benchmark's backbone, a feature-extractor + classifier model,
the preset's SGD and its per-phase lr schedule."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from .registry import Settings


def in_channels(bench: Any) -> int:
    return int(bench.input_shape[0])


def make_backbone(bench: Any, name: str | None = None):
    """The benchmark's backbone (same architecture for every method); on the batched input
    path its first layer normalises the raw images."""
    from aanets_avalanche.models import build_backbone
    normalization = getattr(bench, "normalization", None)
    input_norm = None
    if normalization is not None:
        from aanets_avalanche.augment import InputNormalization
        input_norm = InputNormalization(*normalization)
    return build_backbone(name or bench.backbone, in_channels(bench), input_norm=input_norm,
                          input_side=int(bench.input_shape[-1]))


def batch_augmentation(cfg: Settings, bench: Any):
    """The stream's per-mini-batch augmentation plus the preset's ColorJitter brightness
    (``data.color_jitter``); None on the per-sample path, where the datasets augment."""
    augmentation = getattr(bench, "augmentation", None)
    jitter = float(getattr(cfg, "color_jitter", 0.0) or 0.0)
    if augmentation is None or not jitter:
        return augmentation
    import dataclasses
    return dataclasses.replace(augmentation, brightness=jitter)


def augmentation_plugins(cfg: Settings, bench: Any) -> list[Any]:
    """The batched path's per-mini-batch augmentation, as a plugin any strategy can take."""
    augmentation = batch_augmentation(cfg, bench)
    if augmentation is None:
        return []
    from aanets_avalanche.augment import BatchAugmentPlugin
    return [BatchAugmentPlugin(augmentation)]


class FeatureClassifier(nn.Module):
    """feature_extractor -> classifier: the shape Avalanche's strategies expect (module level so
    checkpoints can pickle it)."""

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


def feature_classifier(bench: Any, *, incremental: bool) -> FeatureClassifier:
    """Backbone + linear head; the head grows with the classes (IncrementalClassifier) or is
    full-size from the start (for strategies that need fixed-size logits, e.g. DER)."""
    from avalanche.models import IncrementalClassifier

    backbone = make_backbone(bench)
    head = (IncrementalClassifier(backbone.out_dim, initial_out_features=2) if incremental
            else nn.Linear(backbone.out_dim, bench.num_classes))
    return FeatureClassifier(backbone, head)


def sgd(cfg: Settings, params):
    import torch
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def schedule(cfg: Settings, optimizer):
    """Per-phase MultiStepLR (or cosine annealing over the phase's epochs, as the preset says),
    stepped at the end of each epoch, reset at each phase."""
    import torch
    from avalanche.training.plugins import LRSchedulerPlugin
    if cfg.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.lr_milestones),
                                                     gamma=cfg.lr_gamma)
    return LRSchedulerPlugin(sched, reset_scheduler=True, reset_lr=True, step_granularity="epoch")


def common_kwargs(cfg: Settings, device, evaluator) -> dict[str, Any]:
    return dict(train_mb_size=cfg.batch_size, train_epochs=cfg.epochs,
                eval_mb_size=cfg.eval_batch_size, device=device, evaluator=evaluator)


def baseline(cls, cfg, bench, device, evaluator, *, incremental=True, extra_plugins=(),
             criterion=None, **kw):
    """An Avalanche strategy ``cls`` on the benchmark's network with the preset's SGD and
    schedule; ``criterion`` defaults to cross-entropy over all logits."""
    model = feature_classifier(bench, incremental=incremental)
    opt = sgd(cfg, model.parameters())
    plugins = [*augmentation_plugins(cfg, bench), schedule(cfg, opt), *extra_plugins]
    return cls(model=model, optimizer=opt,
               criterion=nn.CrossEntropyLoss() if criterion is None else criterion,
               plugins=plugins, **common_kwargs(cfg, device, evaluator), **kw)
