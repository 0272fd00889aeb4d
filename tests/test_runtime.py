"""Speed switches: in the run key only where they can change the numbers; bad values refused."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from benchmarks.compare import canonical_command
from benchmarks.errors import UserError
from benchmarks.runtime import SpeedOptions, auto_workers, key_part

BATCHED = SimpleNamespace(input_pipeline="batched", per_sample_random=False)
PER_SAMPLE = SimpleNamespace(input_pipeline="per-sample", per_sample_random=True)


def test_workers_enter_the_key_only_when_the_loader_draws_random_numbers():
    options = SpeedOptions(num_workers=2)
    assert key_part(options, BATCHED, "cpu") == {"input_pipeline": "batched"}
    assert key_part(SpeedOptions(num_workers=0), BATCHED, "cpu") == key_part(options, BATCHED, "cpu")
    assert key_part(options, PER_SAMPLE, "cpu") == {"input_pipeline": "per-sample", "num_workers": 2}
    assert "num_workers" not in key_part(SpeedOptions(num_workers=0), PER_SAMPLE, "cpu")


def test_amp_enters_the_key_on_cuda_only_and_compile_always():
    assert "amp" not in key_part(SpeedOptions(amp=True), BATCHED, "cpu")
    assert key_part(SpeedOptions(amp=True), BATCHED, "cuda")["amp"] == "bf16"
    assert key_part(SpeedOptions(compile=True), BATCHED, "cpu")["compile"] is True


def test_auto_workers_zero_for_in_memory_batches_else_bounded():
    assert auto_workers(BATCHED) == 0
    assert 1 <= auto_workers(PER_SAMPLE) <= 8


def test_negative_workers_are_refused():
    with pytest.raises(UserError, match="--num-workers must be 0 or more"):
        SpeedOptions(num_workers=-1)


def test_canonical_command_spells_out_the_switches():
    command = canonical_command(benchmark="split-digits", phases=1, methods=["lucir"], seeds=[1],
                                preset="smoke", epochs=None, data_root=None, out=Path("o"),
                                device="cpu", base_classes=None, class_order_seed=1993,
                                speed=SpeedOptions(amp=True, num_workers=2, compile=True))
    assert command.endswith("--device cpu --num-workers 2 --amp --compile")


def test_cli_refuses_negative_workers_before_training(tmp_path):
    from cli import cli

    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--phases", "1",
                                      "--preset", "smoke", "--num-workers", "-1",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Error: --num-workers must be 0 or more (got -1)" in result.output
    assert not (tmp_path / "o").exists()
