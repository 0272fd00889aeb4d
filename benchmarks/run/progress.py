"""How a run shows progress: tqdm bars on a terminal, one line per phase otherwise (CI logs,
``nohup``, pipes), or nothing (``--quiet``).

The epoch bar shows the epoch's mean training loss and the lr it trained with. The loss is
summed as a tensor on the training device and read once per epoch: no per-batch sync. A run
whose epoch loss is not finite stops there (RunDiverged): a diverged run has no numbers to report.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm

from ..errors import RunDiverged

MODES = ("bars", "lines", "off")


def progress_mode(quiet: bool, stream: Any = None) -> str:
    """'off' when quiet, 'bars' when ``stream`` (default stderr, where tqdm draws) is a terminal,
    else 'lines'."""
    if quiet:
        return "off"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bars" if callable(isatty) and isatty() else "lines"


class EpochProgress(SupervisedPlugin):
    """Mean loss and lr of each epoch, and a tqdm bar over the epochs of a phase in 'bars' mode;
    raises RunDiverged at the end of an epoch whose mean loss is not finite.

    Always installed, so a checkpoint written with bars on restores with bars off and the other
    way round.
    """

    def __init__(self, enabled: bool, position: int = 2):
        super().__init__()
        self.enabled, self.position, self.bar = enabled, position, None
        self.last_loss: float | None = None
        self.last_lr: float | None = None
        self._loss_sum: Any = None
        self._batches = 0

    def before_training_exp(self, strategy, **kwargs):
        if self.enabled:
            self.bar = tqdm(total=strategy.train_epochs, desc="epochs", leave=False,
                            position=self.position, dynamic_ncols=True)

    def before_training_epoch(self, strategy, **kwargs):
        self._loss_sum, self._batches = None, 0
        groups = strategy.optimizer.param_groups
        self.last_lr = float(groups[0]["lr"]) if groups else None

    def after_training_iteration(self, strategy, **kwargs):
        loss = strategy.loss.detach()
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        self._batches += 1

    def after_training_epoch(self, strategy, **kwargs):
        if self._batches:
            self.last_loss = float(self._loss_sum) / self._batches
            if not math.isfinite(self.last_loss):
                clock = strategy.clock  # the last plugin: it has counted this epoch already
                lr = "?" if self.last_lr is None else f"{self.last_lr:g}"
                raise RunDiverged(
                    f"the training loss is {self.last_loss} in phase {clock.train_exp_counter} "
                    f"(phase 0 is the base phase), epoch {clock.train_exp_epochs}, at lr {lr}: "
                    "the run diverged and records no numbers")
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{self.last_loss:.4f}" if self.last_loss is not None else "-",
                                 lr=f"{self.last_lr:g}" if self.last_lr is not None else "-")
            self.bar.update(1)

    def after_training_exp(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __getstate__(self):  # never pickle a live bar or a device tensor into a checkpoint
        state = dict(self.__dict__)
        state.update(bar=None, _loss_sum=None)
        return state


def phase_line(method: str, seed: int, phase: int, phases: int, seconds: float,
               accuracy: float, epochs: EpochProgress) -> str:
    """One line per finished phase, for logs that are not a terminal."""
    loss = "-" if epochs.last_loss is None else f"{epochs.last_loss:.4f}"
    lr = "-" if epochs.last_lr is None else f"{epochs.last_lr:g}"
    return (f"{method} seed {seed}: phase {phase} (of 0-{phases - 1}) done in {seconds:.1f} s, "
            f"accuracy {100 * accuracy:.2f}%, last epoch loss {loss}, lr {lr}")


__all__ = ["EpochProgress", "MODES", "phase_line", "progress_mode"]
