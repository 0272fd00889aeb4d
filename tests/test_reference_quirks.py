"""reference_quirks: each behaviour of the reference code we deliberately differ from switches
on with the flag (and only with it). One short two-phase run per setting, recorded once."""

from types import SimpleNamespace

import pytest
import torch
from avalanche.core import SupervisedPlugin
from synthetic import tiny_benchmark
from test_strategy import make_strategy
from torch import nn
from torch.utils.data import RandomSampler, SequentialSampler

from aanets_avalanche.features import extract_features
from aanets_avalanche.plugins import AggregationUpdatePlugin, herding_order, herding_order_reference

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


class Recorder(SupervisedPlugin):
    """Records, during phase 1, the lr of both levels per epoch, the a_k gradients per level-1
    iteration and the level-2 loader."""

    def __init__(self):
        super().__init__()
        self.lr, self.fusion_lr, self.grads, self.loader = [], [], [], None

    @staticmethod
    def _level2(strategy) -> AggregationUpdatePlugin:
        return next(p for p in strategy.plugins if isinstance(p, AggregationUpdatePlugin))

    def after_training_iteration(self, strategy, **kwargs):
        if strategy.clock.train_exp_counter == 1:
            alphas = strategy.model.backbone.alphas.parameters()
            self.grads.append([None if a.grad is None else float(a.grad.sum()) for a in alphas])
            self.in_use = (strategy.optimizer.param_groups[0]["lr"],
                           self._level2(strategy).optimizer.param_groups[0]["lr"])

    def after_training_epoch(self, strategy, **kwargs):
        if strategy.clock.train_exp_counter == 1:
            level2 = self._level2(strategy)
            self.lr.append(self.in_use[0])  # the rates this epoch ran with (both levels)
            self.fusion_lr.append(self.in_use[1])
            loader = level2.balanced_loader()
            labels = [int(level2.balanced_set[i][1]) for i in range(len(level2.balanced_set))]
            self.loader = (type(loader.sampler), loader.batch_size, labels)


@pytest.fixture(scope="module")
def runs():
    bench = tiny_benchmark(num_classes=6, base=2, phases=2)
    out = {}
    for flavour, quirks in (("lucir", False), ("lucir", True), ("icarl", True)):
        recorder = Recorder()
        strategy = make_strategy([recorder], flavour=flavour, reference_quirks=quirks,
                                 train_epochs=3, lr=0.1, lr_milestones=(2,), fusion_lr=0.05,
                                 balanced_per_class=3)
        for exp in bench.train_stream[:2]:
            strategy.train(exp)
        out[flavour, quirks] = SimpleNamespace(strategy=strategy, rec=recorder)
    return out


def test_quirk1_lr_schedulers_step_at_epoch_start(runs):
    ours, reference = runs["lucir", False].rec, runs["lucir", True].rec
    assert ours.lr == pytest.approx([0.1, 0.1, 0.01])            # decay after epoch 2 (index 1)
    assert reference.lr == pytest.approx([0.1, 0.01, 0.01])      # one epoch early
    assert ours.fusion_lr == pytest.approx([0.05, 0.05, 0.005])  # level 2 alike
    assert reference.fusion_lr == pytest.approx([0.05, 0.005, 0.005])


def test_quirk2_lucir_aggregation_gradient_is_never_zeroed(runs):
    accumulated = runs["lucir", True].rec.grads
    assert all(g is not None for step in accumulated for g in step)
    assert len({tuple(step) for step in accumulated}) == len(accumulated)  # level 1 adds to it
    for key in (("lucir", False), ("icarl", True)):  # ours, and the reference's iCaRL trainer
        assert all(g is None for step in runs[key].rec.grads for g in step), key
    strategy = runs["lucir", True].strategy
    alphas = list(strategy.model.backbone.alphas.parameters())
    assert all(a.grad is not None and a.requires_grad for a in alphas)  # kept across phases
    carried = Recorder._level2(strategy).carried_grad  # survives a checkpoint (pickling drops .grad)
    assert [torch.equal(c, a.grad) for c, a in zip(carried, alphas)] == [True] * len(alphas)


def test_quirk3_balanced_loader_unshuffled_new_draws_first(runs):
    sampler, batch, labels = runs["lucir", True].rec.loader
    assert (sampler, batch) == (SequentialSampler, 32)  # the eval (test) batch size
    assert set(labels[:6]) == {2, 3} and set(labels[6:]) == {0, 1}  # 2 new x 3 draws, then exemplars
    sampler, batch, labels = runs["lucir", False].rec.loader
    assert (sampler, batch) == (RandomSampler, 32)
    assert set(labels[:-6]) == {0, 1} and set(labels[-6:]) == {2, 3}


def test_quirk4_reference_herding_welling_update_and_cap():
    # two identical rows a, a and b: mu = (2a + b) / 3. w = mu picks a (row 0); w = 2mu - a
    # = (1/3, 2/3) picks b; w = (1, 0) picks row 0 again (argmax takes the first of the equal
    # rows), a repeat that adds nothing, and so on: row 1 is never reached.
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert herding_order_reference(x, 3).tolist() == [0, 2]  # short of 3, stopped by the cap
    assert herding_order_reference(x, 3, max_iterations=1).tolist() == [0]
    assert sorted(herding_order(x, 3).tolist()) == [0, 1, 2]  # ours is never short
    assert herding_order_reference(torch.eye(3), 600).tolist() == [0, 1, 2]


def test_quirk4_herding_mode_follows_the_switch(runs):
    assert runs["lucir", True].strategy.memory.herding == "reference"
    assert runs["lucir", False].strategy.memory.herding == "greedy"


class Flatten(nn.Module):
    def features(self, x):
        return x.flatten(1)


def test_quirk5_nme_flip():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    data = torch.utils.data.TensorDataset(images, torch.tensor([0, 1]))
    run = lambda flip: extract_features(Flatten(), data, with_flip=True, flip=flip)[0][2:]  # noqa: E731
    assert torch.equal(run("horizontal"), torch.flip(images, dims=[-1]).flatten(1))
    assert torch.equal(run("channels"), torch.flip(images, dims=[1]).flatten(1))
    assert torch.equal(run("none"), images.flatten(1))
    with pytest.raises(ValueError, match="flip must be one of"):
        run("vertical")


def test_quirk5_nme_flip_follows_the_switch_and_the_backbone(runs):
    from benchmarks.plan.config import load_config
    from benchmarks.methods import get_method

    assert runs["lucir", True].strategy.memory.nme_flip == "channels"
    assert runs["lucir", False].strategy.memory.nme_flip == "horizontal"
    quirks = load_config("smoke", sets=["reference_quirks=true"])
    factory = get_method("aanets-lucir").factory
    cifar = SimpleNamespace(backbone="resnet32", input_shape=(3, 32, 32), num_classes=10)
    imagenet = SimpleNamespace(backbone="resnet18", input_shape=(3, 32, 32), num_classes=10)
    assert factory(quirks, cifar, "cpu", None).memory.nme_flip == "channels"
    assert factory(quirks, imagenet, "cpu", None).memory.nme_flip == "none"  # the reference: no flip
    assert factory(load_config("smoke"), imagenet, "cpu", None).reference_quirks is False
