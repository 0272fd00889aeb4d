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
class ControlStep:
    """One step from the harness's protocol toward the authors': the ``--set`` items it adds
    to the step before it, how a table names it, and the suffix of its folder."""

    label: str
    sets: tuple[str, ...]
    slug: str


@dataclass(frozen=True)
class AuthorsProtocol:
    """A method's reference protocol: classes per task, the steps toward the rest of it (each
    a control of ``benchmarks.baselines_check``, the settings adding up), where the authors'
    code sets it, and why the shared protocol hurts the method."""

    classes_per_task: int
    steps: tuple[ControlStep, ...]  # applied in turn on top of the authors' classes per task
    source: str                     # where the reference sets the protocol
    mechanism: str                  # what in the reference's loss makes the protocol matter

    @property
    def settings(self) -> tuple[str, ...]:
        """Every step's --set items: the whole reference protocol the harness can express."""
        return tuple(item for step in self.steps for item in step.sets)


_MAMMOTH = (
    "Mammoth (the authors' code) evaluates DER and DER++ on tasks of 2 classes "
    "(`datasets/configs/seq-cifar10/default.yaml`: N_TASKS 5, N_CLASSES_PER_TASK 2; seq-mnist "
    "likewise) with plain SGD (`utils/args.py`: momentum 0, weight decay 0 by default); its best "
    "arguments for a 200-sample buffer (`utils/best_args.py`) are lr 0.03 with batch 10 for "
    "seq-mnist (one epoch over 6,000 images a class: about 1,200 steps a task) and lr 0.03 with "
    "batch 32 for seq-cifar10 (50 epochs); seq-mnist trains on the images as they are "
    "(`datasets/seq_mnist.py`: no transform but ToTensor) with a two-layer MLP of 100 ReLU "
    "units each, no BatchNorm (`backbone/MNISTMLP.py`), seq-cifar10 augments (crop + flip) and "
    "trains a ResNet-18. The controls follow seq-mnist, the MNIST-like protocol closest to the "
    "check's streams")
_MAMMOTH_STEPS = (
    ControlStep("the authors' optimizer",
                ("train.lr=0.03", "train.momentum=0", "train.weight_decay=0",
                 "train.batch_size=10"), "authors-optimizer"),
    # seq-mnist trains one epoch over 6,000 images a class; 1,000 keep a CPU run near 5 minutes
    ControlStep("one epoch over up to 1,000 images a class",
                ("train.epochs=1", "train.lr_milestones=[]", "data.train_per_class=1000"),
                "authors-scale"),
    # seq-mnist's images are not augmented; DER's logit target is then the same input's
    ControlStep("un-augmented images", ("data.augment=false",), "authors-no-augment"),
    # seq-mnist's network: backbone/MNISTMLP.py (two layers of 100 ReLU units, no BatchNorm)
    ControlStep("the authors' network (a two-layer MLP)", ("model.backbone=mlp",), "authors-mlp"),
)

AUTHORS_PROTOCOLS: dict[str, AuthorsProtocol] = {
    "der": AuthorsProtocol(
        2, _MAMMOTH_STEPS, _MAMMOTH,
        "Mammoth's `models/der.py` trains on the current batch's cross-entropy over all outputs "
        "plus alpha * MSE between the network's logits on one replayed batch and the logits "
        "stored with it; no label of an old class enters the loss. With one class a phase every "
        "current batch is that class, and its cross-entropy falls by raising that one logit for "
        "every input; only the logit regression (alpha 0.3, averaged over all outputs) speaks "
        "for the old classes. The stored logits are those of the augmented view the network saw "
        "(`observe` keeps `outputs.data`, the logits of the augmented `inputs`, beside "
        "`not_aug_inputs`), and a replayed input is augmented afresh (`get_data` is given "
        "the training transform): with "
        "augmentation the regression target belongs to another crop and flip of the image, "
        "without it (seq-mnist) to the same image"),
    "derpp": AuthorsProtocol(
        2, _MAMMOTH_STEPS, _MAMMOTH,
        "Mammoth's `models/derpp.py` is DER's loss plus beta * cross-entropy on a second "
        "replayed batch's stored labels: the old classes' labels enter through one replayed "
        "batch a step, against a whole current batch of the one new class"),
}

__all__ = ["AUTHORS_PROTOCOLS", "AuthorsProtocol", "ControlStep"]
