"""AANetsStrategy: an Avalanche SupervisedTemplate that assembles the AANets model and plugins."""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import torch
from avalanche.core import BasePlugin
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import Tensor, nn

from .augment import BatchAugmentPlugin
from .contract import AANetsModel, require_aanets_model
from .models import BRANCH_MODES, AggregatedBackbone
from .plugins import (
    AggregationUpdatePlugin,
    HerdingMemoryPlugin,
    ICaRLDistillationPlugin,
    LUCIRDistillationPlugin,
)
from .precision import resolve_amp
from .template_parts import ClassIncrementalParts
from .validation import (check_int, check_milestones, check_optional_real, check_real,
                         memory_budget)

FLAVOURS = ("lucir", "icarl")
LR_SCHEDULES = ("multistep", "cosine")


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

    Memory: ``memory_per_class`` exemplars per class (20 when neither is given) or a fixed
    ``memory_total`` shared by all classes seen. Every numeric argument is checked here (finite,
    in range) and a bad one raises ValueError naming it.

    ``lr`` applies to every level-1 parameter group; ``stable_lr`` / ``plastic_lr`` override it
    for one branch of the aggregated network (0 freezes that branch, the reference's "fixed").
    ``lr_schedule`` is "multistep" (``lr_milestones``) or "cosine" (over ``train_epochs``, the
    reference's ImageNet level 1); level 2 uses ``fusion_milestones`` (None = ``lr_milestones``).
    ``balanced_per_class`` fixes the new-class draws of the level-2 balanced set.

    ``reference_quirks=True`` reproduces the reference code where we deliberately differ: lr
    schedulers stepped at the start of each epoch; in the LUCIR flavour the a_k gradient never
    zeroed; the level-2 set iterated unshuffled, new draws first; herding with Welling's update
    and its iteration cap; the NME "flip" reversing colour channels (``nme_flip`` overrides:
    "horizontal", "channels" or "none"). See docs/reproduce-paper.md.

    Speed switches, none of which changes the algorithm: ``num_workers`` (DataLoader workers),
    ``use_amp`` (bf16 autocast on CUDA or CPU: True, False or "auto" = bf16 where the device
    computes it natively; the resolved choice is ``use_amp``, named by ``precision``; see
    precision.py), ``compile_model`` (torch.compile),
    ``channels_last`` (NHWC convolutions, faster with oneDNN on the CPU), ``fused_branches``
    (both branches of a level as one grouped network); see docs/speed.md.

    Experiences must carry contiguous labels in arrival order (label k = k-th class seen), as
    nc_benchmark gives with ``class_ids_from_zero_from_first_exp=True``.
    """

    def __init__(
        self,
        *,
        model: AANetsModel,
        flavour: str = "lucir",
        branch_mode: str = "aanets",
        lr: float = 0.1,
        stable_lr: float | None = None,
        plastic_lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        train_epochs: int = 160,
        lr_schedule: str = "multistep",
        lr_milestones: Sequence[int] = (80, 120),
        lr_gamma: float = 0.1,
        train_mb_size: int = 128,
        eval_mb_size: int = 100,
        memory_per_class: int | None = None,
        memory_total: int | None = None,
        lambda_base: float = 5.0,
        margin: float = 0.5,
        ranking_k: int = 2,
        ranking_weight: float = 1.0,
        kd_temperature: float = 2.0,
        kd_beta: float = 0.25,
        fusion_lr: float = 1e-8,
        fusion_milestones: Sequence[int] | None = None,
        balanced_per_class: int | None = None,
        reference_quirks: bool = False,
        nme_flip: str | None = None,
        device: str | torch.device | None = None,
        evaluator: EvaluationPlugin | Callable[[], EvaluationPlugin] = default_aanets_evaluator,
        plugins: Sequence[BasePlugin] | None = None,
        eval_every: int = -1,
        num_workers: int = 0,
        use_amp: bool | str = False,
        batch_augmentation: Callable[[Tensor], Tensor] | None = None,
        fused_branches: bool = False,
        compile_model: bool = False,
        channels_last: bool = False,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if branch_mode not in BRANCH_MODES:
            raise ValueError(f"branch_mode must be one of {BRANCH_MODES}, got {branch_mode!r}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        lr = check_real("lr", lr, low=0)
        stable_lr = check_optional_real("stable_lr", stable_lr, low=0)
        plastic_lr = check_optional_real("plastic_lr", plastic_lr, low=0)
        momentum = check_real("momentum", momentum, low=0, high=1, high_open=True)
        weight_decay = check_real("weight_decay", weight_decay, low=0)
        train_epochs = check_int("train_epochs", train_epochs, low=1)
        lr_milestones = check_milestones("lr_milestones", lr_milestones)
        lr_gamma = check_real("lr_gamma", lr_gamma, low=0, low_open=True)
        train_mb_size = check_int("train_mb_size", train_mb_size, low=1)
        eval_mb_size = check_int("eval_mb_size", eval_mb_size, low=1)
        memory_per_class, memory_total = memory_budget(memory_per_class, memory_total)
        eval_every = check_int("eval_every", eval_every, low=-1)
        num_workers = check_int("num_workers", num_workers, low=0)
        # checked here under the strategy's names even when this flavour does not use them
        lambda_base = check_real("lambda_base", lambda_base, low=0)
        margin = check_real("margin", margin, low=0)
        ranking_k = check_int("ranking_k", ranking_k, low=1)
        ranking_weight = check_real("ranking_weight", ranking_weight, low=0)
        kd_temperature = check_real("kd_temperature", kd_temperature, low=0, low_open=True)
        kd_beta = check_real("kd_beta", kd_beta, low=0)
        fusion_lr = check_real("fusion_lr", fusion_lr, low=0)
        if fusion_milestones is not None:
            fusion_milestones = check_milestones("fusion_milestones", fusion_milestones)
        if balanced_per_class is not None:
            balanced_per_class = check_int("balanced_per_class", balanced_per_class, low=1)
        require_aanets_model(model, "AANetsStrategy", levelled=branch_mode != "single")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.lr_schedule = lr_schedule
        self.reference_quirks = bool(reference_quirks)
        self.flavour = flavour
        self.branch_mode = branch_mode
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.stable_lr, self.plastic_lr = stable_lr, plastic_lr
        self.lr_milestones, self.lr_gamma = list(lr_milestones), lr_gamma
        self.num_workers = num_workers
        self.use_amp = resolve_amp(use_amp, device)  # the resolved bool; .precision names it
        self.fused_branches = fused_branches
        self.compile_model = compile_model
        self.channels_last = bool(channels_last)

        self.memory = HerdingMemoryPlugin(
            memory_per_class, memory_total, batch_size=eval_mb_size, num_workers=num_workers,
            herding="reference" if reference_quirks else "greedy",
            nme_flip=nme_flip or ("channels" if reference_quirks else "horizontal"),
        )
        if flavour == "lucir":
            self.distillation: BasePlugin = LUCIRDistillationPlugin(lambda_base, margin, ranking_k, ranking_weight)
        else:
            self.distillation = ICaRLDistillationPlugin(kd_temperature, kd_beta)
        own: list[BasePlugin] = [self.memory, self.distillation]
        if batch_augmentation is not None:
            own.insert(0, BatchAugmentPlugin(batch_augmentation))
        self.aggregation: AggregationUpdatePlugin | None = None
        if branch_mode == "aanets":
            self.aggregation = AggregationUpdatePlugin(
                memory=self.memory, fusion_lr=fusion_lr, momentum=momentum,
                weight_decay=weight_decay, milestones=fusion_milestones, gamma=lr_gamma,
                batch_size=eval_mb_size, num_workers=num_workers,
                new_per_class=balanced_per_class, step_at_epoch_start=reference_quirks,
                accumulate_grad=reference_quirks and flavour == "lucir",
                reference_loader=reference_quirks,
                augmentation=batch_augmentation, use_amp=self.use_amp,
            )
            own.append(self.aggregation)
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
        """A fresh SGD over the level-1 parameter groups and a fresh scheduler, per experience."""
        self.optimizer = torch.optim.SGD(self.parameter_groups(), lr=self.lr, momentum=self.momentum,
                                         weight_decay=self.weight_decay)
        if self.lr_schedule == "cosine":
            self.lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=self.train_epochs)
        else:
            self.lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(
                self.optimizer, self.lr_milestones, self.lr_gamma)

    def _before_training_epoch(self, **kwargs) -> None:
        if self.reference_quirks and self.lr_scheduler is not None:
            with warnings.catch_warnings():  # torch warns: step() before optimizer.step()
                warnings.simplefilter("ignore", UserWarning)
                self.lr_scheduler.step()  # the reference: start of epoch, decays one epoch early
        super()._before_training_epoch(**kwargs)

    @property
    def step_lr_at_epoch_end(self) -> bool:
        """With ``reference_quirks`` the scheduler steps at the start of each epoch instead."""
        return not self.reference_quirks


__all__ = ["AANetsStrategy", "FLAVOURS", "LR_SCHEDULES", "default_aanets_evaluator"]
