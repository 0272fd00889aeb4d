"""AANetsStrategy: an Avalanche SupervisedTemplate that assembles the AANets model and plugins."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from avalanche.core import BasePlugin
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import Tensor, nn

from .models import BRANCH_MODES, AggregatedBackbone, CosineIncrementalNet
from .plugins import (
    AggregationUpdatePlugin,
    HerdingMemoryPlugin,
    ICaRLDistillationPlugin,
    LUCIRDistillationPlugin,
)
from .template_parts import ClassIncrementalParts

FLAVOURS = ("lucir", "icarl")


def default_aanets_evaluator() -> EvaluationPlugin:
    """CNN and NME accuracy on every evaluated stream, printed by Avalanche's text logger."""
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.logging import InteractiveLogger

    from .metrics import nme_accuracy_metrics

    return EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True),
        nme_accuracy_metrics(experience=True, stream=True),
        loggers=[InteractiveLogger()],
    )


class AANetsStrategy(ClassIncrementalParts, SupervisedTemplate):
    """Class-incremental learning with Adaptive Aggregation Networks (Liu et al., CVPR 2021).

    ``flavour`` picks the base method the aggregation is applied to ("lucir" or "icarl");
    ``branch_mode`` picks the network: "aanets" (stable + plastic blocks, a_k learned by the
    level-2 update), "single" (one plain network: LUCIR or iCaRL without AANets) or
    "dual-free" (two plastic blocks mixed 0.5/0.5, the reference's ablation).

    ``lr`` applies to every level-1 parameter group; ``stable_lr`` / ``plastic_lr`` override it
    for one branch of the aggregated network (0 freezes that branch, the reference's "fixed").

    Experiences must carry contiguous labels in arrival order (label k = k-th class seen), as
    nc_benchmark gives with ``class_ids_from_zero_from_first_exp=True``.
    """

    def __init__(
        self,
        *,
        model: CosineIncrementalNet,
        flavour: str = "lucir",
        branch_mode: str = "aanets",
        lr: float = 0.1,
        stable_lr: float | None = None,
        plastic_lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        train_epochs: int = 160,
        lr_milestones: Sequence[int] = (80, 120),
        lr_gamma: float = 0.1,
        train_mb_size: int = 128,
        eval_mb_size: int = 100,
        memory_per_class: int | None = 20,
        memory_total: int | None = None,
        lambda_base: float = 5.0,
        margin: float = 0.5,
        ranking_k: int = 2,
        ranking_weight: float = 1.0,
        kd_temperature: float = 2.0,
        kd_beta: float = 0.25,
        fusion_lr: float = 1e-8,
        device: str | torch.device | None = None,
        evaluator: EvaluationPlugin | Callable[[], EvaluationPlugin] = default_aanets_evaluator,
        plugins: Sequence[BasePlugin] | None = None,
        eval_every: int = -1,
        num_workers: int = 0,
        use_amp: bool = False,
    ) -> None:
        if not isinstance(model, CosineIncrementalNet):
            raise TypeError("AANetsStrategy needs a CosineIncrementalNet (backbone + cosine classifier)")
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if branch_mode not in BRANCH_MODES:
            raise ValueError(f"branch_mode must be one of {BRANCH_MODES}, got {branch_mode!r}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.flavour = flavour
        self.branch_mode = branch_mode
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.stable_lr, self.plastic_lr = stable_lr, plastic_lr
        self.lr_milestones, self.lr_gamma = list(lr_milestones), lr_gamma
        self.num_workers = num_workers
        self.use_amp = bool(use_amp) and torch.device(device).type == "cuda"
        self.grad_scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        self.memory = HerdingMemoryPlugin(memory_per_class, memory_total, batch_size=eval_mb_size,
                                          num_workers=num_workers)
        if flavour == "lucir":
            self.distillation: BasePlugin = LUCIRDistillationPlugin(lambda_base, margin, ranking_k, ranking_weight)
        else:
            self.distillation = ICaRLDistillationPlugin(kd_temperature, kd_beta)
        own: list[BasePlugin] = [self.memory, self.distillation]
        if branch_mode == "aanets":
            own.append(AggregationUpdatePlugin(
                memory=self.memory, fusion_lr=fusion_lr, momentum=momentum,
                weight_decay=weight_decay, milestones=None, gamma=lr_gamma,
                batch_size=eval_mb_size, num_workers=num_workers,
            ))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)  # rebuilt per experience
        super().__init__(
            model=model, optimizer=optimizer, criterion=nn.CrossEntropyLoss(),
            train_mb_size=train_mb_size, train_epochs=train_epochs, eval_mb_size=eval_mb_size,
            device=device, plugins=[*own, *(plugins or [])], evaluator=evaluator, eval_every=eval_every,
        )
        self.optimized_param_id = {}  # we build the optimizer ourselves in make_optimizer
        self.lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    # -- model growth ------------------------------------------------------------------------
    def imprinted_weights(self, class_features: list[Tensor], new_classes: list[int]) -> Tensor:
        """Cosine weights: normalised mean feature of each class, at the existing weights' norm."""
        return self.model.classifier.imprint_weights(class_features)

    # -- optimisation -----------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        """Level-1 parameter groups, named, each with its own learning rate.

        Stable branch (kernel scales + BN), plastic branch and classifier (new class weights +
        sigma), as in the reference; old class weights and stable kernels are buffers and the
        a_k are left out (the level-2 plugin owns them), so nothing frozen can move.
        """
        model = self.model
        backbone = model.backbone
        if isinstance(backbone, AggregatedBackbone):
            parts = [("stable", backbone.stable_levels, self.stable_lr),
                     ("plastic", backbone.plastic_levels, self.plastic_lr)]
        else:
            parts = [("backbone", backbone, self.lr)]
        parts.append(("classifier", model.classifier, self.lr))
        return [
            {"name": name, "params": [p for p in module.parameters() if p.requires_grad],
             "lr": self.lr if lr is None else lr}
            for name, module, lr in parts
        ]

    def make_optimizer(self, **kwargs) -> None:
        """A fresh SGD over the level-1 parameter groups and a fresh MultiStepLR, per experience."""
        self.optimizer = torch.optim.SGD(self.parameter_groups(), lr=self.lr, momentum=self.momentum,
                                         weight_decay=self.weight_decay)
        self.lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, self.lr_milestones, self.lr_gamma
        )



__all__ = ["AANetsStrategy", "FLAVOURS", "default_aanets_evaluator"]
