"""Level-2 of the AANets bilevel optimisation: the aggregation weights a_k learn on a
class-balanced set, one pass after every level-1 epoch, with their own optimizer."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.core import SupervisedPlugin
from torch import Tensor
from torch.utils.data import DataLoader

from ..models import AggregatedBackbone
from .herding import HerdingMemoryPlugin


class AggregationUpdatePlugin(SupervisedPlugin):
    """Updates only the a_k of an AggregatedBackbone (both branches in eval mode).

    Balanced set, drawn once per experience: every exemplar of the old classes plus, for the
    new classes, (new classes x per-class budget) samples drawn at random with replacement from
    the new data, with train augmentation. ``memory`` is the strategy's exemplar memory (the
    same HerdingMemoryPlugin instance that is among its plugins), handed in as Avalanche's own
    ReplayPlugin is handed its storage policy. ``augmentation`` is the batch augmentation the
    level-1 batches get (``augment.BatchAugmentation``), applied to every balanced batch on the
    device; leave it None when the dataset's own train transform augments.
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
        augmentation: Callable[[Tensor], Tensor] | None = None,
        use_amp: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(memory, HerdingMemoryPlugin):
            raise TypeError(f"memory must be a HerdingMemoryPlugin, got {type(memory).__name__}")
        self.memory = memory
        self.fusion_lr = fusion_lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.milestones = None if milestones is None else list(milestones)
        self.gamma = gamma
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augmentation = augmentation  # the level-1 batch augmentation (None: the dataset's own)
        self.use_amp = use_amp  # bf16 autocast on CUDA, as the strategy's forward
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.balanced_set: AvalancheDataset | None = None

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

    def build_balanced_set(self, strategy) -> AvalancheDataset:
        memory = self.memory
        new_data = strategy.experience.dataset.train()
        num_new = len(strategy.experience.classes_in_this_experience)
        num_classes = len(set(memory.seen_classes) | set(strategy.experience.classes_in_this_experience))
        draws = num_new * memory.budget_per_class(num_classes)
        picks = torch.randint(len(new_data), (draws,)).tolist()
        balanced = new_data.subset(picks)
        old = memory.memory_dataset()
        return (balanced if old is None else old.concat(balanced)).train()

    def after_training_epoch(self, strategy, **kwargs) -> None:
        if self.optimizer is None:
            return
        backbone = self._aggregated(strategy)
        alphas = list(backbone.alphas.parameters())
        alpha_ids = {id(a) for a in alphas}
        # only the a_k need a gradient: the branches then record no graph for their weights
        frozen = [p for p in strategy.model.parameters() if p.requires_grad and id(p) not in alpha_ids]
        was_training = strategy.model.training
        strategy.model.eval()
        device = torch.device(strategy.device)
        loader = DataLoader(self.balanced_set, batch_size=self.batch_size, shuffle=True,
                            num_workers=self.num_workers, pin_memory=device.type == "cuda")
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                  enabled=self.use_amp and device.type == "cuda")
        try:
            for p in frozen:
                p.requires_grad_(False)
            for batch in loader:
                x = batch[0].to(device, non_blocking=True)
                y = batch[1].to(device, non_blocking=True)
                if self.augmentation is not None:
                    x = self.augmentation(x)
                for a in alphas:
                    a.requires_grad_(True)
                with autocast:
                    loss = F.cross_entropy(strategy.model(x).float(), y)
                grads = torch.autograd.grad(loss, alphas)
                for a, g in zip(alphas, grads):
                    a.requires_grad_(False)
                    a.grad = g
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
        finally:
            for a in alphas:
                a.requires_grad_(False)
            for p in frozen:
                p.requires_grad_(True)
            strategy.model.train(was_training)
        self.scheduler.step()

    def after_training_exp(self, strategy, **kwargs) -> None:
        self.balanced_set = None  # keeps checkpoints small; rebuilt each experience


__all__ = ["AggregationUpdatePlugin"]
