"""How a baseline's authors train and evaluate it, where the harness's shared protocol differs.

The harness trains every method with one preset's optimizer and one stream's task shape, as
class-incremental papers compare methods. A method tuned by its authors for another protocol can
fall below the order a reviewer expects (``benchmarks.baselines_check``); its entry here says
what the authors do, where their code says so, and what in their loss makes the difference, so
that the check can re-run the method under the authors' protocol and its row can say why.
Facts are read from the reference implementation and said in our words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthorsProtocol:
    """A method's reference protocol: classes per task, the optimizer settings (as ``--set``
    items) its authors use, where their code sets both, and why the shared protocol hurts it."""

    classes_per_task: int
    optimizer: tuple[str, ...]  # --set KEY=VALUE items, applied on top of the preset
    source: str                 # where the reference sets the protocol
    mechanism: str              # what in the reference's loss makes the protocol matter


_MAMMOTH = (
    "Mammoth (the authors' code) evaluates DER and DER++ on tasks of 2 classes "
    "(`datasets/configs/seq-cifar10/default.yaml`: N_TASKS 5, N_CLASSES_PER_TASK 2; seq-mnist "
    "likewise) with plain SGD (`utils/args.py`: momentum 0, weight decay 0 by default); its best "
    "arguments for a 200-sample buffer (`utils/best_args.py`) are lr 0.03 with batch 10 for "
    "seq-mnist (1 epoch, about 1,200 steps a task) and lr 0.03 with batch 32 for seq-cifar10 (50 "
    "epochs)")
_MAMMOTH_OPTIMIZER = ("train.lr=0.03", "train.momentum=0", "train.weight_decay=0",
                      "train.batch_size=10")

AUTHORS_PROTOCOLS: dict[str, AuthorsProtocol] = {
    "der": AuthorsProtocol(
        2, _MAMMOTH_OPTIMIZER, _MAMMOTH,
        "Mammoth's `models/der.py` trains on the current batch's cross-entropy over all outputs "
        "plus alpha * MSE between the network's logits on one replayed batch and the logits "
        "stored with it; no label of an old class enters the loss. With one class a phase every "
        "current batch is that class, and its cross-entropy falls by raising that one logit for "
        "every input; only the logit regression (alpha 0.3, averaged over all outputs) speaks "
        "for the old classes, and at lr 0.1 with momentum 0.9 a few steps undo what it holds"),
    "derpp": AuthorsProtocol(
        2, _MAMMOTH_OPTIMIZER, _MAMMOTH,
        "Mammoth's `models/derpp.py` is DER's loss plus beta * cross-entropy on a second "
        "replayed batch's stored labels: the old classes' labels enter through one replayed "
        "batch a step, against a whole current batch of the one new class"),
}

__all__ = ["AUTHORS_PROTOCOLS", "AuthorsProtocol"]
