"""What AANetsStrategy and PODNetStrategy share as Avalanche SupervisedTemplates: growing the
network at a new experience (two branches from the first incremental one, new classes imprinted
from current features), a per-experience lr scheduler stepped at the end of every epoch,
DataLoader workers, bf16 autocast (CUDA or CPU, see precision.py), torch.compile and the
channels-last memory format (the speed switches, which the harness sets through
``set_speed_options``).

A class using it lists this mixin before SupervisedTemplate, sets ``branch_mode``,
``num_workers``, ``use_amp`` and ``lr_scheduler`` (or None), may set ``fused_branches``,
``compile_model`` and ``channels_last``, has a model with ``.backbone`` and ``.classifier`` (``num_classes``,
``add_classes(n, init)``) and implements ``imprinted_weights``. Plugins that load data
themselves (``memory``, ``aggregation``, ``finetuning``, where present) follow its workers.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from .compiled import compiled_forward
from .features import extract_features
from .models import AggregatedBackbone
from .plugins.aggregation import AggregationUpdatePlugin
from .precision import precision_name, resolve_amp


class ClassIncrementalParts:
    """Mixin for a SupervisedTemplate subclass (see the module docstring)."""

    fused_branches = False  # the two branches of a level as one grouped convolution
    compile_model = False   # torch.compile the forward pass
    channels_last = False   # convolution tensors in NHWC: oneDNN's fast layout on the CPU

    def model_adaptation(self, model: nn.Module | None = None) -> nn.Module:
        """At a new training experience: build the two-branch network (first incremental
        experience, unless branch_mode is "single"), then add the new classes: the classifier's
        own initialisation in the first experience, ``imprinted_weights`` afterwards."""
        model = self.model if model is None else model
        model = self._grow(model)
        if self.channels_last:  # every 4-d weight, new branches and classes included
            model.to(memory_format=torch.channels_last)
        return model

    def _grow(self, model: nn.Module) -> nn.Module:
        if not self.is_training:
            return model.to(self.device)
        classifier = model.classifier
        num_old = classifier.num_classes
        new_classes = self.arriving_classes(num_old)
        if not new_classes:
            return model.to(self.device)  # classes already known: nothing to grow
        model.to(self.device)
        if num_old == 0:
            classifier.add_classes(len(new_classes))
            return model
        if self.branch_mode != "single" and not isinstance(model.backbone, AggregatedBackbone):
            model.backbone = AggregatedBackbone(model.backbone, mode=self.branch_mode,
                                                fused=self.fused_branches)
        feats, labels = extract_features(
            model, self.experience.dataset.eval(), batch_size=self.eval_mb_size, device=self.device,
            num_workers=self.num_workers,
        )
        weights = self.imprinted_weights([feats[labels == c] for c in new_classes], new_classes)
        classifier.add_classes(len(new_classes), weights.to(self.device))
        return model

    # -- sharing the base phase --------------------------------------------------------------
    def adopt_base_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Make another strategy's attributes at the end of its base phase (phase 0) this
        strategy's, whatever that one's branch mode (same class, flavour and settings).

        Until phase 1 every branch mode trains the same single network with the same loss, so
        LUCIR, AANets and the dual-branch ablation of one flavour (PODNet and POD + AANets
        likewise), built with the same settings and seed, reach the same state after phase 0
        (the reference code also reuses one phase-0 model). The learned state is kept
        (network, exemplars, clock, lr scheduler); the branch mode and the level-2 plugin are
        this strategy's. ``state`` is a dict of
        attributes, e.g. from a checkpoint; the result can update ``vars(self)``.
        """
        flavour = getattr(self, "flavour", None)
        if state.get("flavour") != flavour:
            raise ValueError(f"a base phase of flavour {state.get('flavour')!r} cannot be adopted "
                             f"by a {flavour!r} strategy")
        clock, model = state.get("clock"), state.get("model")
        if clock is None or clock.train_exp_counter != 1 or model is None:
            raise ValueError("only the state right after the base phase (one experience "
                             "trained) can be shared between branch modes")
        if isinstance(getattr(model, "backbone", None), AggregatedBackbone):
            raise ValueError("the state already holds a two-branch network: not a base phase")
        adopted = dict(state)
        adopted["branch_mode"] = self.branch_mode
        plugins = [p for p in state["plugins"] if not isinstance(p, AggregationUpdatePlugin)]
        aggregation = getattr(self, "aggregation", None)
        if aggregation is not None:  # built right after the distillation plugin
            aggregation.memory = state["memory"]  # the adopted exemplars
            plugins.insert(plugins.index(state["distillation"]) + 1, aggregation)
        adopted["aggregation"] = aggregation
        adopted["plugins"] = plugins
        return adopted

    @abstractmethod
    def imprinted_weights(self, class_features: list[Tensor], new_classes: list[int]) -> Tensor:
        """Classifier weights for the new classes from their current features (one tensor per
        class, un-augmented training images)."""

    def aggregation_weights(self) -> list[float] | None:
        """The a_k of each level (None while the network is a single branch)."""
        backbone = self.model.backbone
        return backbone.aggregation_weights() if isinstance(backbone, AggregatedBackbone) else None

    def arriving_classes(self, num_known: int) -> list[int]:
        """Labels of the current experience not seen before ([] if it brings none); they must
        be num_known, num_known + 1, ... (labels renumbered in arrival order)."""
        new_classes = sorted(int(c) for c in self.experience.classes_in_this_experience)
        if all(c < num_known for c in new_classes):
            return []
        expected = list(range(num_known, num_known + len(new_classes)))
        if new_classes != expected:
            raise ValueError(
                f"{type(self).__name__} expects the experience's labels to be {expected[0]}..{expected[-1]} "
                f"(contiguous, in arrival order) but got {new_classes}; build the benchmark with "
                "class_ids_from_zero_from_first_exp=True"
            )
        return new_classes

    step_lr_at_epoch_end = True  # a subclass may step its scheduler elsewhere

    def _after_training_epoch(self, **kwargs) -> None:
        super()._after_training_epoch(**kwargs)
        if self.lr_scheduler is not None and self.step_lr_at_epoch_end:
            self.lr_scheduler.step()  # end of epoch, standard PyTorch practice

    def make_train_dataloader(self, num_workers: int | None = None, **kwargs) -> None:
        workers = self.num_workers if num_workers is None else num_workers
        kwargs.setdefault("persistent_workers", workers > 0)  # workers live across epochs
        super().make_train_dataloader(num_workers=workers, **kwargs)

    def make_eval_dataloader(self, num_workers: int | None = None, **kwargs) -> None:
        workers = self.num_workers if num_workers is None else num_workers
        super().make_eval_dataloader(num_workers=workers, **kwargs)

    def set_speed_options(self, *, num_workers: int | None = None,
                          use_amp: bool | str | None = None,
                          compile_model: bool | None = None,
                          channels_last: bool | None = None) -> None:
        """Change the loader workers, bf16 autocast (True, False or "auto", resolved for this
        strategy's device by ``precision.resolve_amp``), torch.compile or the channels-last
        layout after construction (the harness applies its command-line switches this way)."""
        helpers = [getattr(self, name, None) for name in ("memory", "aggregation", "finetuning")]
        helpers = [h for h in helpers if h is not None]
        if num_workers is not None:
            self.num_workers = num_workers
            for helper in helpers:
                if hasattr(helper, "num_workers"):
                    helper.num_workers = num_workers
        if use_amp is not None:
            self.use_amp = resolve_amp(use_amp, self.device)
            for helper in helpers:
                if hasattr(helper, "use_amp"):
                    helper.use_amp = self.use_amp
        if compile_model is not None:
            self.compile_model = compile_model
        if channels_last is not None:
            self.channels_last = bool(channels_last)
            if self.channels_last:
                self.model.to(memory_format=torch.channels_last)

    # -- mixed precision (bf16 autocast: no loss scaling needed) and torch.compile -------------
    @property
    def precision(self) -> str:
        """What training computes in: "bf16" (autocast) or "fp32" (``use_amp``, resolved)."""
        return precision_name(self.use_amp)

    def _autocast(self):
        """bf16 autocast while training with ``use_amp``; evaluation (CNN and NME accuracy,
        whose features the metric captures from this forward) always runs in fp32."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                              enabled=self.use_amp and self.is_training)

    def forward(self):
        with self._autocast():
            if self.compile_model:
                output = compiled_forward(self)
            else:
                output = super().forward()
        # fp32 logits: the criterion, the distillation terms and the metrics read them
        return output.float() if torch.is_tensor(output) else output

    def _before_backward(self, **kwargs) -> None:
        with self._autocast():  # the old model's forward (distillation); the losses cast to fp32
            super()._before_backward(**kwargs)


__all__ = ["ClassIncrementalParts"]
