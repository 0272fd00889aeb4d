"""The model contract: what the strategy and the plugins read from a model, as Protocols.

A model that lacks a member fails at once, in the component that needs it, with a
``ModelContractError`` naming every missing member (not an AttributeError deep in a callback).
Two shapes of model are accepted by the plugins: ours (``.features(x)`` + ``.classifier``) and
Avalanche's (``.feature_extractor`` + ``.classifier``, as ``avalanche.training.ICaRL`` uses).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from torch import Tensor, nn

CONTRACT_DOC = "See model-contract.md in the aanets-avalanche docs."


class ModelContractError(TypeError):
    """A model lacks a member that a strategy or plugin of this library needs."""


@runtime_checkable
class FeatureModel(Protocol):
    """Plugins' view of a model: the feature, and a classifier that reads it.

    ``model(x) == model.classifier(model.features(x))``; the classifier's input is captured by a
    forward pre-hook, so the feature of a training batch costs no second backbone pass.
    """

    classifier: nn.Module

    def features(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class AvalancheStyleModel(Protocol):
    """Avalanche's shape of the same thing: ``model(x) == classifier(feature_extractor(x))``."""

    feature_extractor: nn.Module
    classifier: nn.Module


@runtime_checkable
class CosineHead(Protocol):
    """An incremental cosine classifier (LUCIR): grows by imprinted classes, exposes cosines."""

    num_classes: int

    def add_classes(self, num_new: int, init_weights: Tensor | None = None) -> None: ...

    def imprint_weights(self, class_features: list[Tensor]) -> Tensor: ...

    def cosine(self, features: Tensor) -> Tensor: ...


@runtime_checkable
class LevelledBackbone(Protocol):
    """A backbone cut into levels: ``backbone(x)`` runs ``levels`` one after the other."""

    levels: nn.ModuleList
    out_dim: int


@runtime_checkable
class AANetsModel(Protocol):
    """What AANetsStrategy needs: a levelled backbone, an incremental cosine head, the feature."""

    backbone: nn.Module
    classifier: nn.Module

    def features(self, x: Tensor) -> Tensor: ...


def protocol_members(protocol: type) -> list[str]:
    """The attributes and methods a Protocol declares, in declaration order."""
    names = list(vars(protocol).get("__annotations__", {}))
    names += [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    return list(dict.fromkeys(names))


def _lacks(obj: object, protocol: type) -> list[str]:
    return [name for name in protocol_members(protocol) if not hasattr(obj, name)]


def _fail(component: str, needs: str, obj: object, missing: Sequence[str]) -> None:
    if missing:
        raise ModelContractError(
            f"{component} needs {needs}; {type(obj).__name__} lacks: {', '.join(missing)}. "
            f"{CONTRACT_DOC}"
        )


def feature_members_missing(model: object) -> list[str]:
    """What a model lacks to be a FeatureModel or an AvalancheStyleModel (empty if neither)."""
    missing = [] if hasattr(model, "classifier") else ["classifier"]
    if not (callable(getattr(model, "features", None)) or hasattr(model, "feature_extractor")):
        missing.append("features or feature_extractor")
    return missing


def require_feature_model(model: object, component: str) -> None:
    """Raise ModelContractError unless ``model`` offers a feature and a classifier."""
    _fail(component, "a model with a .classifier module and its feature (a .features(x) method "
          "or a .feature_extractor module)", model, feature_members_missing(model))


def require_cosine_head(model: object, component: str) -> None:
    """Raise unless ``model.classifier`` is an incremental cosine classifier (CosineHead)."""
    require_feature_model(model, component)
    head = model.classifier  # type: ignore[attr-defined]
    _fail(component, "a cosine classifier as model.classifier (e.g. CosineIncrementalNet's)",
          head, _lacks(head, CosineHead))


def require_aanets_model(model: object, component: str, *, levelled: bool) -> None:
    """Raise unless ``model`` is an AANetsModel; ``levelled``: the backbone must have levels."""
    _fail(component, "a model with .backbone, .classifier and .features(x) (e.g. "
          "CosineIncrementalNet(backbone))", model, _lacks(model, AANetsModel))
    require_cosine_head(model, component)
    if levelled:
        backbone = model.backbone  # type: ignore[attr-defined]
        _fail(component, "a backbone cut into levels (.levels, a ModuleList run in order, and "
              ".out_dim) to build the stable and plastic blocks", backbone,
              _lacks(backbone, LevelledBackbone))


__all__ = [
    "AANetsModel", "AvalancheStyleModel", "CONTRACT_DOC", "CosineHead", "FeatureModel",
    "LevelledBackbone", "ModelContractError", "feature_members_missing", "protocol_members",
    "require_aanets_model",
    "require_cosine_head", "require_feature_model",
]
