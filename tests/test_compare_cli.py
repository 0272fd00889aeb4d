"""`cli.py compare / report / list` in-process: outputs, skipping, redoing, bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import benchmarks.run.runner as runner_module
from benchmarks.store.records import load_record
from cli import cli

BASE = ["compare", "--benchmark", "split-digits", "--phases", "5", "--preset", "smoke",
        "--methods", "naive,replay", "--seeds", "1,2", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def snapshot(folder: Path) -> dict[str, str]:
    """Content hash of every file below ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def count_runs(monkeypatch):
    """Record which (method, seed) runs actually train."""
    calls = []
    real = runner_module.run_one

    def counting(spec, *args, **kwargs):
        calls.append((spec.method, spec.seed))
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(runner_module, "run_one", counting)
    return calls


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A finished smoke comparison (naive, replay x seeds 1, 2)."""
    out = tmp_path_factory.mktemp("cmp") / "out"
    result = invoke(*BASE, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_compare_writes_table_csv_plot_and_runs(done):
    for name in ("table.md", "table.csv", "accuracy.png", "command.txt",
                 "runs/naive/seed1.json", "runs/naive/seed2.json",
                 "runs/replay/seed1.json", "runs/replay/seed2.json"):
        assert (done / name).is_file(), name
    assert not (done / "checkpoints").exists()
    table = (done / "table.md").read_text()
    command = (done / "command.txt").read_text().strip()
    assert command.startswith("python cli.py compare --benchmark split-digits --phases 5")
    assert command in table
    assert "preset `smoke` (REDUCED" in table
    assert "| naive " in table and "| replay " in table and " ± " in table
    rec = load_record(done / "runs/replay/seed2.json")
    assert rec["command"] == command and rec["seed"] == 2 and rec["reduced"] is True


def test_second_identical_compare_trains_nothing(done, count_runs):
    before = snapshot(done / "runs")
    table = (done / "table.md").read_text()
    result = invoke(*BASE, "--out", str(done))
    assert result.exit_code == 0, result.output
    assert count_runs == []
    assert snapshot(done / "runs") == before
    assert (done / "table.md").read_text() == table


def test_corrupt_run_file_is_reported_and_redone(tmp_path, count_runs):
    out = tmp_path / "out"
    args = [*BASE[:-3], "--seeds", "1", "--quiet", "--out", str(out)]
    assert invoke(*args).exit_code == 0
    original = load_record(out / "runs/naive/seed1.json")
    path = out / "runs/naive/seed1.json"
    path.write_text(path.read_text()[:100])  # a torn file
    count_runs.clear()
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "naive/seed1.json is unusable" in result.stderr
    assert count_runs == [("naive", 1)]  # only the broken run is trained again
    assert len(list((out / "runs/naive").glob("seed1.json.damaged-*"))) == 1  # kept aside
    redone = load_record(path)
    assert redone["accuracy"] == original["accuracy"]  # same seed, same numbers


def test_report_rebuilds_tables_and_plot_without_training(done, count_runs):
    table = (done / "table.md").read_text()
    csv = (done / "table.csv").read_text()
    for name in ("table.md", "table.csv", "accuracy.png"):
        (done / name).unlink()
    result = invoke("report", "--out", str(done))
    assert result.exit_code == 0, result.output
    assert count_runs == []
    assert (done / "table.md").read_text() == table
    assert (done / "table.csv").read_text() == csv
    assert (done / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_report_skips_and_reports_unusable_files(done, tmp_path):
    out = tmp_path / "copy"
    for path in (done / "runs").rglob("*.json"):
        target = out / path.relative_to(done)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (out / "runs/naive/seed2.json").write_text('{"status": "complete"}')
    result = invoke("report", "--out", str(out))
    assert result.exit_code == 0
    assert "skipping unusable run file" in result.stderr and "seed2.json" in result.stderr
    assert "| naive    |       1 |" in (out / "table.md").read_text()  # one seed left, right-aligned


def test_list_shows_benchmarks_methods_presets():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("split-digits", "split-cifar100", "aanets-lucir", "aanets-icarl", "lucir",
                 "icarl", "aanets-lucir-dualfree", "aanets-icarl-dualfree", "naive", "cumulative", "replay", "lwf", "ewc",
                 "avl-icarl", "der", "bic", "paper", "cpu", "smoke"):
        assert f"  {name} " in result.output, name


@pytest.mark.parametrize("args, message", [
    (["--methods", "naive,nope"], "unknown method 'nope'"),
    (["--benchmark", "split-nothing"], "unknown benchmark"),
    (["--seeds", "1,x"], "bad seed list"),
    (["--seeds", ""], "bad seed list"),
    (["--seeds", "-1"], "bad seed list"),
    (["--preset", "huge"], "unknown preset"),
    (["--phases", "3"], "phases=3"),
    (["--epochs", "0"], "--epochs"),
    (["--phases", "5,x"], "bad --phases"),
    (["--set", "train.epochs=x"], "train.epochs must be an integer"),
    (["--set", "aanets.fusion=1"], "unknown setting 'aanets.fusion'; did you mean"),
])
def test_bad_input_is_one_line_error_and_nothing_is_lost(done, args, message, count_runs):
    before = snapshot(done)
    full = [*BASE, "--out", str(done)]
    for i in range(0, len(args), 2):  # replace the option's value (or add the option)
        if args[i] in full:
            full[full.index(args[i]) + 1] = args[i + 1]
        else:
            full += args[i:i + 2]
    result = invoke(*full)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert count_runs == []
    assert snapshot(done) == before


def test_unwritable_output_folder(tmp_path, count_runs):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        result = invoke(*BASE, "--out", str(out))
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: ") and result.stderr.strip().count("\n") == 0
        assert "Traceback" not in result.output
    assert count_runs == []
    assert blocker.read_text() == "x"


def test_out_folder_with_other_settings_is_refused(done, count_runs):
    before = snapshot(done)
    result = invoke(*BASE, "--epochs", "2", "--out", str(done))
    assert result.exit_code == 2
    assert "other settings" in result.stderr
    assert count_runs == [] and snapshot(done) == before


def test_cuda_without_gpu_is_a_user_error(done):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = invoke(*BASE, "--device", "cuda", "--out", str(done))
    assert result.exit_code == 2 and "no CUDA device" in result.stderr


def test_report_on_a_folder_without_runs(tmp_path):
    result = invoke("report", "--out", str(tmp_path / "nothing"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "holds no runs" in result.stderr


def test_model_backbone_mlp_trains_the_baselines_and_is_refused_to_ours(tmp_path):
    """--set model.backbone=mlp: the run record names the MLP; a method of our library, which
    needs a ResNet, is refused before anything is written."""
    out = tmp_path / "mlp"
    result = invoke("compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
                    "--methods", "naive", "--seeds", "1", "--quiet", "--set", "model.backbone=mlp",
                    "--set", "data.augment=false", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "cannot checkpoint" not in result.output  # the safe loader reads the MLP back
    record = load_record(out / "runs/naive/seed1.json")
    assert record["stream"]["backbone"] == "mlp"
    assert record["settings"]["config"]["model.backbone"] == "mlp"
    assert record["settings"]["config"]["data.augment"] is False
    # the same folder at the defaults: refused, naming both settings at their values
    result = invoke("compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
                    "--methods", "naive", "--seeds", "1", "--quiet", "--out", str(out))
    assert result.exit_code != 0
    assert "model.backbone mlp (saved) vs auto (now)" in result.output
    assert "data.augment false (saved) vs true (now)" in result.output
    refused = tmp_path / "refused"
    result = invoke("compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
                    "--methods", "naive,aanets-lucir", "--seeds", "1", "--quiet", "--set",
                    "model.backbone=mlp", "--out", str(refused))
    assert result.exit_code != 0 and not refused.exists()
    assert "model.backbone=mlp is for the Avalanche baselines; aanets-lucir need a ResNet" \
        in result.output
    bn = tmp_path / "mlp-bn"
    result = invoke("compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
                    "--methods", "naive", "--seeds", "1", "--quiet", "--set",
                    "model.backbone=mlp-bn", "--out", str(bn))
    assert result.exit_code == 0 and "cannot checkpoint" not in result.output, result.output
    assert load_record(bn / "runs/naive/seed1.json")["stream"]["backbone"] == "mlp-bn"
