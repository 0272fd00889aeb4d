"""Method registry: name -> strategy factory (Mammoth-style decorator registry).

A factory is ``factory(cfg, bench, device, evaluator) -> strategy`` (an Avalanche template).
AANets flavours come from ``aanets_avalanche``; the baselines are Avalanche 0.6.0's own classes,
configured, never re-implemented. All methods share the benchmark's backbone
(``aanets_avalanche.models.build_backbone``), the preset's epochs/lr/batch and its memory budget.
Avalanche is imported inside the factories so ``cli.py list`` stays fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch.nn as nn

from .errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from .config import RunConfig

Factory = Callable[["RunConfig", Any, Any, Any], Any]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method."""

    name: str
    description: str
    factory: Factory
    nme: bool          # reports NME accuracy beside the classifier accuracy
    memory: str        # "per_class" (exemplars per class), "fixed" (one fixed-size buffer) or "none"
    family: str        # "aanets" (our library) or "avalanche" (built-in)


METHODS: dict[str, MethodInfo] = {}
DEFAULT_METHODS: tuple[str, ...] = (
    "aanets-lucir", "aanets-icarl", "lucir", "icarl",
    "naive", "cumulative", "replay", "lwf", "ewc", "avl-icarl", "der", "bic",
)


def register(name: str, description: str, *, nme: bool = False, memory: str = "none",
             family: str = "avalanche") -> Callable[[Factory], Factory]:
    """Decorator: add a factory to the registry under ``name``."""
    def wrap(factory: Factory) -> Factory:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        METHODS[name] = MethodInfo(name, description, factory, nme, memory, family)
        return factory
    return wrap


def get_method(name: str) -> MethodInfo:
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def list_methods() -> list[MethodInfo]:
    """Registered methods, defaults first in their default order, then the others by name."""
    rest = sorted(set(METHODS) - set(DEFAULT_METHODS))
    return [METHODS[n] for n in (*DEFAULT_METHODS, *rest) if n in METHODS]


def parse_methods(text: str | None) -> tuple[str, ...]:
    """'a,b' -> validated names (UserError on unknown/empty/duplicates); None -> defaults."""
    if text is None:
        return DEFAULT_METHODS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UserError("--methods is empty; give a comma-separated list, e.g. naive,replay")
    for n in names:
        get_method(n)
    if len(set(names)) != len(names):
        raise UserError(f"--methods lists a method twice: {text}")
    return names


def memory_plan(info: MethodInfo, cfg: "RunConfig", num_classes: int) -> dict[str, Any]:
    """What memory a method gets, for the run record (same budget for every method)."""
    if info.memory == "per_class":
        if cfg.memory_total is not None:
            return {"policy": "fixed_total", "total": cfg.memory_total}
        return {"policy": "per_class", "per_class": cfg.memory_per_class}
    if info.memory == "fixed":
        size = cfg.memory_budget_at(num_classes)
        note = ("fixed-size buffer = the preset's per-class budget x all classes, i.e. the "
                "total the per-class setting reaches at the last phase"
                if cfg.memory_total is None else "the preset's fixed total")
        return {"policy": "fixed_buffer", "size": size, "note": note}
    return {"policy": "none"}


# ----------------------------------------------------------------------------- shared parts


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


def _feature_classifier(bench: Any, *, incremental: bool) -> FeatureClassifier:
    """Backbone + linear head; the head grows with the classes (IncrementalClassifier) or is
    full-size from the start (for strategies that need fixed-size logits, e.g. DER)."""
    from avalanche.models import IncrementalClassifier

    backbone = make_backbone(bench)
    head = (IncrementalClassifier(backbone.out_dim, initial_out_features=2) if incremental
            else nn.Linear(backbone.out_dim, bench.num_classes))
    return FeatureClassifier(backbone, head)


def _sgd(cfg: "RunConfig", params):
    import torch
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _schedule(cfg: "RunConfig", optimizer):
    """Per-phase MultiStepLR, stepped at the end of each epoch, reset at each phase."""
    import torch
    from avalanche.training.plugins import LRSchedulerPlugin
    sched = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.lr_milestones),
                                                 gamma=cfg.lr_gamma)
    return LRSchedulerPlugin(sched, reset_scheduler=True, reset_lr=True, step_granularity="epoch")


def _common(cfg: "RunConfig", device, evaluator) -> dict[str, Any]:
    return dict(train_mb_size=cfg.batch_size, train_epochs=cfg.epochs,
                eval_mb_size=cfg.eval_batch_size, device=device, evaluator=evaluator)


def _baseline(cls, cfg, bench, device, evaluator, *, incremental=True, extra_plugins=(), **kw):
    model = _feature_classifier(bench, incremental=incremental)
    opt = _sgd(cfg, model.parameters())
    plugins = [_schedule(cfg, opt), *extra_plugins]
    return cls(model=model, optimizer=opt, criterion=nn.CrossEntropyLoss(), plugins=plugins,
               **_common(cfg, device, evaluator), **kw)


# ----------------------------------------------------------------------------- AANets family


def _aanets(cfg: "RunConfig", bench, device, evaluator, *, flavour: str, branch_mode: str):
    from aanets_avalanche import AANetsStrategy
    from aanets_avalanche.models import CosineIncrementalNet
    model = CosineIncrementalNet(make_backbone(bench))
    return AANetsStrategy(
        model=model, flavour=flavour, branch_mode=branch_mode,
        lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        train_epochs=cfg.epochs, lr_milestones=tuple(cfg.lr_milestones), lr_gamma=cfg.lr_gamma,
        train_mb_size=cfg.batch_size, eval_mb_size=cfg.eval_batch_size,
        memory_per_class=cfg.memory_per_class, memory_total=cfg.memory_total,  # exactly one set
        lambda_base=cfg.lambda_base, margin=cfg.margin, ranking_k=cfg.ranking_k,
        ranking_weight=cfg.ranking_weight, kd_temperature=cfg.kd_temperature,
        kd_beta=cfg.kd_beta, fusion_lr=cfg.fusion_lr, device=device, evaluator=evaluator,
    )


# name -> (description, flavour, branch_mode): every AANets-library method is one of these
_AANETS_VARIANTS = {
    "aanets-lucir": ("LUCIR on the AANets aggregated network (stable+plastic blocks)", "lucir", "aanets"),
    "aanets-icarl": ("iCaRL-style distillation on the AANets aggregated network", "icarl", "aanets"),
    "lucir": ("LUCIR without AANets (one plain network; our library, branch_mode=single)", "lucir", "single"),
    "icarl": ("iCaRL without AANets (one plain network; our library, branch_mode=single)", "icarl", "single"),
    "aanets-lucir-dualfree": ("ablation: LUCIR with two plastic branches, fixed 0.5 mix", "lucir", "dual-free"),
}
for _name, (_description, _flavour, _branch_mode) in _AANETS_VARIANTS.items():
    register(_name, _description, nme=True, memory="per_class", family="aanets")(
        functools.partial(_aanets, flavour=_flavour, branch_mode=_branch_mode))


# ----------------------------------------------------------------------------- Avalanche built-ins


@register("naive", "Avalanche Naive: plain fine-tuning, no memory (lower bound)")
def naive(cfg, bench, device, evaluator):
    from avalanche.training import Naive
    return _baseline(Naive, cfg, bench, device, evaluator)


@register("cumulative", "Avalanche Cumulative: retrains on all data seen so far (upper bound)")
def cumulative(cfg, bench, device, evaluator):
    from avalanche.training import Cumulative
    return _baseline(Cumulative, cfg, bench, device, evaluator)


@register("replay", "Avalanche Naive + ReplayPlugin with a class-balanced buffer", memory="fixed")
def replay(cfg, bench, device, evaluator):
    from avalanche.training import Naive
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.storage_policy import ClassBalancedBuffer
    size = cfg.memory_budget_at(bench.num_classes)
    rp = ReplayPlugin(mem_size=size, storage_policy=ClassBalancedBuffer(size, adaptive_size=True))
    return _baseline(Naive, cfg, bench, device, evaluator, extra_plugins=[rp])


@register("lwf", "Avalanche LwF: distillation on the previous model's outputs, no memory")
def lwf(cfg, bench, device, evaluator):
    from avalanche.training import LwF
    return _baseline(LwF, cfg, bench, device, evaluator,
                     alpha=float(cfg.method_param("lwf", "alpha", 1.0)),
                     temperature=float(cfg.method_param("lwf", "temperature", 2.0)))


@register("ewc", "Avalanche EWC: Fisher-weighted penalty on weight changes, no memory")
def ewc(cfg, bench, device, evaluator):
    from avalanche.training import EWC
    return _baseline(EWC, cfg, bench, device, evaluator,
                     ewc_lambda=float(cfg.method_param("ewc", "ewc_lambda", 100.0)),
                     mode=str(cfg.method_param("ewc", "mode", "separate")))


@register("avl-icarl", "Avalanche ICaRL: herding exemplars, BCE distillation, NCM classifier",
          memory="per_class")
def avl_icarl(cfg, bench, device, evaluator):
    from avalanche.training import ICaRL
    backbone = make_backbone(bench)
    head = nn.Linear(backbone.out_dim, bench.num_classes)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = _sgd(cfg, params)
    fixed = cfg.memory_total is not None
    strategy = ICaRL(
        feature_extractor=backbone, classifier=head, optimizer=opt,
        memory_size=cfg.memory_total if fixed else cfg.memory_per_class,
        buffer_transform=None, fixed_memory=fixed,
        plugins=[_schedule(cfg, opt)], **_common(cfg, device, evaluator))
    return strategy


@register("der", "Avalanche DER++: replay of stored logits (full-size linear head)", memory="fixed")
def der(cfg, bench, device, evaluator):
    from avalanche.training import DER
    return _baseline(DER, cfg, bench, device, evaluator, incremental=False,
                     mem_size=cfg.memory_budget_at(bench.num_classes),
                     alpha=float(cfg.method_param("der", "alpha", 0.1)),
                     beta=float(cfg.method_param("der", "beta", 0.5)))


@register("bic", "Avalanche BiC: replay + distillation + a bias-correction layer", memory="fixed")
def bic(cfg, bench, device, evaluator):
    from avalanche.training import BiC
    _patch_bic_scheduler()
    return _baseline(BiC, cfg, bench, device, evaluator,
                     mem_size=cfg.memory_budget_at(bench.num_classes),
                     val_percentage=float(cfg.method_param("bic", "val_percentage", 0.1)),
                     T=int(cfg.method_param("bic", "T", 2)),
                     stage_2_epochs=int(cfg.method_param("bic", "stage_2_epochs", 200)),
                     lamb=float(cfg.method_param("bic", "lamb", -1)),
                     lr=float(cfg.method_param("bic", "lr", 0.1)))


def _patch_bic_scheduler() -> None:
    """Avalanche 0.6.0's BiC passes ``verbose=`` to MultiStepLR, which torch >= 2.7 rejects.

    Swap the name inside avalanche's bic module for a subclass that drops that argument; the
    algorithm is untouched. Idempotent.
    """
    import torch
    from avalanche.training.plugins import bic as bic_module

    if getattr(bic_module.MultiStepLR, "_drops_verbose", False):
        return

    class MultiStepLRNoVerbose(torch.optim.lr_scheduler.MultiStepLR):
        _drops_verbose = True

        def __init__(self, *args, verbose: Any = None, **kwargs):
            super().__init__(*args, **kwargs)

    bic_module.MultiStepLR = MultiStepLRNoVerbose
