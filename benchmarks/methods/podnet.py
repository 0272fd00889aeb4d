"""PODNet and POD + AANets (``aanets_avalanche.PODNetStrategy``).

Both run on PODNet's own backbone for the benchmark's size class (``podnet-resnet32`` where the
other methods get LUCIR's ResNet-32, ``podnet-resnet18`` where they get ResNet-18): the faithful
choice of the spec's section 6. Their hyperparameters come from the preset's ``methods: podnet:``
section (shared by both methods; a backbone section can override it, e.g. for ImageNet-Subset);
epochs, lr, weight decay, batch and memory come from the preset's train and memory sections.
"""

from __future__ import annotations

import functools

from .common import batch_augmentation, make_backbone
from .registry import Settings, register


PODNET_BACKBONES = {"resnet32": "podnet-resnet32", "resnet18": "podnet-resnet18"}

# name -> default (PODNet's CIFAR-100 options); a preset's ``methods: podnet:`` section overrides
PODNET_DEFAULTS = {
    "proxies_per_class": 10,
    "pod_spatial": 3.0,
    "pod_flat": 1.0,
    "nca_margin": 0.0,          # the reference's 0.6 cancels out (see aanets_avalanche/nca.py)
    "grad_clip": 5.0,
    "finetune_epochs": 20,
    "finetune_lr": 0.05,
    "finetune_bn_train_mode": True,
    "batch_size": None,         # None: the preset's train batch size
    "aanets_fusion_lr": 0.0,    # 0: a_k fixed at 0.5 as released; > 0: learned by the level-2 plugin
    "kmeans_seed": 0,
}


def podnet_param(cfg: Settings, name: str):
    return cfg.method_param("podnet", name, PODNET_DEFAULTS[name])


def _podnet(cfg: Settings, bench, device, evaluator, *, branch_mode: str):
    from aanets_avalanche import PODNetStrategy, ProxyIncrementalNet
    backbone = make_backbone(bench, PODNET_BACKBONES.get(bench.backbone, "podnet-resnet32"))
    batch = podnet_param(cfg, "batch_size")
    return PODNetStrategy(
        model=ProxyIncrementalNet(backbone, int(podnet_param(cfg, "proxies_per_class"))),
        branch_mode=branch_mode, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        train_epochs=cfg.epochs, train_mb_size=int(batch or cfg.batch_size),
        eval_mb_size=cfg.eval_batch_size,
        memory_per_class=cfg.memory_per_class, memory_total=cfg.memory_total,  # exactly one set
        pod_spatial_factor=float(podnet_param(cfg, "pod_spatial")),
        pod_flat_factor=float(podnet_param(cfg, "pod_flat")),
        nca_margin=float(podnet_param(cfg, "nca_margin")),
        grad_clip=float(podnet_param(cfg, "grad_clip")),
        finetune_epochs=int(podnet_param(cfg, "finetune_epochs")),
        finetune_lr=float(podnet_param(cfg, "finetune_lr")),
        finetune_bn_train_mode=bool(podnet_param(cfg, "finetune_bn_train_mode")),
        fusion_lr=float(podnet_param(cfg, "aanets_fusion_lr")) if branch_mode != "single" else 0.0,
        kmeans_seed=int(podnet_param(cfg, "kmeans_seed")),
        batch_augmentation=batch_augmentation(cfg, bench),
        device=device, evaluator=evaluator,
    )


_PODNET_VARIANTS = {
    "podnet": ("PODNet: POD distillation, local-similarity classifier, NCA, balanced fine-tuning "
               "(PODNet's backbone)", "single"),
    "aanets-podnet": ("PODNet on the AANets aggregated network (stable+plastic, a_k fixed 0.5 as "
                      "released; learned with methods.podnet.aanets_fusion_lr > 0)", "aanets"),
}
# both train the same single network in phase 0: one base phase (adopt_base_state)
for _name, (_description, _branch_mode) in _PODNET_VARIANTS.items():
    register(_name, _description, nme=True, memory="per_class", family="aanets",
             base_phase="podnet-base")(
        functools.partial(_podnet, branch_mode=_branch_mode))
