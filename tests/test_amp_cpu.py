"""use_amp on the CPU: bf16 autocast where the library trains (level 1, the old model's forward,
level 2, PODNet's fine-tuning), fp32 elsewhere (herding, imprinting, evaluation) and in every
loss; "auto" follows the native-bf16 detection; a bad value is one clear error."""

import math
from collections import defaultdict

import pytest
import torch
from synthetic import tiny_benchmark
from test_strategy import Probe
from torch import nn

from aanets_avalanche import (AANetsStrategy, CosineIncrementalNet, PODNetStrategy,
                              ProxyIncrementalNet, resnet32)
from aanets_avalanche import precision
from aanets_avalanche.models import ScaledFrozenConv2d, podnet_resnet32

BF16, FP32 = torch.bfloat16, torch.float32


class ConvDtypes:
    """The dtypes every convolution computes in (its output's), by what the library was doing:
    "level1" (training forward), "eval", "old" (distillation), "level2", "finetune", "other"
    (imprinting, herding, NME class means)."""

    def __init__(self) -> None:
        self.stage = "other"
        self.seen: dict[str, set[torch.dtype]] = defaultdict(set)

    def hook(self, module, args, output) -> None:
        if isinstance(module, (nn.Conv2d, ScaledFrozenConv2d)):
            self.seen[self.stage].add(output.dtype)

    def wrap(self, owner, name: str, stage) -> None:
        inner = getattr(owner, name)

        def wrapped(*args, **kwargs):
            before, self.stage = self.stage, stage() if callable(stage) else stage
            try:
                return inner(*args, **kwargs)
            finally:
                self.stage = before

        setattr(owner, name, wrapped)

    def watch(self, strategy) -> None:
        self.wrap(strategy, "forward", lambda: "level1" if strategy.is_training else "eval")
        self.wrap(strategy.distillation, "distillation_loss", "old")
        if strategy.aggregation is not None:
            self.wrap(strategy.aggregation, "after_training_epoch", "level2")
        if getattr(strategy, "finetuning", None) is not None:
            self.wrap(strategy.finetuning, "finetune", "finetune")


@pytest.fixture(scope="module")
def bench():
    return tiny_benchmark(num_classes=4, base=2, phases=1, train_per_class=16, test_per_class=4)


def losses_probe():
    """Per update: the loss's dtype and value, the logits' dtype."""
    return Probe("before_update", lambda s: (s.loss.dtype, float(s.loss.detach()), s.mb_output.dtype))


def run(strategy, bench):
    """Both experiences (the second has an old model, two branches, level 2), then an eval."""
    dtypes = ConvDtypes()
    dtypes.watch(strategy)
    handle = nn.modules.module.register_module_forward_hook(dtypes.hook)
    try:
        for experience in bench.train_stream:
            strategy.train(experience)
        strategy.eval(bench.test_stream[:1])
    finally:
        handle.remove()
    return dtypes.seen


def aanets(bench, flavour="lucir", **kw):
    torch.manual_seed(0)
    probe = losses_probe()
    defaults = dict(train_epochs=1, train_mb_size=16, eval_mb_size=32, memory_per_class=4,
                    fusion_lr=0.01, device="cpu", evaluator=None, channels_last=True)
    defaults.update(kw)
    strategy = AANetsStrategy(model=CosineIncrementalNet(resnet32(1)), flavour=flavour,
                              plugins=[probe], **defaults)
    return strategy, probe


def podnet(bench, **kw):
    torch.manual_seed(0)
    probe = losses_probe()
    defaults = dict(train_epochs=1, train_mb_size=16, eval_mb_size=32, memory_per_class=4,
                    finetune_epochs=1, branch_mode="aanets", fusion_lr=0.01, device="cpu",
                    evaluator=None, channels_last=True)
    defaults.update(kw)
    strategy = PODNetStrategy(model=ProxyIncrementalNet(podnet_resnet32(1), proxies_per_class=2),
                              plugins=[probe], **defaults)
    return strategy, probe


def check_losses(probe):
    assert probe.records
    for loss_dtype, value, logits_dtype in probe.records:
        assert loss_dtype == FP32 and logits_dtype == FP32 and math.isfinite(value)


@pytest.mark.parametrize("flavour", ["lucir", "icarl"])
def test_aanets_bf16_on_cpu_trains_every_stage_in_bf16_and_keeps_fp32_elsewhere(bench, flavour):
    strategy, probe = aanets(bench, flavour, use_amp=True)
    assert strategy.use_amp is True and strategy.precision == "bf16"
    seen = run(strategy, bench)
    for stage in ("level1", "old", "level2"):
        assert seen[stage] == {BF16}, stage
    for stage in ("eval", "other"):  # evaluation, NME, herding, imprinting
        assert seen[stage] == {FP32}, stage
    check_losses(probe)
    weights = strategy.aggregation_weights()
    assert weights and all(math.isfinite(a) for a in weights)
    assert weights != [0.5] * len(weights)  # level 2 moved them, in bf16


def test_aanets_without_amp_is_fp32_everywhere(bench):
    strategy, probe = aanets(bench, use_amp=False)
    assert strategy.use_amp is False and strategy.precision == "fp32"
    seen = run(strategy, bench)
    assert {stage: dtypes for stage, dtypes in seen.items()} == {
        stage: {FP32} for stage in ("level1", "old", "level2", "eval", "other")}
    check_losses(probe)


def test_podnet_bf16_on_cpu_trains_and_finetunes_in_bf16(bench):
    strategy, probe = podnet(bench, use_amp=True)
    assert strategy.precision == "bf16"
    seen = run(strategy, bench)
    for stage in ("level1", "old", "level2", "finetune"):
        assert seen[stage] == {BF16}, stage
    for stage in ("eval", "other"):
        assert seen[stage] == {FP32}, stage
    check_losses(probe)
    assert all(math.isfinite(a) for a in strategy.aggregation_weights())


def test_podnet_without_amp_is_fp32(bench):
    strategy, probe = podnet(bench, use_amp=False, train_epochs=1)
    seen = run(strategy, bench)
    assert set().union(*seen.values()) == {FP32}


def test_bf16_classifier_heads_keep_fp32_logits():
    cosine = CosineIncrementalNet(resnet32(1))
    cosine.classifier.add_classes(3)
    proxy = ProxyIncrementalNet(podnet_resnet32(1), proxies_per_class=2)
    proxy.classifier.add_classes(3)
    x = torch.randn(4, 1, 8, 8)
    for model in (cosine, proxy):
        with torch.autocast("cpu", dtype=BF16):
            features = model.features(x)
            logits = model.classifier(features)
        assert features.dtype == BF16 and logits.dtype == FP32
        assert torch.allclose(logits, model.classifier(features.float()))


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_native_bf16_detection(bench, monkeypatch, native):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    expected = "bf16" if native else "fp32"
    assert precision.resolve_amp("auto", "cpu") is native
    strategy, _ = aanets(bench, use_amp="auto")
    assert strategy.use_amp is native and strategy.precision == expected
    assert strategy.aggregation.use_amp is native  # handed the resolved choice
    assert podnet(bench, use_amp="auto")[0].precision == expected
    strategy.set_speed_options(use_amp=False)
    assert strategy.precision == "fp32" and strategy.aggregation.use_amp is False
    strategy.set_speed_options(use_amp="auto")
    assert strategy.precision == expected and strategy.aggregation.use_amp is native


def test_native_bf16_reads_cpu_flags_and_the_onednn_cap(monkeypatch):
    def detect(flags, onednn=True):
        monkeypatch.setattr(precision, "_cpu_flags", lambda: set(flags))
        monkeypatch.setattr(precision, "_onednn_may_use_bf16", lambda: onednn)
        precision._cpu_native_bf16.cache_clear()
        try:
            return precision.native_bf16("cpu")
        finally:
            precision._cpu_native_bf16.cache_clear()

    assert detect({"avx512_bf16"}) and detect({"amx_bf16"})
    assert not detect(set()) and not detect({"avx512_bf16"}, onednn=False)
    monkeypatch.undo()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert not precision._onednn_may_use_bf16()
    assert precision.native_bf16("meta") is False


@pytest.mark.parametrize("bad", ["yes", "bf16", 1, None, "AUTO"])
def test_a_bad_use_amp_is_one_clear_error(bench, bad):
    message = r"use_amp must be True, False or 'auto', got "
    with pytest.raises(ValueError, match=message):
        aanets(bench, use_amp=bad)
    with pytest.raises(ValueError, match=message):
        podnet(bench, use_amp=bad)
    strategy, _ = aanets(bench)
    if bad is not None:  # None means "leave as is" in set_speed_options
        with pytest.raises(ValueError, match=message):
            strategy.set_speed_options(use_amp=bad)
    assert strategy.precision == "fp32"
