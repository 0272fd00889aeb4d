"""Capture of every level's output map during a forward pass (what POD-spatial distils).

The output of level k is taken as it leaves the level; for the last level, which ends in
global pooling, the map entering the pool. For an AggregatedBackbone the captured maps are the
MIXED ones, a_k * stable + (1 - a_k) * plastic: level k's mixed map is what enters both blocks of
level k+1, and the last level's is mixed from the two branches' pre-pool maps (pooling is
linear, so this is the map whose pooling gives the network's feature). Hooks only keep
references to tensors the forward pass computes anyway: no extra work per batch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .models.aggregated import AggregatedBackbone

_POOLS = (nn.AdaptiveAvgPool2d, nn.AvgPool2d)


class _Tap:
    """A forward (pre-)hook that stores the module's input or output under a key."""

    def __init__(self, store: dict[Any, Tensor], key: Any, use_input: bool) -> None:
        self.store, self.key, self.use_input = store, key, use_input

    def __call__(self, module: nn.Module, args: tuple[Tensor, ...], output: Tensor | None = None) -> None:
        self.store[self.key] = args[0] if self.use_input else output


def _final_pool(level: nn.Module) -> nn.Module:
    pools = [m for m in level.modules() if isinstance(m, _POOLS)]
    if not pools:
        raise ValueError("the last level of the backbone has no average pooling to tap")
    return pools[-1]


class LevelOutputCapture:
    """Keeps the level maps of the last forward pass of ``backbone`` (see module docstring)."""

    def __init__(self) -> None:
        self._store: dict[Any, Tensor] = {}
        self._handles: list[Any] = []
        self._backbone: nn.Module | None = None

    def attach(self, backbone: nn.Module) -> None:
        self.detach()
        self._backbone = backbone
        store = self._store
        if isinstance(backbone, AggregatedBackbone):
            for k, level in enumerate(backbone.plastic_levels[1:]):
                self._handles.append(level.register_forward_pre_hook(_Tap(store, k, True)))
            for key, levels in (("stable", backbone.stable_levels), ("plastic", backbone.plastic_levels)):
                pool = _final_pool(levels[-1])
                self._handles.append(pool.register_forward_pre_hook(_Tap(store, key, True)))
        else:
            levels = getattr(backbone, "levels", None)
            if levels is None:
                raise TypeError("LevelOutputCapture needs a backbone with .levels (see models/resnet.py)")
            for k, level in enumerate(levels[:-1]):
                self._handles.append(level.register_forward_hook(_Tap(store, k, False)))
            pool = _final_pool(levels[-1])
            self._handles.append(pool.register_forward_pre_hook(_Tap(store, "last", True)))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._store.clear()
        self._backbone = None

    def maps(self) -> list[Tensor]:
        """One map per level, first to last, from the latest forward pass."""
        backbone = self._backbone
        if backbone is None:
            raise RuntimeError("LevelOutputCapture is not attached to a backbone")
        if isinstance(backbone, AggregatedBackbone):
            n = len(backbone.plastic_levels)
            alpha = backbone.alphas[-1]
            last = alpha * self._store["stable"] + (1 - alpha) * self._store["plastic"]
        else:
            n = len(backbone.levels)
            last = self._store["last"]
        return [self._store[k] for k in range(n - 1)] + [last]


__all__ = ["LevelOutputCapture"]
