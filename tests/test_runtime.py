"""Speed switches: in the run key only where they can change the numbers; bad values refused."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from benchmarks.plan.planner import canonical_command
from benchmarks.plan.request import CompareRequest
from benchmarks.errors import UserError
from benchmarks.run.runtime import SpeedOptions, auto_workers, key_part

BATCHED = SimpleNamespace(input_pipeline="batched", per_sample_random=False)
PER_SAMPLE = SimpleNamespace(input_pipeline="per-sample", per_sample_random=True)


def test_workers_enter_the_key_only_when_the_loader_draws_random_numbers():
    options = SpeedOptions(num_workers=2, channels_last=False)
    assert key_part(options, BATCHED, "cpu") == {"input_pipeline": "batched"}
    assert (key_part(SpeedOptions(num_workers=0, channels_last=False), BATCHED, "cpu")
            == key_part(options, BATCHED, "cpu"))
    assert key_part(options, PER_SAMPLE, "cpu") == {"input_pipeline": "per-sample", "num_workers": 2}
    assert "num_workers" not in key_part(SpeedOptions(num_workers=0), PER_SAMPLE, "cpu")


def test_bf16_enters_the_key_on_any_device_and_compile_always(monkeypatch):
    import aanets_avalanche.precision as precision

    assert key_part(SpeedOptions(amp="on"), BATCHED, "cpu")["amp"] == "bf16"
    assert key_part(SpeedOptions(amp=True), BATCHED, "cpu")["amp"] == "bf16"  # True = "on"
    assert "amp" not in key_part(SpeedOptions(), BATCHED, "cpu")  # default off: keys unchanged
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert "amp" not in key_part(SpeedOptions(amp="auto"), BATCHED, "cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert key_part(SpeedOptions(amp="auto"), BATCHED, "cpu")["amp"] == "bf16"
    assert key_part(SpeedOptions(compile=True), BATCHED, "cpu")["compile"] is True
    assert key_part(SpeedOptions(deterministic=False), BATCHED, "cuda")["deterministic"] is False
    assert "deterministic" not in key_part(SpeedOptions(deterministic=False), BATCHED, "cpu")
    with pytest.raises(UserError, match="--amp must be one of auto, on, off"):
        SpeedOptions(amp="bf16")


def test_amp_on_trains_in_bf16_on_the_cpu_and_the_record_says_so(tmp_path):
    """--amp on: the strategy runs its convolutions in bf16 on the CPU; the record names the
    precision and the run key differs from the fp32 run's."""
    import torch

    from benchmarks.compare import Hooks, run_compare
    from benchmarks.plan.request import CompareRequest
    from benchmarks.store.records import load_record

    dtypes = set()

    def conv_dtype(module, args, output):
        if isinstance(module, torch.nn.Conv2d) and module.training:
            dtypes.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(conv_dtype)
    try:
        runs = {amp: run_compare(CompareRequest(
            benchmark="split-digits", phases=1, methods="aanets-lucir", seeds="1", preset="smoke",
            device="cpu", quiet=True, out=tmp_path / amp, speed=SpeedOptions(amp=amp)), Hooks())
            for amp in ("on", "off")}
    finally:
        handle.remove()
    assert torch.bfloat16 in dtypes
    on, off = (load_record(tmp_path / amp / "runs/aanets-lucir/seed1.json") for amp in ("on", "off"))
    assert on["execution"]["precision"] == "bf16" and off["execution"]["precision"] == "fp32"
    assert on["run_key"] != off["run_key"] and runs["on"].trained == [("aanets-lucir", 1)]
    assert "bf16 autocast" in (tmp_path / "on/table.md").read_text()


def test_channels_last_is_on_for_the_cpu_by_default_and_in_the_key_when_on():
    assert key_part(SpeedOptions(), BATCHED, "cpu")["channels_last"] is True
    assert "channels_last" not in key_part(SpeedOptions(), BATCHED, "cuda")
    assert key_part(SpeedOptions(channels_last=True), BATCHED, "cuda")["channels_last"] is True
    assert "channels_last" not in key_part(SpeedOptions(channels_last=False), BATCHED, "cpu")


@pytest.mark.parametrize("method", ["naive", "aanets-lucir"])
def test_channels_last_reaches_baselines_and_our_strategies(method, smoke_digits):
    import torch

    from benchmarks.methods import get_method
    from benchmarks.run.runtime import apply

    cfg, bench = smoke_digits(5)
    strategy = get_method(method).factory(cfg, bench, torch.device("cpu"), None)
    applied = apply(strategy, SpeedOptions(), bench)
    assert applied["channels_last"] is True
    weights = [p for p in strategy.model.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


def test_auto_workers_zero_for_in_memory_batches_else_bounded():
    assert auto_workers(BATCHED) == 0
    assert 1 <= auto_workers(PER_SAMPLE) <= 8


def test_negative_workers_are_refused():
    with pytest.raises(UserError, match="--num-workers must be 0 or more"):
        SpeedOptions(num_workers=-1)


def test_canonical_command_spells_out_the_switches():
    request = CompareRequest(benchmark="split-digits", phases=1, methods=["lucir"], seeds=[1],
                             preset="smoke", device="cpu",
                             speed=SpeedOptions(amp=True, num_workers=2, compile=True,
                                                channels_last=False))
    command = canonical_command(request, 1, Path("o"))
    assert command.endswith("--device cpu --num-workers 2 --amp on --compile --no-channels-last")


def test_cli_refuses_negative_workers_before_training(tmp_path):
    from cli import cli

    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--phases", "1",
                                      "--preset", "smoke", "--num-workers", "-1",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Error: --num-workers must be 0 or more (got -1)" in result.output
    assert not (tmp_path / "o").exists()


def test_compare_trains_with_two_loader_workers_on_the_cpu(tmp_path):
    """Workers for level 1, evaluation, herding, imprinting and the level-2 pass."""
    from benchmarks.store.records import load_record
    from cli import cli

    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--phases", "1",
                                      "--preset", "smoke", "--methods", "aanets-lucir",
                                      "--seeds", "1", "--num-workers", "2", "--quiet",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = load_record(out / "runs/aanets-lucir/seed1.json")
    assert record["execution"]["num_workers"] == 2 and record["execution"]["channels_last"] is True
