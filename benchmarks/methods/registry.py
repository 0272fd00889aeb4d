"""The method registry (Mammoth-style decorator): name -> strategy factory + what it needs.

A factory is ``factory(cfg, bench, device, evaluator) -> strategy`` (an Avalanche template).
Modules beside this one register the methods: aanets.py (our library), baselines.py
(Avalanche's built-ins, configured, never re-implemented).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.errors import UserError


# A method reads the run's frozen settings (plan/config.py's RunConfig) and never imports them:
# plan/ stands above methods/, which must not reach back up for a type.
Settings = Any
Factory = Callable[[Settings, Any, Any, Any], Any]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method."""

    name: str
    description: str
    factory: Factory
    nme: bool          # reports NME accuracy beside the classifier accuracy
    memory: str        # "per_class" (exemplars per class), "fixed" (one fixed-size buffer) or "none"
    family: str        # "aanets" (our library) or "avalanche" (built-in)
    # how this configuration differs from the reference configuration of the method (for the
    # Avalanche baselines: ContinualAI/continual-learning-baselines, class-incremental CIFAR);
    # shown by `list` and under every table that has the method. Empty: no difference to state.
    reference: str = ""
    # methods with the same base_phase (and the same settings and seed) train the same network
    # the same way in phase 0, so a comparison trains it once and the others adopt it
    # (base_phase.py); None: this method's phase 0 is its own
    base_phase: str | None = None


METHODS: dict[str, MethodInfo] = {}
DEFAULT_METHODS: tuple[str, ...] = (
    "aanets-lucir", "aanets-icarl", "lucir", "icarl", "aanets-podnet", "podnet",
    "naive", "cumulative", "replay", "lwf", "ewc", "avl-icarl", "der", "bic",
)


def register(name: str, description: str, *, nme: bool = False, memory: str = "none",
             family: str = "avalanche", reference: str = "",
             base_phase: str | None = None) -> Callable[[Factory], Factory]:
    """Decorator: add a factory to the registry under ``name``."""
    def wrap(factory: Factory) -> Factory:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        METHODS[name] = MethodInfo(name, description, factory, nme, memory, family, reference,
                                   base_phase)
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


def memory_plan(info: MethodInfo, cfg: Settings, num_classes: int) -> dict[str, Any]:
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
