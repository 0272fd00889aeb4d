"""Avalanche 0.6.0's built-in strategies as baselines: configured, never re-implemented.

Every baseline gets the benchmark's backbone, the preset's epochs / lr / batch and the same
memory budget as our methods (see registry.memory_plan). Beyond that, each is configured as
Avalanche's reproducibility configurations (ContinualAI/continual-learning-baselines, "CLB"
below) configure it for class-incremental CIFAR; where they have no such configuration, or we
differ, ``reference=`` says so, and `list` and every table repeat it. Avalanche is imported
inside the factories so ``cli.py list`` stays fast.
"""

from __future__ import annotations

import torch.nn as nn

from .common import augmentation_plugins, baseline, common_kwargs, make_backbone, schedule, sgd

SHARED = "epochs, lr schedule, optimizer and network are the preset's, shared by every method"
from .patches import patch_bic_scheduler
from .registry import register


@register("naive", "Avalanche Naive: plain fine-tuning, no memory (lower bound)",
          reference=f"no hyperparameters of its own; {SHARED}")
def naive(cfg, bench, device, evaluator):
    from avalanche.training import Naive
    return baseline(Naive, cfg, bench, device, evaluator)


@register("cumulative", "Avalanche Cumulative: retrains on all data seen so far (upper bound)",
          reference=f"no hyperparameters of its own; {SHARED}")
def cumulative(cfg, bench, device, evaluator):
    from avalanche.training import Cumulative
    return baseline(Cumulative, cfg, bench, device, evaluator)


@register("replay", "Avalanche Naive + ReplayPlugin with a class-balanced buffer", memory="fixed",
          reference="as CLB's Split CIFAR-100 replay: ClassBalancedBuffer(adaptive_size=True), "
                    "growing linear head (2000 exemplars there = 20 x 100 classes here); "
                    f"CLB trains 200 epochs with StepLR, wd 2e-4: here {SHARED}")
def replay(cfg, bench, device, evaluator):
    from avalanche.training import Naive
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.storage_policy import ClassBalancedBuffer
    size = cfg.memory_budget_at(bench.num_classes)
    rp = ReplayPlugin(mem_size=size, storage_policy=ClassBalancedBuffer(size, adaptive_size=True))
    return baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[rp])


@register("lwf", "Avalanche LwF: distillation on the previous model's outputs, no memory",
          reference="CLB has no class-incremental CIFAR config; its class-incremental Split MNIST "
                    "one uses alpha 1, temperature 1: here alpha 1, temperature 2 (the LwF "
                    f"paper's), from the preset; {SHARED}")
def lwf(cfg, bench, device, evaluator):
    from avalanche.training import LwF
    return baseline(LwF, cfg, bench, device, evaluator,
                     alpha=float(cfg.method_param("lwf", "alpha", 1.0)),
                     temperature=float(cfg.method_param("lwf", "temperature", 2.0)))


@register("ewc", "Avalanche EWC (Naive + EWCPlugin) with PyCIL's bounded Fisher: train-mode "
          "squared gradients clamped at fisher_max, no memory",
          reference="CLB configures EWC only for Permuted MNIST (lambda 1, mode separate), not "
                    "class-incremental CIFAR; as PyCIL's CIFAR-100 EWC: Fisher in train mode, "
                    "clamped at 1e-4, lambda 1000 on a halved penalty (= 500 here, Avalanche's "
                    "penalty has no 1/2); mode separate; Avalanche's unbounded eval-mode Fisher "
                    f"diverged (penalty 1e16, then NaN) on 1-class phases; {SHARED}")
def ewc(cfg, bench, device, evaluator):
    from avalanche.training import Naive

    from .ewc import PYCIL_FISHER_MAX, PYCIL_LAMBDA, BoundedFisherEWCPlugin
    plugin = BoundedFisherEWCPlugin(
        ewc_lambda=float(cfg.method_param("ewc", "ewc_lambda", PYCIL_LAMBDA)),
        mode=str(cfg.method_param("ewc", "mode", "separate")),
        fisher_max=float(cfg.method_param("ewc", "fisher_max", PYCIL_FISHER_MAX)))
    return baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[plugin])


@register("avl-icarl", "Avalanche ICaRL: herding exemplars, BCE distillation, NCM classifier",
          memory="per_class",
          reference="as CLB's Split CIFAR-100 iCaRL: exemplars replayed with crop + flip "
                    "(buffer_transform; here on normalised tensors, padding with 0 = the mean); "
                    "CLB uses a fixed 2000-exemplar memory, its IcarlNet, lr 2.0 (/5 at epochs 49, "
                    f"63 of 70), wd 1e-5: here the preset's memory budget; {SHARED}")
def avl_icarl(cfg, bench, device, evaluator):
    from avalanche.training import ICaRL
    backbone = make_backbone(bench)
    head = nn.Linear(backbone.out_dim, bench.num_classes)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = sgd(cfg, params)
    fixed = cfg.memory_total is not None
    strategy = ICaRL(
        feature_extractor=backbone, classifier=head, optimizer=opt,
        memory_size=cfg.memory_total if fixed else cfg.memory_per_class,
        buffer_transform=buffer_augmentation(bench), fixed_memory=fixed,
        plugins=[*augmentation_plugins(cfg, bench), schedule(cfg, opt)],
        **common_kwargs(cfg, device, evaluator))
    return strategy


@register("der", "Avalanche DER++: replay of stored logits (full-size linear head); on the batched "
          "input path its replayed half is not augmented (DER joins it after the plugins run)",
          memory="fixed",
          reference="no CLB config: Avalanche's defaults alpha 0.1, beta 0.5, from the preset; "
                    "Avalanche stores the logits it replays in eval mode after each phase (DER's "
                    "own code keeps the training-mode outputs of each batch), so after few "
                    "iterations (smoke preset) BatchNorm's running statistics make them far "
                    "larger than the trained outputs and the logit MSE can diverge; "
                    f"{SHARED}")
def der(cfg, bench, device, evaluator):
    from avalanche.training import DER
    return baseline(DER, cfg, bench, device, evaluator, incremental=False,
                     mem_size=cfg.memory_budget_at(bench.num_classes),
                     alpha=float(cfg.method_param("der", "alpha", 0.1)),
                     beta=float(cfg.method_param("der", "beta", 0.5)))


@register("bic", "Avalanche BiC: replay + distillation + a bias-correction layer", memory="fixed",
          reference="no CLB config: Avalanche's defaults (validation 10%, T 2, lambda from the "
                    "classes seen, stage-2 lr 0.1), stage-2 epochs from the preset; "
                    f"{SHARED}")
def bic(cfg, bench, device, evaluator):
    from avalanche.training import BiC
    patch_bic_scheduler()
    return baseline(BiC, cfg, bench, device, evaluator,
                     mem_size=cfg.memory_budget_at(bench.num_classes),
                     val_percentage=float(cfg.method_param("bic", "val_percentage", 0.1)),
                     T=int(cfg.method_param("bic", "T", 2)),
                     stage_2_epochs=int(cfg.method_param("bic", "stage_2_epochs", 200)),
                     lamb=float(cfg.method_param("bic", "lamb", -1)),
                     lr=float(cfg.method_param("bic", "lr", 0.1)))


def buffer_augmentation(bench):
    """What avl-icarl's replayed exemplars get, as CLB's iCaRL config gives them: the stream's
    crop (padding 1/8 of the side) + horizontal flip, on the stored (normalised) tensors. The
    8x8 digits are not augmented by their stream, so their exemplars are not either."""
    from torchvision.transforms import v2

    side = int(bench.input_shape[-1])
    if side < 16 or getattr(bench, "augmentation", None) is not None:
        return None  # batched input path: BatchAugmentPlugin augments the whole batch, exemplars too
    return v2.Compose([v2.RandomCrop(side, padding=side // 8), v2.RandomHorizontalFlip()])
