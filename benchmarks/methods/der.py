"""Dark Experience Replay (DER) and DER++ as their authors define them (Buzzega et al., NeurIPS
2020; the Mammoth code, aimagelab/mammoth models/der.py, models/derpp.py, utils/buffer.py).

One plugin on Avalanche's ``Naive``:

- the buffer is a reservoir sample of the stream (every training sample seen so far has the same
  chance to be in it), and holds, for each kept sample, its input *before* augmentation, its label
  and the logits the network gave it in training mode at the iteration it was seen (the whole
  output vector, the logits of classes not seen yet included, as Mammoth keeps them);
- every iteration adds ``alpha * MSE(net(aug(x_b)), z_b)`` on a replay batch drawn from the
  buffer without replacement (DER), and DER++ adds ``beta * CE(net(aug(x_b')), y_b')`` on a
  second, independent draw; each replay batch has its own forward pass after the current batch's,
  as Mammoth's three passes (BatchNorm sees three batches);
- the current batch's samples enter the buffer after the optimizer step, so a sample is never
  replayed in the iteration that stored it;
- the head is one linear layer over all classes from the start (Mammoth's class-incremental
  networks), trained with cross-entropy over all of its outputs; evaluation reads only the logits
  of the classes seen so far (Mammoth's ``evaluate`` slices them the same way).

Avalanche 0.6.0's ``DER`` differs from this on purpose of its own (its comments list it): it
stores logits computed in eval mode from un-augmented inputs once per phase, keeps a
class-balanced buffer, and replays through one joint forward pass with one replay batch; on a few
iterations per phase its eval-mode logits (BatchNorm running statistics that lag behind the
weights) are far larger than the trained outputs and the logit regression diverged.

Per iteration everything is tensor work on the training device (reservoir slots drawn for the
whole batch at once, replay augmentation as batched tensor ops); the buffer lives on the device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from torch import Tensor


def reservoir_slots(num_seen: int, batch: int, capacity: int, device: torch.device | str,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Where reservoir sampling puts each of ``batch`` new samples, as one draw for the batch.

    Sample i is the ``num_seen + i``-th of the stream: while the buffer is not full it takes the
    next free slot; afterwards it replaces slot j, j uniform in 0..num_seen+i, when j < capacity
    (Vitter's algorithm R, as Mammoth's ``reservoir``). Two samples of a batch that draw the same
    slot resolve as the one-by-one loop does: the later one is kept. Returns (slots, rows): row
    ``rows[k]`` of the batch goes to slot ``slots[k]``; slots are distinct.
    """
    if capacity <= 0 or batch <= 0:
        empty = torch.empty(0, dtype=torch.long, device=device)
        return empty, empty
    positions = torch.arange(batch, device=device, dtype=torch.long) + int(num_seen)
    # uniform integer in 0..position (float64: exact for any stream length a run reaches)
    draws = torch.rand(batch, device=device, dtype=torch.float64, generator=generator)
    drawn = (draws * (positions + 1).to(torch.float64)).floor().long().minimum(positions)
    slots = torch.where(positions < capacity, positions, drawn)
    rows = torch.arange(batch, device=device, dtype=torch.long)
    kept = slots < capacity
    slots, rows = slots[kept], rows[kept]
    # the last row drawn to a slot wins, as in the sequential loop
    winner = torch.full((capacity,), -1, dtype=torch.long, device=device)
    winner.scatter_reduce_(0, slots, rows, reduce="amax")
    last = winner[slots] == rows
    return slots[last], rows[last]


class DarkExperienceReplayPlugin(SupervisedPlugin):
    """DER (``beta == 0``) or DER++ (``beta > 0``) on any SupervisedTemplate whose model returns
    one logit vector per sample (see the module docstring).

    ``augmentation``: the batched path's per-mini-batch augmentation (BatchAugmentation), applied
    to each replay batch as the stream's augmentation is applied to the current batch; the buffer
    keeps the inputs as they came from the loader, before BatchAugmentPlugin changed them. On the
    per-sample path (None) the loader has augmented them already, and replay adds nothing.
    ``batch_size_mem``: replay batch size (None: the training batch size, Mammoth's default).
    """

    def __init__(self, mem_size: int, alpha: float, beta: float = 0.0,
                 batch_size_mem: int | None = None, augmentation: Any = None) -> None:
        super().__init__()
        if mem_size <= 0:
            raise ValueError(f"mem_size must be > 0, got {mem_size}")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got {alpha}, {beta}")
        self.mem_size = int(mem_size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.batch_size_mem = batch_size_mem
        self.augmentation = augmentation
        self.examples: Tensor | None = None  # [mem_size, *input shape], the loader's dtype
        self.labels: Tensor | None = None    # [mem_size] int64
        self.logits: Tensor | None = None    # [mem_size, num outputs] float32
        self.num_seen = 0                    # training samples the reservoir has been offered
        self.seen_classes = 0                # outputs evaluation reads (label k = k-th class)
        self._inputs: Tensor | None = None   # this iteration's batch before augmentation
        self._outputs: Tensor | None = None  # ... and its training-mode logits

    def __len__(self) -> int:
        return min(self.num_seen, self.mem_size)

    # ------------------------------------------------------------------ the training iteration

    def before_training_exp(self, strategy, **kwargs) -> None:
        classes = getattr(strategy.experience, "classes_in_this_experience", None) or []
        if len(classes):
            self.seen_classes = max(self.seen_classes, int(max(classes)) + 1)

    def before_training_iteration(self, strategy, **kwargs) -> None:
        self._inputs = strategy.mb_x  # BatchAugmentPlugin replaces it (never in place) later

    def after_forward(self, strategy, **kwargs) -> None:
        self._outputs = strategy.mb_output.detach()

    def before_backward(self, strategy, **kwargs) -> None:
        if len(self) == 0:
            return
        size = int(self.batch_size_mem or strategy.train_mb_size)
        if self.alpha:
            x, _, z = self.sample(size)
            strategy.loss += self.alpha * F.mse_loss(strategy.model(x), z)
        if self.beta:
            x, y, _ = self.sample(size)
            strategy.loss += self.beta * F.cross_entropy(strategy.model(x), y)

    def after_training_iteration(self, strategy, **kwargs) -> None:
        if self._inputs is not None and self._outputs is not None:
            self.add(self._inputs, strategy.mb_y, self._outputs)
        self._inputs = self._outputs = None

    def after_eval_forward(self, strategy, **kwargs) -> None:
        if 0 < self.seen_classes < strategy.mb_output.shape[1]:
            strategy.mb_output = strategy.mb_output[:, : self.seen_classes]

    # ------------------------------------------------------------------ the buffer

    @torch.no_grad()
    def add(self, inputs: Tensor, labels: Tensor, logits: Tensor) -> None:
        """Offer a batch to the reservoir (inputs un-augmented, logits in training mode)."""
        if self.examples is None:
            device = inputs.device
            self.examples = torch.zeros((self.mem_size, *inputs.shape[1:]), dtype=inputs.dtype,
                                        device=device)
            self.labels = torch.zeros(self.mem_size, dtype=torch.long, device=device)
            self.logits = torch.zeros((self.mem_size, *logits.shape[1:]), dtype=torch.float32,
                                      device=device)
        assert self.labels is not None and self.logits is not None
        slots, rows = reservoir_slots(self.num_seen, inputs.shape[0], self.mem_size,
                                      self.examples.device)
        self.num_seen += int(inputs.shape[0])
        if slots.numel():
            self.examples[slots] = inputs[rows].to(self.examples.device, self.examples.dtype)
            self.labels[slots] = labels[rows].to(self.labels.device, torch.long)
            self.logits[slots] = logits[rows].to(self.logits.device, torch.float32)

    def sample(self, size: int) -> tuple[Tensor, Tensor, Tensor]:
        """``size`` distinct buffer entries (fewer if it holds fewer), uniformly drawn, inputs
        augmented as the current batch is: (inputs, labels, stored logits)."""
        assert self.examples is not None and self.labels is not None and self.logits is not None
        n = len(self)
        index = torch.randperm(n, device=self.examples.device)[: min(size, n)]
        x = self.examples[index]
        if self.augmentation is not None:
            x = self.augmentation(x)
        return x, self.labels[index], self.logits[index]

    def __getstate__(self) -> dict[str, Any]:  # a checkpoint never holds the iteration's batch
        state = dict(self.__dict__)
        state.update(_inputs=None, _outputs=None)
        return state


__all__ = ["DarkExperienceReplayPlugin", "reservoir_slots"]
