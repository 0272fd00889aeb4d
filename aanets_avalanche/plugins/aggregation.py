"""Level-2 of the AANets bilevel optimisation: the aggregation weights a_k learn on a
class-balanced set, one pass after every level-1 epoch, with their own optimizer."""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.core import SupervisedPlugin
from torch import Tensor
from torch.utils.data import DataLoader

from ..models import AggregatedBackbone, folded_copy
from ..precision import check_amp, resolve_amp
from ..validation import check_int, check_milestones, check_real
from .herding import HerdingMemoryPlugin


class AggregationUpdatePlugin(SupervisedPlugin):
    """Updates only the a_k of an AggregatedBackbone (both branches in eval mode, run as a copy
    with folded BatchNorms: the same function up to float rounding, a pass less per layer).

    Balanced set, drawn once per experience: every exemplar of the old classes plus, for the
    new classes, (new classes x per-class budget) samples drawn at random with replacement from
    the new data, with train augmentation. ``memory`` is the strategy's exemplar memory (the
    same HerdingMemoryPlugin instance that is among its plugins), handed in as Avalanche's own
    ReplayPlugin is handed its storage policy. ``new_per_class`` fixes the draws per new class
    (the reference draws --nb_protos = 20 whatever the budget); None = the memory's budget.
    ``augmentation`` is the batch augmentation the level-1 batches get
    (``augment.BatchAugmentation``), applied to every balanced batch on the device; leave it
    None when the dataset's own train transform augments. ``use_amp``: bf16 autocast of the
    level-2 forward (True, False or "auto", as the strategy's; the loss stays fp32).

    Reference behaviour, off by default (each documented in docs/reproduce-paper.md):
    ``step_at_epoch_start`` steps the lr scheduler before each epoch (decays one epoch early);
    ``accumulate_grad`` never zeroes the a_k gradient, so level-1 batches add to it too (the
    reference's LUCIR trainer); ``reference_loader`` iterates the balanced set unshuffled, new
    draws first, then the exemplars.
    """

    def __init__(
        self,
        *,
        memory: HerdingMemoryPlugin,
        fusion_lr: float = 1e-8,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        milestones: Sequence[int] | None = None,
        gamma: float = 0.1,
        batch_size: int = 128,
        num_workers: int = 0,
        new_per_class: int | None = None,
        step_at_epoch_start: bool = False,
        accumulate_grad: bool = False,
        reference_loader: bool = False,
        augmentation: Callable[[Tensor], Tensor] | None = None,
        use_amp: bool | str = False,
    ) -> None:
        super().__init__()
        if not isinstance(memory, HerdingMemoryPlugin):
            raise TypeError(f"memory must be a HerdingMemoryPlugin, got {type(memory).__name__}")
        self.memory = memory
        self.fusion_lr = check_real("fusion_lr", fusion_lr, low=0)
        self.momentum = check_real("momentum", momentum, low=0, high=1, high_open=True)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)
        self.milestones = None if milestones is None else check_milestones("milestones", milestones)
        self.gamma = check_real("gamma", gamma, low=0, low_open=True)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.num_workers = check_int("num_workers", num_workers, low=0)
        self.new_per_class = (None if new_per_class is None
                              else check_int("new_per_class", new_per_class, low=1))
        self.step_at_epoch_start = step_at_epoch_start
        self.accumulate_grad = accumulate_grad
        self.reference_loader = reference_loader
        self.augmentation = augmentation
        self.use_amp = check_amp(use_amp)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.balanced_set: AvalancheDataset | None = None
        self.carried_grad: list[torch.Tensor | None] | None = None  # accumulate_grad only

    @staticmethod
    def _aggregated(strategy) -> AggregatedBackbone | None:
        backbone = getattr(strategy.model, "backbone", None)
        return backbone if isinstance(backbone, AggregatedBackbone) else None

    def before_training_exp(self, strategy, **kwargs) -> None:
        backbone = self._aggregated(strategy)
        self.optimizer = self.scheduler = self.balanced_set = None
        if backbone is None or self.fusion_lr == 0:
            return
        self.optimizer = torch.optim.SGD(
            backbone.alphas.parameters(), lr=self.fusion_lr, momentum=self.momentum,
            weight_decay=self.weight_decay,
        )
        # same milestones as level 1 unless given: the strategy's, read at each experience
        milestones = self.milestones if self.milestones is not None else getattr(strategy, "lr_milestones", [])
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(milestones), self.gamma)
        self.balanced_set = self.build_balanced_set(strategy)
        if self.accumulate_grad:  # level-1 backward passes reach the a_k too, as in the reference
            for a, carried in zip(backbone.alphas.parameters(), self.carried_grad or ()):
                if a.grad is None and carried is not None:  # resumed: pickling drops .grad
                    a.grad = carried.to(a.device)
            for a in backbone.alphas.parameters():
                a.requires_grad_(True)

    def build_balanced_set(self, strategy) -> AvalancheDataset:
        memory = self.memory
        new_data = strategy.experience.dataset.train()
        num_new = len(strategy.experience.classes_in_this_experience)
        num_classes = len(set(memory.seen_classes) | set(strategy.experience.classes_in_this_experience))
        per_class = self.new_per_class or memory.budget_per_class(num_classes)
        picks = torch.randint(len(new_data), (num_new * per_class,)).tolist()
        balanced = new_data.subset(picks)
        old = memory.memory_dataset()
        if old is None:
            return balanced.train()
        return (balanced.concat(old) if self.reference_loader else old.concat(balanced)).train()

    def balanced_loader(self, device: torch.device | None = None) -> DataLoader:
        """This epoch's level-2 loader (shuffled, or in the reference's fixed order); memory is
        pinned when the batches go to a CUDA ``device``."""
        return DataLoader(self.balanced_set, batch_size=self.batch_size,
                          shuffle=not self.reference_loader, num_workers=self.num_workers,
                          pin_memory=device is not None and device.type == "cuda")

    def before_training_epoch(self, strategy, **kwargs) -> None:
        if self.scheduler is not None and self.step_at_epoch_start:
            with warnings.catch_warnings():  # torch warns: step() before optimizer.step()
                warnings.simplefilter("ignore", UserWarning)
                self.scheduler.step()

    def after_training_epoch(self, strategy, **kwargs) -> None:
        if self.optimizer is None:
            return
        model = strategy.model
        backbone = self._aggregated(strategy)
        alphas = list(backbone.alphas.parameters())
        # only the a_k need a gradient; the folded copy of the branches trains nothing else,
        # and the rest of the model (the classifier) records no graph for its weights
        in_backbone = {id(p) for p in backbone.parameters()}
        frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in in_backbone]
        was_training = model.training
        model.eval()
        device = torch.device(strategy.device)
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                  enabled=resolve_amp(self.use_amp, device))
        try:
            for p in frozen:
                p.requires_grad_(False)
            # the branches are fixed and in eval mode for the whole pass: a copy with folded
            # BatchNorms (sharing the a_k) computes the same logits with a pass less per layer
            model.backbone = folded_copy(backbone, shared=alphas)
            for batch in self.balanced_loader(device):
                x = batch[0].to(device, non_blocking=True)
                y = batch[1].to(device, non_blocking=True)
                if self.augmentation is not None:
                    x = self.augmentation(x)
                for a in alphas:
                    a.requires_grad_(True)
                with autocast:
                    loss = F.cross_entropy(model(x).float(), y)
                grads = torch.autograd.grad(loss, alphas)
                for a, g in zip(alphas, grads):
                    a.requires_grad_(self.accumulate_grad)
                    a.grad = g if not self.accumulate_grad or a.grad is None else a.grad + g
                self.optimizer.step()
                if not self.accumulate_grad:
                    self.optimizer.zero_grad(set_to_none=True)
        finally:
            model.backbone = backbone
            for a in alphas:
                a.requires_grad_(self.accumulate_grad)
            for p in frozen:
                p.requires_grad_(True)
            model.train(was_training)
        if not self.step_at_epoch_start:
            self.scheduler.step()

    def after_training_exp(self, strategy, **kwargs) -> None:
        self.balanced_set = None  # keeps checkpoints small; rebuilt each experience
        backbone = self._aggregated(strategy)
        if self.accumulate_grad and backbone is not None:  # carried into the next phase
            self.carried_grad = [None if a.grad is None else a.grad.detach().clone()
                                 for a in backbone.alphas.parameters()]


__all__ = ["AggregationUpdatePlugin"]
