"""BiC as its authors' code runs it. Avalanche's BiC split a validation set off phase 0 too
(598 -> 578 digits = 9 batches of 64 + one of 2: a 2-image BatchNorm step at lr 0.1 every epoch
wrecked phase 0, 37.6% or 86.2% by thread count), softmaxed its distillation targets over the
batch, and kept its validation set outside the memory budget."""

import math
from types import SimpleNamespace

import torch
from avalanche.core import SupervisedPlugin

from benchmarks.methods import get_method
from benchmarks.methods.bic import BiasCorrectionPlugin
from benchmarks.methods.lwf import kd_loss


def bic_plugin(strategy) -> BiasCorrectionPlugin:
    return next(p for p in strategy.plugins if isinstance(p, BiasCorrectionPlugin))


def test_phase_0_is_naive_number_for_number(smoke_digits):
    cfg, bench = smoke_digits(5)
    trained = {}
    for method in ("naive", "bic"):
        torch.manual_seed(7)
        strategy = get_method(method).factory(cfg, bench, torch.device("cpu"), None)
        strategy.train(bench.benchmark.train_stream[0])
        trained[method] = strategy
    naive, bic = trained["naive"], trained["bic"]
    for (name, a), (_, b) in zip(naive.model.state_dict().items(), bic.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert bic_plugin(bic).bias_layer is None  # identity until phase 1
    x = torch.stack([bench.benchmark.test_stream[0].dataset[i][0] for i in range(20)])
    naive.model.eval(), bic.model.eval()
    assert torch.equal(naive.model(x).argmax(1), bic.model(x).argmax(1))


class Stage1Set(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def before_training_exp(self, strategy, **kwargs):
        self.sizes.append(len(strategy.adapted_dataset))


def test_memory_holds_a_balanced_validation_split_within_the_budget(smoke_digits):
    cfg, bench = smoke_digits(5)
    torch.manual_seed(0)
    strategy = get_method("bic").factory(cfg, bench, torch.device("cpu"), None)
    plugin, sizes = bic_plugin(strategy), Stage1Set()
    strategy.plugins.append(sizes)
    stream = bench.benchmark.train_stream
    model_before_stage_2 = {}

    def keep_model(strategy=strategy):
        model_before_stage_2.update({k: v.clone() for k, v in strategy.model.state_dict().items()})
        return train_bias_layer(strategy)

    train_bias_layer = plugin.train_bias_layer
    plugin.train_bias_layer = lambda strategy: keep_model(strategy)
    for phase in range(3):
        strategy.train(stream[phase])
        train_n, val_n = plugin.share(sum(len(c) for c in bench.phase_classes[: phase + 1]))
        assert {len(d) for d in plugin.validation.values()} == {val_n}  # balanced
        assert all(len(d) <= train_n for d in plugin.exemplars.values())
        used = sum(map(len, plugin.exemplars.values())) + sum(map(len, plugin.validation.values()))
        assert used <= plugin.mem_size  # validation counts towards the budget
    # phase 1 trains on the new class minus its held-out samples plus the old exemplars
    old_train, _ = plugin.share(len(bench.phase_classes[0]))
    _, held = plugin.share(len(bench.phase_classes[0]))
    assert sizes.sizes[0] == len(stream[0].dataset)
    assert sizes.sizes[1] == len(stream[1].dataset) - held + old_train * len(bench.phase_classes[0])
    # stage 2 trains the bias layer only: the network is as stage 1 left it
    for key, value in strategy.model.state_dict().items():
        assert torch.equal(value, model_before_stage_2[key]), key
    layer = plugin.bias_layer
    assert layer.clss.tolist() == list(bench.phase_classes[2])
    assert (float(layer.alpha), float(layer.beta)) != (1.0, 0.0)


def test_stage_1_loss_weighs_distillation_by_the_old_classes_share():
    plugin = BiasCorrectionPlugin(mem_size=100, temperature=2.0)
    plugin.known_classes, plugin.new_classes = 5, [5]
    plugin.teacher = torch.nn.Identity()
    logits = torch.randn(4, 6)
    teacher_logits = torch.randn(4, 6)
    ce = torch.tensor(1.5)
    strategy = SimpleNamespace(mb_x=teacher_logits, mb_output=logits, loss=ce)
    plugin.before_backward(strategy)
    expected = (1 / 6) * ce + (5 / 6) * kd_loss(logits[:, :5], teacher_logits[:, :5], 2.0)
    assert torch.allclose(strategy.loss, expected)
    # KD targets are a softmax over the classes of each sample (Avalanche's ran over the batch)
    q = torch.softmax(teacher_logits[:, :5] / 2, dim=1)
    manual = -(q * torch.log_softmax(logits[:, :5] / 2, dim=1)).sum(1).mean()
    assert math.isclose(float(kd_loss(logits[:, :5], teacher_logits[:, :5], 2.0)), float(manual),
                        rel_tol=1e-6)
