"""PODNet and POD + AANets: hand-computed losses and logits, the backbone, k-means imprinting,
classifier-only fine-tuning, the aggregated start of phase 1, and 3-phase runs on real data."""

import math

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin
from synthetic import tiny_benchmark
from test_strategy import Probe
from torch.utils.data import TensorDataset

from aanets_avalanche import (AggregatedBackbone, PODNetStrategy, ProxyIncrementalNet, build_backbone,
                              nme_accuracy_metrics)
from aanets_avalanche.levels import LevelOutputCapture
from aanets_avalanche.models import BasicBlock, LocalSimilarityClassifier, StrideShortcut, podnet_resnet32
from aanets_avalanche.nca import nca_loss
from aanets_avalanche.plugins import (BalancedFinetunePlugin, HerdingMemoryPlugin, pod_flat_loss,
                                      pod_spatial_loss, podnet_weight)

CNN = "Top1_Acc_Stream/eval_phase/test_stream/Task000"
NME = "Top1_NME_Acc_Stream/eval_phase/test_stream/Task000"


# ----------------------------------------------------------------------------- losses by hand


def test_pod_spatial_matches_a_hand_computation():
    new = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    old = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # squared maps: new [[1, 4], [9, 16]] -> rows (sum over width) 5, 25; columns 10, 20
    # old [[1, 0], [0, 0]] -> 1, 0; 1, 0. Unit vectors a, b: |a - b|^2 = 2 - 2 a.b
    level = math.sqrt(2 - 2 * (5 + 10) / (math.sqrt(5**2 + 25**2 + 10**2 + 20**2) * math.sqrt(2)))
    # batch of two samples (the second identical in both nets) and two levels (the second equal)
    new_maps = [torch.cat([new, new]), torch.cat([new, new])]
    old_maps = [torch.cat([old, new]), torch.cat([new, new])]
    expected = ((level + 0.0) / 2 + 0.0) / 2
    assert pod_spatial_loss(new_maps, old_maps).item() == pytest.approx(expected, rel=1e-6)


def test_pod_spatial_pools_width_and_height_separately():
    """Transposing a map swaps its height and width profiles: not a zero distance."""
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    assert pod_spatial_loss([a], [a.transpose(2, 3)]).item() > 0.1
    assert pod_spatial_loss([a], [2 * a]).item() == pytest.approx(0.0, abs=1e-7)  # scale-free


def test_pod_flat_is_mean_of_one_minus_cosine():
    new = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    old = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
    assert pod_flat_loss(new, old).item() == pytest.approx((1.0 + (1 - 1 / math.sqrt(2))) / 2)


def test_podnet_weight_grows_with_sqrt_of_seen_over_new():
    assert podnet_weight(3.0, 60, 10) == pytest.approx(3.0 * math.sqrt(6))
    assert podnet_weight(1.0, 100, 10) == pytest.approx(math.sqrt(10))
    assert podnet_weight(8.0, 50, 50) == 8.0


def test_lsc_logits_two_classes_two_proxies():
    lsc = LocalSimilarityClassifier(2, proxies_per_class=2)
    # class 0: [1, 0], [0, 1] (scaled: norms must not matter); class 1: [-1, 0], [0, -1]
    lsc.add_classes(2, torch.tensor([[2.0, 0.0], [0.0, 0.5], [-1.0, 0.0], [0.0, -3.0]]))
    logits = lsc(torch.tensor([[5.0, 0.0]]))
    # similarities -|f - p|^2 of unit vectors: class 0: 0, -2; class 1: -4, -2
    e2, e4 = math.exp(-2), math.exp(-4)
    class0 = (0 * 1 + -2 * e2) / (1 + e2)
    class1 = (-4 * e4 + -2 * e2) / (e4 + e2)
    assert logits.shape == (1, 2)
    assert logits[0, 0].item() == pytest.approx(class0, rel=1e-6)
    assert logits[0, 1].item() == pytest.approx(class1, rel=1e-6)


def test_nca_without_margin_matches_hand_computation():
    logits = torch.tensor([[-1.0, -2.0, -3.0]])
    # scale 2: s = -2, -4, -6; minus the row max: 0, -2, -4; the positive slot counts exp(0)
    assert nca_loss(logits, torch.tensor([0]), scale=2.0).item() == pytest.approx(
        math.log(1 + math.exp(-2) + math.exp(-4)), rel=1e-6)
    # target 1: numerator -2; denominator exp(0) [class 0] + exp(0) [positive slot] + exp(-4)
    assert nca_loss(logits, torch.tensor([1]), scale=2.0).item() == pytest.approx(
        2 + math.log(2 + math.exp(-4)), rel=1e-6)


def test_nca_margin_acts_on_the_positive_only():
    logits = torch.tensor([[-1.0, -2.0, -3.0]])
    # margin 0.5 on class 0: 2 * (-1.5, -2, -3) = -3, -4, -6 -> 0, -1, -3
    assert nca_loss(logits, torch.tensor([0]), scale=2.0, margin=0.5).item() == pytest.approx(
        math.log(1 + math.exp(-1) + math.exp(-3)), rel=1e-6)
    # the reference's form (margin on every logit) is the no-margin value: it cancels
    assert nca_loss(logits - 0.6, torch.tensor([0]), scale=2.0).item() == pytest.approx(
        nca_loss(logits, torch.tensor([0]), scale=2.0).item(), rel=1e-6)


def test_nca_scale_is_learnable():
    scale = torch.tensor(1.0, requires_grad=True)
    nca_loss(torch.tensor([[-1.0, -0.5]]), torch.tensor([0]), scale=scale).backward()
    assert scale.grad is not None and scale.grad.item() != 0


# ----------------------------------------------------------------------------- backbone


def test_podnet_resnet32_layout_and_identity_start():
    net = podnet_resnet32(in_channels=3)
    blocks = [sum(isinstance(m, BasicBlock) for m in level.modules()) for level in net.levels]
    assert blocks == [5, 5, 4, 1] and net.out_dim == 64
    for shape in [(2, 3, 32, 32), (2, 3, 28, 28)]:
        assert net(torch.randn(shape)).shape == (2, 64)
    # the last BN of every block starts at 0, so a level starts as its shortcuts; without a ReLU
    # after the residual sums, negative inputs come out unchanged
    net.eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(net.levels[1](x), StrideShortcut()(x))
        assert torch.equal(net.levels[2](net.levels[1](x)), StrideShortcut()(StrideShortcut()(x)))


def test_podnet_backbones_are_registered():
    assert build_backbone("podnet-resnet32", 1).out_dim == 64
    assert build_backbone("podnet-resnet18", 3).out_dim == 512


# ----------------------------------------------------------------------------- k-means imprinting


def test_kmeans_imprinting_is_deterministic_for_a_seed():
    torch.manual_seed(0)
    feats = [torch.randn(40, 8), torch.randn(30, 8) + 2]
    lsc = LocalSimilarityClassifier(8, proxies_per_class=4)
    lsc.add_classes(1)
    norm = lsc.all_proxies().norm(dim=1).mean()
    first = lsc.imprint_proxies(feats, seeds=[1, 2])
    again = lsc.imprint_proxies(feats, seeds=[1, 2])
    other = lsc.imprint_proxies(feats, seeds=[7, 8])
    assert first.shape == (8, 8)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.allclose(first.norm(dim=1), norm.expand(8), rtol=1e-5)


# ----------------------------------------------------------------------------- fine-tuning


def _finetune_setup(bn_train_mode):
    torch.manual_seed(0)
    model = ProxyIncrementalNet(podnet_resnet32(1), proxies_per_class=2)
    model.classifier.add_classes(2)
    model.classifier.add_classes(2)
    data = TensorDataset(torch.randn(24, 1, 8, 8), torch.arange(4).repeat(6))
    plugin = BalancedFinetunePlugin(HerdingMemoryPlugin(4), epochs=2, lr=0.5, batch_size=8,
                                    bn_train_mode=bn_train_mode)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plugin.finetune(model, data, "cpu")
    return model, before, model.state_dict()


@pytest.mark.parametrize("bn_train_mode", [True, False])
def test_finetuning_changes_only_the_proxies(bn_train_mode):
    model, before, after = _finetune_setup(bn_train_mode)
    proxies = {"classifier.old_proxies", "classifier.new_proxies"}
    bn_stats = {k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    for name in proxies:
        assert not torch.equal(before[name], after[name]), name
    for name in set(before) - proxies - bn_stats:
        assert torch.equal(before[name], after[name]), name
    changed_stats = [k for k in bn_stats if not torch.equal(before[k], after[k])]
    if bn_train_mode:  # the reference's quirk: BN statistics re-estimated on exemplar batches
        assert changed_stats
    else:
        assert not changed_stats
    assert not model.classifier.old_proxies.requires_grad and model.classifier.new_proxies.requires_grad


# ----------------------------------------------------------------------------- strategy


def make_strategy(plugins=(), **kw):
    torch.manual_seed(0)
    defaults = dict(train_epochs=2, train_mb_size=16, eval_mb_size=32, memory_per_class=4,
                    finetune_epochs=1, device="cpu", evaluator=None)
    defaults.update(kw)
    return PODNetStrategy(model=ProxyIncrementalNet(podnet_resnet32(1), proxies_per_class=3),
                          plugins=list(plugins), **defaults)


@pytest.fixture(scope="module")
def bench():
    return tiny_benchmark(num_classes=6, base=2, phases=2)


def test_aggregated_network_equals_previous_network_at_start_of_phase1(bench):
    x = torch.stack([bench.test_stream[0].dataset[i][0] for i in range(16)])

    def compare(strategy):
        if strategy.clock.train_exp_counter != 1:
            return None
        model, old = strategy.model, strategy.distillation.old_model
        assert isinstance(model.backbone, AggregatedBackbone) and not isinstance(old.backbone, AggregatedBackbone)
        model.eval()
        new_capture, old_capture = LevelOutputCapture(), LevelOutputCapture()
        new_capture.attach(model.backbone)
        old_capture.attach(old.backbone)
        with torch.no_grad():
            logits, old_logits = model(x), old(x)
            pod = pod_spatial_loss(new_capture.maps(), old_capture.maps()).item()
        new_capture.detach()
        old_capture.detach()
        model.train()
        return (logits[:, :2] - old_logits).abs().max().item(), pod, logits.shape[1]

    probe = Probe("before_training_epoch", compare)
    strategy = make_strategy([probe], branch_mode="aanets")
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    checked = [r for r in probe.records if r is not None]
    assert checked, "phase 1 never started"
    diff_logits, pod, num_classes = checked[0]
    assert diff_logits < 1e-5 and pod < 1e-4 and num_classes == 4
    assert strategy.aggregation_weights() == [0.5, 0.5, 0.5, 0.5]  # fixed mix, as released
    # sqrt(seen / new) = sqrt(4 / 2) times the factors (3 and 1)
    assert strategy.distillation.spatial_weight == pytest.approx(3 * math.sqrt(2))
    assert strategy.distillation.flat_weight == pytest.approx(math.sqrt(2))


def test_old_proxies_frozen_in_main_training_and_gradients_clipped(bench):
    def state(strategy):
        c = strategy.model.classifier
        grads = [p.grad.abs().max().item() for g in strategy.optimizer.param_groups
                 for p in g["params"] if p.grad is not None]
        return c.old_proxies.detach().clone(), max(grads)

    probe = Probe("after_update", state)
    strategy = make_strategy([probe], lr=0.05, finetune_epochs=0, grad_clip=1e-3)
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    phase1 = probe.records[-3:]
    assert all(torch.equal(r[0], phase1[0][0]) for r in phase1) and phase1[0][0].shape[0] == 6
    assert all(r[1] <= 1e-3 * (1 + 1e-6) for r in probe.records)  # float32 1e-3


def test_learned_aggregation_weights_option_moves_them(bench):
    strategy = make_strategy(branch_mode="aanets", fusion_lr=0.5)
    for exp in bench.train_stream[:2]:
        strategy.train(exp)
    assert strategy.aggregation_weights() != [0.5, 0.5, 0.5, 0.5]


# ----------------------------------------------------------------------------- real data


@pytest.mark.parametrize("branch_mode", ["single", "aanets"])
def test_three_phase_podnet_on_fashion_mnist_beats_chance_widely(shared_data, branch_mode):
    from benchmarks.streams import StreamSpec, build_stream

    built = build_stream(StreamSpec("split-fmnist", phases=2, base_classes=4, data_root=str(shared_data),
                                    train_per_class=60, test_per_class=40, download=False))
    torch.manual_seed(0)
    from aanets_avalanche.augment import InputNormalization

    backbone = build_backbone("podnet-resnet32", built.input_shape[0],
                              input_norm=InputNormalization(*built.normalization))
    strategy = PODNetStrategy(
        model=ProxyIncrementalNet(backbone), batch_augmentation=built.augmentation,
        branch_mode=branch_mode, lr=0.05, train_epochs=5, train_mb_size=32, memory_per_class=10,
        finetune_epochs=3, finetune_lr=0.05, device="cpu",
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), nme_accuracy_metrics(stream=True)),
    )
    rows = []
    for phase, experience in enumerate(built.benchmark.train_stream):
        strategy.train(experience)
        metrics = strategy.eval(built.benchmark.test_stream[: phase + 1])
        seen = sum(len(c) for c in built.phase_classes[: phase + 1])
        rows.append((seen, metrics[CNN], metrics[NME], strategy.aggregation_weights()))
        strategy.train_epochs = 2  # shorter incremental phases
    assert [r[0] for r in rows] == [4, 7, 10]
    for seen, cnn, nme, _ in rows:
        chance = 1 / seen
        assert cnn >= 2 * chance and nme >= 2 * chance, rows
    expected = None if branch_mode == "single" else [0.5] * 4
    assert rows[0][3] is None and rows[2][3] == expected


# ----------------------------------------------------------------------------- harness


@pytest.mark.parametrize("preset, backbone, expected", [
    ("paper", "resnet32", dict(out_dim=64, batch=128, spatial=3.0, flat=1.0, finetune_lr=0.05, epochs=160)),
    ("paper", "resnet18", dict(out_dim=512, batch=64, spatial=8.0, flat=10.0, finetune_lr=0.01, epochs=90)),
])
def test_podnet_methods_take_podnets_options_from_the_preset(preset, backbone, expected):
    from types import SimpleNamespace

    from benchmarks.plan.config import load_config
    from benchmarks.methods import DEFAULT_METHODS, get_method

    cfg = load_config(preset, backbone=backbone)
    bench = SimpleNamespace(backbone=backbone, input_shape=(3, 32, 32), num_classes=100)
    for name, branch_mode in (("podnet", "single"), ("aanets-podnet", "aanets")):
        info = get_method(name)
        assert info.nme and info.memory == "per_class" and name in DEFAULT_METHODS
        strategy = info.factory(cfg, bench, torch.device("cpu"), None)
        assert isinstance(strategy, PODNetStrategy) and strategy.branch_mode == branch_mode
        assert strategy.model.out_dim == expected["out_dim"] and strategy.train_epochs == expected["epochs"]
        assert strategy.train_mb_size == expected["batch"] and strategy.finetuning.lr == expected["finetune_lr"]
        assert strategy.distillation.spatial_factor == expected["spatial"]
        assert strategy.distillation.flat_factor == expected["flat"]
        assert strategy.nca_margin == 0.0 and strategy.grad_clip == 5.0
        assert strategy.model.classifier.proxies_per_class == 10
        assert strategy.finetuning.epochs == 20 and strategy.finetuning.bn_train_mode


def test_interrupted_aanets_podnet_run_resumes_with_the_same_numbers(tmp_path):
    from test_runner_resume import PHASES, Interrupted, interrupt_after, numbers

    from benchmarks.plan.config import load_config
    from benchmarks.plan.cells import RunSpec
    from benchmarks.run.runner import run_one
    from benchmarks.streams import StreamSpec, build_stream

    cfg = load_config("smoke")
    digits = build_stream(StreamSpec("split-digits", phases=PHASES, download=False,
                                     train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class))
    spec = RunSpec(benchmark="split-digits", phases=PHASES, method="aanets-podnet", seed=3, config=cfg)
    straight = run_one(spec, digits, tmp_path / "a", progress=False)
    with pytest.raises(Interrupted):
        run_one(spec, digits, tmp_path / "b", progress=False, after_phase=interrupt_after(2))
    resumed = run_one(spec, digits, tmp_path / "b", progress=False)
    assert resumed["resumed_at_phase"] == [3]
    assert numbers(resumed) == numbers(straight)
