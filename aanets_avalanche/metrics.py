"""NME (nearest-mean-of-exemplars) accuracy and the aggregation weights as Avalanche metrics."""

from __future__ import annotations

from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from avalanche.evaluation.metrics.accuracy import AccuracyPluginMetric

from .contract import require_feature_model
from .features import ClassifierInputCapture
from .plugins.herding import HerdingMemoryPlugin


class _NMEAccuracy(AccuracyPluginMetric):
    """Accuracy of the nearest class mean of the herding memory, on the strategy's own eval
    forward pass (the feature is captured at the classifier input, no second pass).

    ``memory`` is the HerdingMemoryPlugin whose class means are used. An EvaluationPlugin is
    usually built before the strategy (and its memory) exists, so it may be left out: the
    metric then takes the strategy's ``memory`` attribute (AANetsStrategy has one), else the
    one HerdingMemoryPlugin among its plugins.
    """

    def __init__(self, reset_at: str, emit_at: str, memory: HerdingMemoryPlugin | None = None) -> None:
        super().__init__(reset_at=reset_at, emit_at=emit_at, mode="eval")
        self._capture = ClassifierInputCapture()
        self._given = memory
        self._memory: HerdingMemoryPlugin | None = memory

    @staticmethod
    def _strategy_memory(strategy) -> HerdingMemoryPlugin | None:
        own = getattr(strategy, "memory", None)
        if isinstance(own, HerdingMemoryPlugin):
            return own
        found = [p for p in strategy.plugins if isinstance(p, HerdingMemoryPlugin)]
        return found[0] if len(found) == 1 else None

    def before_eval(self, strategy):
        self._memory = self._given or self._strategy_memory(strategy)
        if self._memory is None:
            raise RuntimeError("NME accuracy needs the strategy's HerdingMemoryPlugin: pass it as "
                               "nme_accuracy_metrics(memory=...) or add exactly one to the plugins")
        require_feature_model(strategy.model, "NME accuracy")
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
    def __init__(self, memory: HerdingMemoryPlugin | None = None) -> None:
        super().__init__(reset_at="stream", emit_at="stream", memory=memory)

    def __str__(self) -> str:
        return "Top1_NME_Acc_Stream"


class ExperienceNMEAccuracy(_NMEAccuracy):
    def __init__(self, memory: HerdingMemoryPlugin | None = None) -> None:
        super().__init__(reset_at="experience", emit_at="experience", memory=memory)

    def __str__(self) -> str:
        return "Top1_NME_Acc_Exp"


def nme_accuracy_metrics(*, experience: bool = False, stream: bool = False,
                         memory: HerdingMemoryPlugin | None = None) -> list[_NMEAccuracy]:
    """NME accuracy metrics for an EvaluationPlugin, like avalanche's accuracy_metrics."""
    metrics: list[_NMEAccuracy] = []
    if experience:
        metrics.append(ExperienceNMEAccuracy(memory))
    if stream:
        metrics.append(StreamNMEAccuracy(memory))
    return metrics


class AggregationWeights(PluginMetric[list]):
    """The a_k of every level after each training epoch, as ``Aggregation_a_k/level<k>``
    (x = training iterations, as Avalanche's epoch loss), for any logger (TensorBoard, CSV,
    W&B). Emits nothing while the strategy has no aggregated network (phase 0, "single")."""

    def __init__(self) -> None:
        super().__init__()
        self._weights: list[float] | None = None

    def result(self) -> list[float] | None:
        return self._weights

    def reset(self) -> None:
        self._weights = None

    def after_training_epoch(self, strategy) -> list[MetricValue]:
        read = getattr(strategy, "aggregation_weights", None)
        self._weights = read() if callable(read) else None
        if not self._weights:
            return []
        step = strategy.clock.train_iterations
        return [MetricValue(self, f"Aggregation_a_k/level{k}", float(a), step)
                for k, a in enumerate(self._weights, start=1)]

    def __str__(self) -> str:
        return "Aggregation_a_k"


def aggregation_weight_metrics() -> list[AggregationWeights]:
    """The a_k per level after every epoch, for an EvaluationPlugin (like accuracy_metrics)."""
    return [AggregationWeights()]


__all__ = ["AggregationWeights", "ExperienceNMEAccuracy", "StreamNMEAccuracy",
           "aggregation_weight_metrics", "nme_accuracy_metrics"]
