"""AANetsStrategy invariants: aggregation start, frozen parts, level-1/level-2 separation."""

import pytest
import torch
from avalanche.core import SupervisedPlugin
from synthetic import tiny_benchmark

from aanets_avalanche import AANetsStrategy, AggregatedBackbone, CosineIncrementalNet, resnet32
from aanets_avalanche.plugins import LUCIRDistillationPlugin

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


class Probe(SupervisedPlugin):
    """Runs a callback at one Avalanche event and keeps what it returns."""

    def __init__(self, event, fn):
        super().__init__()
        self.records = []
        setattr(self, event, lambda strategy, **kw: self.records.append(fn(strategy)))


def make_strategy(plugins=(), **kw):
    torch.manual_seed(0)
    defaults = dict(train_epochs=2, lr_milestones=(1,), train_mb_size=16, eval_mb_size=32,
                    memory_per_class=4, device="cpu", evaluator=None)
    defaults.update(kw)
    return AANetsStrategy(model=CosineIncrementalNet(resnet32(1)), plugins=list(plugins), **defaults)


@pytest.fixture(scope="module")
def bench():
    return tiny_benchmark(num_classes=6, base=2, phases=2)


def test_aggregated_network_equals_phase0_network_at_start_of_phase1(bench):
    x = torch.stack([bench.test_stream[0].dataset[i][0] for i in range(16)])

    def compare(strategy):
        if strategy.clock.train_exp_counter != 1:
            return None
        model, old = strategy.model, strategy.distillation.old_model
        assert isinstance(model.backbone, AggregatedBackbone) and not isinstance(old.backbone, AggregatedBackbone)
        model.eval()
        with torch.no_grad():
            diff_features = (model.features(x) - old.features(x)).abs().max().item()
            diff_logits = (model(x)[:, :2] - old(x)).abs().max().item()
        model.train()
        return diff_features, diff_logits

    probe = Probe("before_training_epoch", compare)
    strategy = make_strategy([probe])
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    checked = [r for r in probe.records if r is not None]
    assert checked, "phase 1 never started"
    diff_features, diff_logits = checked[0]
    assert diff_features < 1e-5 and diff_logits < 1e-5


def _frozen_state(strategy):
    model = strategy.model
    frozen = {n: b.clone() for n, b in model.named_buffers() if n.endswith("frozen_weight")}
    frozen["old_weight"] = model.classifier.old_weight.clone()
    return frozen


def test_stable_kernels_and_old_class_weights_are_bit_identical_after_a_phase(bench):
    start = Probe("before_training_epoch", _frozen_state)
    strategy = make_strategy([start], fusion_lr=0.05)
    for exp in bench.train_stream:
        strategy.train(exp)
        if strategy.clock.train_exp_counter >= 2:
            before, after = start.records[-strategy.train_epochs], _frozen_state(strategy)
            assert before.keys() == after.keys() and len(before) > 1
            for name in before:
                assert torch.equal(before[name], after[name]), name
    # stable kernels never left their phase-0 values: compare with the old model of phase 1
    assert len(_frozen_state(strategy)["old_weight"]) == 4


def test_aggregation_weights_move_only_in_level2(bench):
    backbones = set()

    def alphas(strategy):
        backbone = strategy.model.backbone
        if not isinstance(backbone, AggregatedBackbone):
            return None
        assert all(a.grad is None and not a.requires_grad for a in backbone.alphas)
        backbones.add(id(backbone))
        return tuple(backbone.aggregation_weights())

    per_iteration = Probe("after_training_iteration", alphas)
    per_epoch = Probe("before_training_epoch", alphas)
    strategy = make_strategy([per_iteration, per_epoch], fusion_lr=0.5)
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    epoch_starts = [r for r in per_epoch.records if r is not None]
    iterations = [r for r in per_iteration.records if r is not None]
    assert len(epoch_starts) == 2 and iterations
    # within epoch 1 of phase 1 (level 1 only), every iteration sees the epoch-start values
    n_per_epoch = len(iterations) // 2
    assert all(r == epoch_starts[0] for r in iterations[:n_per_epoch])
    # level 2 ran after the first epoch and moved them
    assert epoch_starts[1] != epoch_starts[0]
    assert strategy.aggregation_weights() != list(epoch_starts[1])
    # level 2 runs a folded copy of the branches and puts the trained network back
    assert backbones == {id(strategy.model.backbone)}
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in strategy.model.backbone.modules())


def test_zero_fusion_lr_keeps_aggregation_weights_fixed(bench):
    strategy = make_strategy(fusion_lr=0.0)
    for exp in bench.train_stream:
        strategy.train(exp)
    assert strategy.aggregation_weights() == [0.5, 0.5, 0.5]


def test_single_branch_mode_keeps_a_plain_network(bench):
    strategy = make_strategy(branch_mode="single")
    for exp in bench.train_stream:
        strategy.train(exp)
    assert strategy.aggregation_weights() is None
    assert not isinstance(strategy.model.backbone, AggregatedBackbone)
    assert strategy.model.classifier.num_classes == 6


def test_dual_free_mixes_two_plastic_branches_at_half(bench):
    strategy = make_strategy(branch_mode="dual-free", flavour="icarl")
    for exp in bench.train_stream:
        strategy.train(exp)
    backbone = strategy.model.backbone
    assert backbone.mode == "dual-free" and strategy.aggregation_weights() == [0.5, 0.5, 0.5]
    assert not any("frozen_weight" in n for n, _ in backbone.named_buffers())


def test_lambda_follows_schedule_per_phase(bench):
    strategy = make_strategy(lambda_base=5.0)
    lambdas = Probe("before_training_epoch", lambda s: s.distillation.current_lambda)
    strategy.plugins.append(lambdas)
    for exp in bench.train_stream:
        strategy.train(exp)
    per_phase = lambdas.records[:: strategy.train_epochs]
    assert per_phase[1] == pytest.approx(5.0 * (2 / 2) ** 0.5)
    assert per_phase[2] == pytest.approx(5.0 * (4 / 2) ** 0.5)


def test_bad_arguments_are_rejected():
    model = CosineIncrementalNet(resnet32(1))
    with pytest.raises(ValueError, match="flavour"):
        AANetsStrategy(model=model, flavour="podnet", evaluator=None)
    with pytest.raises(ValueError, match="branch_mode"):
        AANetsStrategy(model=model, branch_mode="triple", evaluator=None)
    with pytest.raises(TypeError, match="CosineIncrementalNet"):
        AANetsStrategy(model=resnet32(1), evaluator=None)


def test_non_contiguous_labels_give_a_clear_error():
    from avalanche.benchmarks import nc_benchmark
    from synthetic import _separable
    raw = nc_benchmark(_separable(8, 4, 0), _separable(4, 4, 1), n_experiences=2, task_labels=False,
                       fixed_class_order=[3, 2, 1, 0])  # labels not remapped
    strategy = make_strategy(train_epochs=1)
    with pytest.raises(ValueError, match="class_ids_from_zero_from_first_exp"):
        strategy.train(raw.train_stream[0])


def test_level1_parameter_groups_exclude_frozen_parts_and_aggregation_weights(bench):
    groups_seen = Probe("before_training_epoch", lambda s: [
        (g["name"], g["lr"], {id(p) for p in g["params"]}) for g in s.optimizer.param_groups])
    strategy = make_strategy([groups_seen], lr=0.1, plastic_lr=0.05, train_epochs=1)
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    phase0, phase1 = groups_seen.records
    assert [(n, lr) for n, lr, _ in phase0] == [("backbone", 0.1), ("classifier", 0.1)]
    assert [(n, lr) for n, lr, _ in phase1] == [("stable", 0.1), ("plastic", 0.05), ("classifier", 0.1)]
    model = strategy.model
    in_optimizer = set().union(*(ids for _, _, ids in phase1))
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    alphas = {id(a) for a in model.backbone.alphas}
    assert in_optimizer == trainable and not (in_optimizer & alphas)
    assert id(model.classifier.weight) in phase1[2][2] and id(model.classifier.sigma) in phase1[2][2]


def test_level2_plugin_is_handed_the_strategys_memory():
    from aanets_avalanche.plugins import AggregationUpdatePlugin, HerdingMemoryPlugin

    strategy = make_strategy()
    level2 = [p for p in strategy.plugins if isinstance(p, AggregationUpdatePlugin)]
    assert len(level2) == 1 and level2[0].memory is strategy.memory
    with pytest.raises(TypeError, match="memory must be a HerdingMemoryPlugin"):
        AggregationUpdatePlugin(memory=object())
    with pytest.raises(TypeError):
        AggregationUpdatePlugin(fusion_lr=1e-3)  # no memory: nothing to balance with
    assert AggregationUpdatePlugin(memory=HerdingMemoryPlugin(5)).memory.memory_per_class == 5


def test_channels_last_keeps_every_kernel_nhwc_and_computes_the_same_function(bench):
    """The layout switch changes kernels, not the function: new branches and the old model are
    NHWC too, and the trained two-branch network gives the NCHW copy's outputs and parameter
    gradients up to float rounding. (Whole runs drift apart: SGD amplifies that rounding.)"""
    import copy

    strategy = make_strategy(channels_last=True, fusion_lr=0.05)
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    model = strategy.model
    tensors = [t for m in (model, strategy.distillation.old_model)
               for t in [*m.parameters(), *m.buffers()] if t.dim() == 4 and min(t.shape[1], t.shape[-1]) > 1]
    assert isinstance(model.backbone, AggregatedBackbone) and tensors
    assert all(t.is_contiguous(memory_format=torch.channels_last) for t in tensors)

    nchw = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert not any(t.is_contiguous(memory_format=torch.channels_last)
                   for t in nchw.parameters() if t.dim() == 4 and min(t.shape[1], t.shape[-1]) > 1)
    x = torch.stack([bench.train_stream[1].dataset[i][0] for i in range(16)])
    y = torch.tensor([bench.train_stream[1].dataset[i][1] for i in range(16)])
    outputs = []
    for net in (model, nchw):
        net.train()
        net.zero_grad()
        out = net(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        outputs.append(out.detach())
    assert (outputs[0] - outputs[1]).abs().max() < 1e-5 * outputs[1].abs().max()
    # a gradient of a few 1e-6 (the first stable scales) is a sum of larger terms that
    # cancel: its rounding is bounded by the network's gradients, not by its own size
    floor = 5e-7 * max(float(b.grad.abs().max()) for b in nchw.parameters() if b.grad is not None)
    for (name, a), b in zip(model.named_parameters(), nchw.parameters()):
        if a.grad is not None:
            assert (a.grad - b.grad).abs().max() <= 1e-4 * b.grad.abs().max() + floor, name
