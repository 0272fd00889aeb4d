"""Parts every method shares: the benchmark's backbone, a feature-extractor + classifier model,
the preset's SGD and its per-phase lr schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch.nn as nn

if TYPE_CHECKING:  # pragma: no cover
    from benchmarks.config import RunConfig


def in_channels(bench: Any) -> int:
    return int(bench.input_shape[0])


def make_backbone(bench: Any):
    """The benchmark's backbone (same architecture for every method)."""
    from aanets_avalanche.models import build_backbone
    return build_backbone(bench.backbone, in_channels(bench))


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


def sgd(cfg: "RunConfig", params):
    import torch
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def schedule(cfg: "RunConfig", optimizer):
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


def common_kwargs(cfg: "RunConfig", device, evaluator) -> dict[str, Any]:
    return dict(train_mb_size=cfg.batch_size, train_epochs=cfg.epochs,
                eval_mb_size=cfg.eval_batch_size, device=device, evaluator=evaluator)


def baseline(cls, cfg, bench, device, evaluator, *, incremental=True, extra_plugins=(), **kw):
    model = feature_classifier(bench, incremental=incremental)
    opt = sgd(cfg, model.parameters())
    plugins = [schedule(cfg, opt), *extra_plugins]
    return cls(model=model, optimizer=opt, criterion=nn.CrossEntropyLoss(), plugins=plugins,
               **common_kwargs(cfg, device, evaluator), **kw)
