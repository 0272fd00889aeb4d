"""NME (nearest-mean-of-exemplars) accuracy as an Avalanche metric."""

from __future__ import annotations

from avalanche.evaluation.metrics.accuracy import AccuracyPluginMetric

from .features import ClassifierInputCapture
from .plugins.herding import HerdingMemoryPlugin


class _NMEAccuracy(AccuracyPluginMetric):
    """Accuracy of the nearest class mean of the herding memory, on the strategy's own eval
    forward pass (the feature is captured at the classifier input, no second pass)."""

    def __init__(self, reset_at: str, emit_at: str) -> None:
        super().__init__(reset_at=reset_at, emit_at=emit_at, mode="eval")
        self._capture = ClassifierInputCapture()
        self._memory: HerdingMemoryPlugin | None = None

    def before_eval(self, strategy):
        self._memory = next((p for p in strategy.plugins if isinstance(p, HerdingMemoryPlugin)), None)
        if self._memory is None:
            raise RuntimeError("NME accuracy needs a HerdingMemoryPlugin among the strategy's plugins")
        self._capture.attach(strategy.model)
        return super().before_eval(strategy)

    def after_eval(self, strategy):
        self._capture.detach()
        return super().after_eval(strategy)

    def update(self, strategy) -> None:
        if self._memory is None or self._memory.class_means is None:
            return  # nothing trained yet: no means to compare with
        predictions = self._memory.nme_predict(self._capture.features)
        self._metric.update(predictions, strategy.mb_y)


class StreamNMEAccuracy(_NMEAccuracy):
    def __init__(self) -> None:
        super().__init__(reset_at="stream", emit_at="stream")

    def __str__(self) -> str:
        return "Top1_NME_Acc_Stream"


class ExperienceNMEAccuracy(_NMEAccuracy):
    def __init__(self) -> None:
        super().__init__(reset_at="experience", emit_at="experience")

    def __str__(self) -> str:
        return "Top1_NME_Acc_Exp"


def nme_accuracy_metrics(*, experience: bool = False, stream: bool = False) -> list[_NMEAccuracy]:
    """NME accuracy metrics for an EvaluationPlugin, like avalanche's accuracy_metrics."""
    metrics: list[_NMEAccuracy] = []
    if experience:
        metrics.append(ExperienceNMEAccuracy())
    if stream:
        metrics.append(StreamNMEAccuracy())
    return metrics


__all__ = ["ExperienceNMEAccuracy", "StreamNMEAccuracy", "nme_accuracy_metrics"]
