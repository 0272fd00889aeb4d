"""Methods of our own library: AANets (LUCIR / iCaRL flavours), their single-branch base
methods and the dual-branch ablation, all ``aanets_avalanche.AANetsStrategy``."""

from __future__ import annotations

import functools

from .common import batch_augmentation, make_backbone
from .registry import Settings, register

# The fused two-branch forward (aanets_avalanche/models/fused.py) computes the same numbers; it
# is used where `python -m benchmarks.speed` measured it faster (see docs/speed.md).
FUSED_BRANCHES = False



def _aanets(cfg: Settings, bench, device, evaluator, *, flavour: str, branch_mode: str):
    from aanets_avalanche import AANetsStrategy
    from aanets_avalanche.models import CosineIncrementalNet
    model = CosineIncrementalNet(make_backbone(bench))
    # the reference uses no NME flip at all on ImageNet (ResNet-18), a channel flip on CIFAR
    nme_flip = "none" if cfg.reference_quirks and bench.backbone == "resnet18" else None
    return AANetsStrategy(
        model=model, flavour=flavour, branch_mode=branch_mode,
        lr=cfg.lr, stable_lr=cfg.stable_lr, plastic_lr=cfg.plastic_lr,
        momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        train_epochs=cfg.epochs, lr_schedule=cfg.lr_schedule,
        lr_milestones=tuple(cfg.lr_milestones), lr_gamma=cfg.lr_gamma,
        train_mb_size=cfg.batch_size, eval_mb_size=cfg.eval_batch_size,
        memory_per_class=cfg.memory_per_class, memory_total=cfg.memory_total,  # exactly one set
        lambda_base=cfg.lambda_base, margin=cfg.margin, ranking_k=cfg.ranking_k,
        ranking_weight=cfg.ranking_weight, kd_temperature=cfg.kd_temperature,
        kd_beta=cfg.kd_beta, fusion_lr=cfg.fusion_lr,
        fusion_milestones=None if cfg.fusion_milestones is None else tuple(cfg.fusion_milestones),
        balanced_per_class=cfg.balanced_per_class, reference_quirks=cfg.reference_quirks,
        nme_flip=nme_flip, device=device, evaluator=evaluator,
        batch_augmentation=batch_augmentation(cfg, bench), fused_branches=FUSED_BRANCHES,
    )


# name -> (description, flavour, branch_mode): every AANets-library method is one of these.
# The authors' README runs each flavour with AANets, "w/o AANets, dual branch" (two free
# branches, fusion_lr 0: our dual-free) and "w/o AANets, single branch".
AANETS_VARIANTS = {
    "aanets-lucir": ("LUCIR on the AANets aggregated network (stable+plastic blocks)", "lucir", "aanets"),
    "aanets-icarl": ("iCaRL-style distillation on the AANets aggregated network", "icarl", "aanets"),
    "lucir": ("LUCIR without AANets (one plain network; our library, branch_mode=single)", "lucir", "single"),
    "icarl": ("iCaRL without AANets (one plain network; our library, branch_mode=single)", "icarl", "single"),
    "aanets-lucir-dualfree": ("ablation: LUCIR with two plastic branches, fixed 0.5 mix "
                              "(w/o AANets, dual branch)", "lucir", "dual-free"),
    "aanets-icarl-dualfree": ("ablation: iCaRL with two plastic branches, fixed 0.5 mix "
                              "(w/o AANets, dual branch)", "icarl", "dual-free"),
}
# Every branch mode of a flavour trains the same single network in phase 0 (the two branches
# start at phase 1), so they share one base phase (the strategies' adopt_base_state).
for _name, (_description, _flavour, _branch_mode) in AANETS_VARIANTS.items():
    register(_name, _description, nme=True, memory="per_class", family="aanets",
             base_phase=f"{_flavour}-base")(
        functools.partial(_aanets, flavour=_flavour, branch_mode=_branch_mode))
