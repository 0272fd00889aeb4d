"""``compare --log tensorboard|csv|wandb``: Avalanche loggers on every run's EvaluationPlugin.

What is logged (through Avalanche's metric -> logger path, so any Avalanche logger works):
the training loss and accuracy per epoch (Avalanche's ``loss_metrics`` / ``accuracy_metrics``),
the learning rate of every parameter group per epoch, the AANets a_k per epoch, and after each
phase the accuracy (and NME accuracy) on all classes seen so far and per experience.
Each run logs to ``<out>/logs/<method>/seed<k>/``. A resumed run appends to its CSV, so the
epochs of an interrupted phase appear twice (the later rows are the ones that count).
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any, Sequence

from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from avalanche.logging import BaseLogger


CSV_NAME = "metrics.csv"
CSV_COLUMNS = ("phase", "epoch", "metric", "step", "value")


class LearningRate(PluginMetric[dict]):
    """The lr each parameter group trained with in the epoch (``LR_Epoch/<group name>``)."""

    def __init__(self) -> None:
        super().__init__()
        self._lrs: dict[str, float] = {}

    def result(self) -> dict[str, float]:
        return dict(self._lrs)

    def reset(self) -> None:
        self._lrs = {}

    def before_training_epoch(self, strategy) -> None:
        # read before the epoch: schedulers step at its end, in any plugin order
        self._lrs = {str(group.get("name", i)): float(group["lr"])
                     for i, group in enumerate(strategy.optimizer.param_groups)}

    def after_training_epoch(self, strategy) -> list[MetricValue]:
        step = strategy.clock.train_iterations
        return [MetricValue(self, f"LR_Epoch/{name}", lr, step) for name, lr in self._lrs.items()]

    def __str__(self) -> str:
        return "LR_Epoch"


def training_metrics() -> list[Any]:
    """The metrics logged besides the evaluation accuracies the harness always computes."""
    from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics

    from aanets_avalanche.metrics import aggregation_weight_metrics

    return [*loss_metrics(epoch=True), *accuracy_metrics(epoch=True), LearningRate(),
            *aggregation_weight_metrics()]


class MetricsCSVLogger(BaseLogger):
    """Every scalar metric as one row (phase, epoch, metric, step, value), appended to a CSV.

    Avalanche's own CSVLogger keeps fixed columns (no lr, no a_k) and truncates its files, which
    would erase the first phases of a resumed run; this one writes whatever the metrics emit.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CSV_NAME
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(CSV_COLUMNS)
        self._phase: int | None = None
        self._epoch: int | None = None

    def before_training_exp(self, strategy, metric_values, **kwargs) -> None:
        self._phase = strategy.clock.train_exp_counter
        self._epoch = None

    def before_training_epoch(self, strategy, metric_values, **kwargs) -> None:
        self._epoch = strategy.clock.train_exp_epochs

    def after_training_exp(self, strategy, metric_values, **kwargs) -> None:
        self._epoch = None  # evaluation rows belong to the phase, not to an epoch

    def log_single_metric(self, name, value, x_plot) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return  # images, histograms: not for a CSV
        self._writer.writerow(["" if self._phase is None else self._phase,
                               "" if self._epoch is None else self._epoch, name, x_plot,
                               repr(float(value))])
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def make_loggers(kinds: Sequence[str], folder: Path, *, run_name: str,
                 config: dict[str, Any]) -> list[BaseLogger]:
    """One logger per kind, writing under ``folder`` (the run's log folder)."""
    loggers: list[BaseLogger] = []
    for kind in kinds:
        if kind == "csv":
            loggers.append(MetricsCSVLogger(folder))
        elif kind == "tensorboard":
            from avalanche.logging import TensorboardLogger
            loggers.append(TensorboardLogger(tb_log_dir=str(folder / "tensorboard")))
        elif kind == "wandb":
            folder.mkdir(parents=True, exist_ok=True)
            loggers.append(_scalar_wandb_logger()(
                project_name="aanets-avalanche", run_name=run_name, save_code=False,
                config=config, dir=str(folder), params={"id": uuid.uuid4().hex[:12]}))
    return loggers


def _scalar_wandb_logger() -> type:
    """Avalanche's WandBLogger, for scalar metrics, working with current wandb releases.

    Avalanche 0.6.0's logger calls ``wandb.util.generate_id`` (we pass an explicit run id
    instead) and checks every value against ``wandb.viz.CustomChart``, which wandb no longer
    has; every metric we log is a number, so numbers go straight to ``wandb.log``.
    """
    from avalanche.logging import WandBLogger

    class ScalarWandBLogger(WandBLogger):
        def log_single_metric(self, name, value, x_plot):
            self.step = x_plot
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.wandb.log({name: value}, step=x_plot)

    return ScalarWandBLogger


def close_loggers(loggers: Sequence[BaseLogger]) -> None:
    """Flush and close what the loggers hold open (files, the W&B run)."""
    for logger in loggers:
        if isinstance(logger, MetricsCSVLogger):
            logger.close()
        elif hasattr(logger, "writer"):  # TensorboardLogger
            logger.writer.close()
        elif hasattr(logger, "wandb"):  # WandBLogger
            logger.wandb.finish()


__all__ = ["CSV_COLUMNS", "CSV_NAME", "LearningRate", "MetricsCSVLogger",
           "close_loggers", "make_loggers", "training_metrics"]
