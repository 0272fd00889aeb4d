"""PODNetStrategy: PODNet (Douillard et al., ECCV 2020) and POD + AANets as an Avalanche
SupervisedTemplate.

Per experience: grow the network (from the first incremental experience, optionally the AANets
stable + plastic blocks), imprint the new classes' proxies by seeded k-means, train with the NCA
loss plus POD distillation (gradients clipped elementwise, cosine-annealed lr), select exemplars
by herding, fine-tune the classifier on the balanced memory, snapshot the network.

``branch_mode``: "single" (PODNet), "aanets" (POD + AANets: stable + plastic blocks mixed with
a_k = 0.5 as in the released code; ``fusion_lr > 0`` learns the a_k with our level-2 plugin) or
"dual-free" (two plastic blocks, fixed 0.5).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from avalanche.core import BasePlugin
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import Tensor

from .augment import BatchAugmentPlugin
from .models import BRANCH_MODES
from .models.lsc import ProxyIncrementalNet
from .nca import NCALoss
from .plugins import AggregationUpdatePlugin, HerdingMemoryPlugin
from .plugins.finetune import BalancedFinetunePlugin, clamp_gradients_
from .plugins.pod import PODDistillationPlugin
from .precision import resolve_amp
from .strategy import default_aanets_evaluator
from .template_parts import ClassIncrementalParts
from .validation import check_real


class PODNetStrategy(ClassIncrementalParts, SupervisedTemplate):
    """PODNet / POD + AANets. Keyword arguments default to PODNet's CIFAR-100 options
    (160 epochs, lr 0.1 cosine-annealed, batch 128, POD-spatial 3, POD-flat 1, 20 epochs of
    fine-tuning at 0.05, 20 exemplars per class); ImageNet-Subset uses 90 epochs, lr 0.05,
    batch 64, POD-spatial 8, POD-flat 10 and fine-tuning lr 0.01.

    Experiences must carry contiguous labels in arrival order (label k = k-th class seen).
    """

    def __init__(
        self,
        *,
        model: ProxyIncrementalNet,
        branch_mode: str = "single",
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        train_epochs: int = 160,
        train_mb_size: int = 128,
        eval_mb_size: int = 100,
        memory_per_class: int | None = 20,
        memory_total: int | None = None,
        pod_spatial_factor: float = 3.0,
        pod_flat_factor: float = 1.0,
        nca_margin: float = 0.0,
        grad_clip: float | None = 5.0,
        finetune_epochs: int = 20,
        finetune_lr: float = 0.05,
        finetune_bn_train_mode: bool = True,
        fusion_lr: float = 0.0,
        kmeans_seed: int = 0,
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
        if not isinstance(model, ProxyIncrementalNet):
            raise TypeError("PODNetStrategy needs a ProxyIncrementalNet (backbone + local-similarity classifier)")
        if branch_mode not in BRANCH_MODES:
            raise ValueError(f"branch_mode must be one of {BRANCH_MODES}, got {branch_mode!r}")
        lr = check_real("lr", lr, low=0)
        fusion_lr = check_real("fusion_lr", fusion_lr, low=0)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.branch_mode = branch_mode
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.nca_margin = nca_margin
        self.grad_clip = grad_clip
        self.kmeans_seed = kmeans_seed
        self.num_workers = num_workers
        self.use_amp = resolve_amp(use_amp, device)  # the resolved bool; .precision names it
        self.fused_branches, self.compile_model = fused_branches, compile_model
        self.channels_last = bool(channels_last)

        self.memory = HerdingMemoryPlugin(memory_per_class, memory_total, batch_size=eval_mb_size,
                                          num_workers=num_workers)
        self.finetuning = BalancedFinetunePlugin(
            self.memory, epochs=finetune_epochs, lr=finetune_lr, momentum=momentum,
            weight_decay=weight_decay, batch_size=train_mb_size, margin=nca_margin,
            grad_clip=grad_clip, bn_train_mode=finetune_bn_train_mode, num_workers=num_workers,
            augmentation=batch_augmentation,
        )
        self.distillation = PODDistillationPlugin(pod_spatial_factor, pod_flat_factor)
        # order matters after each experience: herding, then fine-tuning, then the snapshot
        own: list[BasePlugin] = [self.memory, self.finetuning, self.distillation]
        if batch_augmentation is not None:  # raw images in: augment each level-1 mini-batch
            own.insert(0, BatchAugmentPlugin(batch_augmentation))
        self.aggregation: AggregationUpdatePlugin | None = None
        if branch_mode != "single" and fusion_lr > 0:
            self.aggregation = AggregationUpdatePlugin(
                memory=self.memory, fusion_lr=fusion_lr, momentum=momentum, weight_decay=weight_decay,
                milestones=(), batch_size=eval_mb_size, num_workers=num_workers,
                augmentation=batch_augmentation, use_amp=self.use_amp,
            )
            own.append(self.aggregation)
        super().__init__(
            model=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),  # rebuilt per experience
            criterion=NCALoss(nca_margin), train_mb_size=train_mb_size, train_epochs=train_epochs,
            eval_mb_size=eval_mb_size, device=device, plugins=[*own, *(plugins or [])],
            evaluator=evaluator, eval_every=eval_every,
        )
        self.optimized_param_id = {}
        self.lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    # -- model growth ------------------------------------------------------------------------
    def imprinted_weights(self, class_features: list[Tensor], new_classes: list[int]) -> Tensor:
        """Proxies by k-means on each class's normalised features, seeded per class."""
        return self.model.classifier.imprint_proxies(
            class_features, seeds=[self.kmeans_seed + c for c in new_classes])

    # -- optimisation -----------------------------------------------------------------------
    def make_optimizer(self, **kwargs) -> None:
        """SGD over every trainable backbone parameter (both branches), the learned scale and
        the new proxies, all at ``lr``; cosine annealing over the experience's epochs."""
        model = self.model
        classifier = model.classifier
        params = [p for p in model.backbone.parameters() if p.requires_grad]
        params += [classifier.scale, classifier.new_proxies]
        self.optimizer = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum,
                                         weight_decay=self.weight_decay)
        self.lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, self.train_epochs)

    def criterion(self):
        classifier = self.model.classifier
        return self._criterion(self.mb_output.float(), self.mb_y, scale=classifier.scale)

    def optimizer_step(self) -> None:
        """Clip every gradient elementwise to [-grad_clip, grad_clip], then step (bf16 autocast
        needs no loss scaling, so the gradients are the true ones)."""
        if self.grad_clip is not None:
            for group in self.optimizer.param_groups:
                clamp_gradients_(group["params"], self.grad_clip)
        super().optimizer_step()


__all__ = ["PODNetStrategy"]
