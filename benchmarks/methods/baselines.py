"""The baselines: Avalanche 0.6.0's built-in strategies where they do what the method's authors
do, configured; otherwise Avalanche's ``Naive`` with one plugin of ours that does (LwF and EWC
as PyCIL, DER / DER++ as Mammoth, BiC as its authors' code; docs/baselines.md).

Every baseline gets the benchmark's backbone, the preset's epochs / lr / batch and the same
memory budget as our methods (see registry.memory_plan). Beyond that, each is configured as
Avalanche's reproducibility configurations (ContinualAI/continual-learning-baselines, "CLB"
below) configure it for class-incremental CIFAR, or as its reference implementation; what it
follows and where we differ, ``reference=`` says, and `list` and every table repeat it.
Avalanche is imported inside the factories so ``cli.py list`` stays fast.
"""

from __future__ import annotations

import torch.nn as nn

from .common import (augmentation_plugins, baseline, batch_augmentation, common_kwargs,
                     make_backbone, schedule, sgd)
from .registry import register

SHARED = "epochs, lr schedule, optimizer and network are the preset's, shared by every method"


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


@register("lwf", "LwF as PyCIL runs it (Naive + plugin): cross-entropy on the new classes' "
          "logits, distillation of the old classes' logits from the eval-mode previous network",
          reference="as PyCIL's LwF (no CLB class-incremental CIFAR config): CE on the new "
                    "classes' logits only, KD (soft CE, T from the preset, PyCIL's 2) on the old "
                    "classes' logits against a frozen eval-mode copy, weight alpha from the "
                    "preset (1 in ours, CLB's Split MNIST value; PyCIL's lamda is 3); Avalanche's LwF (CE on all logits, train-mode "
                    "teacher: zero penalty on a one-batch phase) is not used. With one new class a "
                    "phase the CE term is identically 0: the phase only distils, the new class is "
                    f"not learned; {SHARED}")
def lwf(cfg, bench, device, evaluator):
    from avalanche.training import Naive

    from .lwf import LwFDistillationPlugin
    from .new_classes import NewClassesCrossEntropy
    plugin = LwFDistillationPlugin(alpha=float(cfg.method_param("lwf", "alpha", 3.0)),
                                   temperature=float(cfg.method_param("lwf", "temperature", 2.0)))
    return baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[plugin],
                    criterion=NewClassesCrossEntropy())


@register("ewc", "EWC as PyCIL runs it (Naive + Avalanche's EWCPlugin with PyCIL's bounded "
          "train-mode Fisher), cross-entropy on the new classes' logits, no memory",
          reference="CLB configures EWC only for Permuted MNIST, not class-incremental CIFAR; as "
                    "PyCIL's CIFAR-100 EWC: CE on the new classes' logits only, Fisher in train "
                    "mode clamped at 1e-4, lambda 1000 on a halved penalty (= 500 here, "
                    "Avalanche's penalty has no 1/2); mode pycil = one Fisher merged with weight "
                    "known/total classes, anchored at the last phase (separate / online: "
                    "Avalanche's); Avalanche's unbounded eval-mode Fisher diverged (penalty 1e16, "
                    "then NaN) on 1-class phases. With one new class a phase the CE term is "
                    "identically 0: the phase trains only the penalty and weight decay, the new "
                    f"class is not learned; {SHARED}")
def ewc(cfg, bench, device, evaluator):
    from avalanche.training import Naive

    from .ewc import PYCIL_FISHER_MAX, PYCIL_LAMBDA, BoundedFisherEWCPlugin
    from .new_classes import NewClassesCrossEntropy
    plugin = BoundedFisherEWCPlugin(
        ewc_lambda=float(cfg.method_param("ewc", "ewc_lambda", PYCIL_LAMBDA)),
        mode=str(cfg.method_param("ewc", "mode", "pycil")),
        fisher_max=float(cfg.method_param("ewc", "fisher_max", PYCIL_FISHER_MAX)))
    return baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[plugin],
                    criterion=NewClassesCrossEntropy())


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


DER_REFERENCE = (
    "as Mammoth (the authors' code): reservoir buffer of (un-augmented input, label, the "
    "training-mode logits of the iteration that saw it, unseen classes' logits included), "
    "replay batches of the training batch size drawn without replacement and augmented as the "
    "stream's batches, one forward pass each, a full-size linear head with CE on all outputs, "
    "evaluation on the seen classes' logits; Avalanche's DER (eval-mode logits stored once per "
    "phase: diverged on few iterations) is not used; buffer = the preset's fixed budget; on the "
    "per-sample input path the buffer keeps the loader's augmented inputs")


@register("der", "DER (Mammoth's Dark Experience Replay): reservoir buffer of training-mode logits, "
          "logit MSE on replayed batches", memory="fixed",
          reference=f"{DER_REFERENCE}; alpha from the preset (Mammoth's seq-cifar10 buffer-500 "
                    f"config: 0.3); {SHARED}")
def der(cfg, bench, device, evaluator):
    return _dark_experience_replay(cfg, bench, device, evaluator,
                                   alpha=float(cfg.method_param("der", "alpha", 0.3)), beta=0.0)


@register("derpp", "DER++ (Mammoth): DER plus cross-entropy on the labels of a second replay batch",
          memory="fixed",
          reference=f"{DER_REFERENCE}; alpha and beta from the preset (Mammoth's seq-cifar100 "
                    f"buffer-500 config: 0.3, 0.5); {SHARED}")
def derpp(cfg, bench, device, evaluator):
    return _dark_experience_replay(cfg, bench, device, evaluator,
                                   alpha=float(cfg.method_param("derpp", "alpha", 0.3)),
                                   beta=float(cfg.method_param("derpp", "beta", 0.5)))


def _dark_experience_replay(cfg, bench, device, evaluator, *, alpha: float, beta: float):
    from avalanche.training import Naive

    from .der import DarkExperienceReplayPlugin
    plugin = DarkExperienceReplayPlugin(mem_size=cfg.memory_budget_at(bench.num_classes),
                                        alpha=alpha, beta=beta,
                                        augmentation=batch_augmentation(cfg, bench))
    return baseline(Naive, cfg, bench, device, evaluator, incremental=False,
                    extra_plugins=[plugin])


@register("bic", "BiC as its authors' code runs it (Naive + plugin): herding memory with a 9:1 "
          "train/validation split, distillation, a bias layer fitted on the validation split",
          memory="fixed",
          reference="as the authors' code (wuyuebupt/LargeScaleIncrementalLearning; no CLB "
                    "config): validation = val_percentage of each class's memory share (within "
                    "the budget), new classes' share held out of stage 1; lambda = n/(n+m) "
                    "(lamb -1; another lamb fixes it); KD "
                    "at T over old classes' logits vs the eval-mode previous network (its last "
                    "bias layer applied); stage 2 trains only the bias layer (alpha, beta of the "
                    "new classes; 0.1 beta^2/2) on the validation split, lr from the preset /10 "
                    "at 30/60/80/90% of its epochs. We differ: phase 0 trains on all of its data "
                    "(= Naive; the authors hold their validation pool out of phase 0 too), "
                    "stage 2 in eval mode, shrunk shares keep a herding prefix. Avalanche's BiC "
                    "(its val split left a 2-image last batch in phase 0, its KD softmax ran over "
                    f"the batch, its val set was outside the budget) is not used; {SHARED}")
def bic(cfg, bench, device, evaluator):
    from avalanche.training import Naive

    from .bic import BiasCorrectionPlugin
    lamb = float(cfg.method_param("bic", "lamb", -1))  # -1: the classes' share n / (n + m)
    plugin = BiasCorrectionPlugin(
        mem_size=cfg.memory_budget_at(bench.num_classes),
        val_percentage=float(cfg.method_param("bic", "val_percentage", 0.1)),
        temperature=float(cfg.method_param("bic", "T", 2)),
        stage_2_epochs=int(cfg.method_param("bic", "stage_2_epochs", 200)),
        lr=float(cfg.method_param("bic", "lr", 0.1)),
        eval_batch_size=cfg.eval_batch_size,
        distill_weight=None if lamb < 0 else lamb)
    return baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[plugin])


def buffer_augmentation(bench):
    """What avl-icarl's replayed exemplars get, as CLB's iCaRL config gives them: the stream's
    crop (padding 1/8 of the side) + horizontal flip, on the stored (normalised) tensors. The
    8x8 digits are not augmented by their stream, so their exemplars are not either, nor are
    a stream's trained without augmentation (data.augment=false)."""
    from torchvision.transforms import v2

    side = int(bench.input_shape[-1])
    if side < 16 or not getattr(bench, "augmented", True):
        return None
    if getattr(bench, "augmentation", None) is not None:
        return None  # batched input path: BatchAugmentPlugin augments the whole batch, exemplars too
    return v2.Compose([v2.RandomCrop(side, padding=side // 8), v2.RandomHorizontalFlip()])
