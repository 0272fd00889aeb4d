"""`compare --log csv`: a CSV with loss per epoch, lr, a_k and the accuracies of the record;
one progress line per phase when the output is not a terminal."""

from __future__ import annotations

import csv
import io
import math

import pytest
from click.testing import CliRunner

from benchmarks.run import run_logging
from benchmarks.errors import UserError
from benchmarks.run.progress import progress_mode
from benchmarks.store.records import load_record
from cli import cli


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One AANets run (B5 + 1 phase, 2 epochs) with --log csv, output captured (not a TTY)."""
    out = tmp_path_factory.mktemp("log") / "out"
    result = CliRunner().invoke(cli, [
        "compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
        "--epochs", "2", "--methods", "aanets-lucir", "--out", str(out), "--log", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "logs/aanets-lucir/seed1993/metrics.csv").open()))
    return out, result.output, rows


def test_csv_has_the_training_loss_of_every_epoch(logged):
    _, _, rows = logged
    loss = [r for r in rows if r["metric"].startswith("Loss_Epoch/")]
    assert [(r["phase"], r["epoch"]) for r in loss] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert all(math.isfinite(float(r["value"])) and float(r["value"]) > 0 for r in loss)


def test_csv_has_lr_per_group_and_a_k_per_level(logged):
    _, _, rows = logged
    lr = {(r["phase"], r["metric"]) for r in rows if r["metric"].startswith("LR_Epoch/")}
    assert lr == {("0", "LR_Epoch/backbone"), ("0", "LR_Epoch/classifier"), ("1", "LR_Epoch/stable"),
                  ("1", "LR_Epoch/plastic"), ("1", "LR_Epoch/classifier")}
    a_k = [r for r in rows if r["metric"].startswith("Aggregation_a_k/")]
    assert {r["phase"] for r in a_k} == {"1"}  # no aggregated network in phase 0
    assert len(a_k) == 3 * 2  # ResNet-32: 3 levels, 2 epochs


def test_csv_accuracies_are_the_records(logged):
    out, _, rows = logged
    record = load_record(out / "runs/aanets-lucir/seed1993.json")
    stream = [float(r["value"]) for r in rows if r["metric"].startswith("Top1_Acc_Stream/eval_phase")]
    nme = [float(r["value"]) for r in rows if r["metric"].startswith("Top1_NME_Acc_Stream/")]
    assert stream == pytest.approx(record["accuracy"])
    assert nme == pytest.approx(record["nme_accuracy"])


def test_progress_is_one_line_per_phase_when_not_a_terminal(logged):
    _, output, _ = logged
    lines = [line for line in output.splitlines() if line.startswith("aanets-lucir seed 1993: phase")]
    assert [line.split(" done")[0] for line in lines] == [
        "aanets-lucir seed 1993: phase 0 (of 0-1)", "aanets-lucir seed 1993: phase 1 (of 0-1)"]
    assert all("last epoch loss" in line and ", lr 0.05" in line for line in lines)
    assert "run 1/1: aanets-lucir seed 1993" in output
    assert "\r" not in output  # no progress bar redraws in a log file


def test_progress_mode_follows_the_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress_mode(False, Tty()) == "bars"
    assert progress_mode(False, io.StringIO()) == "lines"
    assert progress_mode(True, Tty()) == "off"


def test_log_kinds_are_checked_before_any_training(monkeypatch):
    from benchmarks.plan import request

    assert request.parse_log_kinds(["csv", "csv", " CSV"]) == ("csv",)
    with pytest.raises(UserError, match="unknown --log 'mlflow'"):
        request.parse_log_kinds(["mlflow"])
    monkeypatch.setattr(request.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="--log tensorboard needs the tensorboard package"):
        request.parse_log_kinds(["tensorboard"])
    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--log", "mlflow"])
    assert result.exit_code == 2 and "Invalid value for '--log'" in result.output


def test_wandb_logger_runs_offline_with_this_wandb(tmp_path, monkeypatch):
    """Avalanche 0.6.0's WandBLogger alone fails with current wandb; ours logs numbers."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    (logger,) = run_logging.make_loggers(["wandb"], tmp_path, run_name="t", config={"a": 1})
    try:
        logger.log_single_metric("Loss_Epoch/x", 0.5, 3)
        logger.log_single_metric("image", object(), 3)  # not a number: skipped, no error
    finally:
        run_logging.close_loggers([logger])
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))


def test_record_says_device_and_threads_and_the_table_shows_them(logged):
    import torch

    out, _, _ = logged
    record = load_record(out / "runs/aanets-lucir/seed1993.json")
    assert record["device"] == "cpu" and record["cpu_threads"] == torch.get_num_threads()
    threads = record["cpu_threads"]
    assert f"Ran on cpu ({threads} CPU thread{'' if threads == 1 else 's'}, fp32)" in (out / "table.md").read_text()


def test_epoch_bar_shows_the_epochs_mean_loss_and_lr():
    import pickle
    from types import SimpleNamespace

    import torch

    from benchmarks.run.progress import EpochProgress

    strategy = SimpleNamespace(train_epochs=2, optimizer=SimpleNamespace(param_groups=[{"lr": 0.01}]))
    epochs = EpochProgress(enabled=True)
    epochs.before_training_exp(strategy)
    epochs.before_training_epoch(strategy)
    for loss in (0.25, 0.75):
        strategy.loss = torch.tensor(loss, requires_grad=True) * 1.0
        epochs.after_training_iteration(strategy)
    epochs.after_training_epoch(strategy)
    assert epochs.last_loss == pytest.approx(0.5) and epochs.last_lr == 0.01
    assert "loss=0.5000" in epochs.bar.postfix and "lr=0.01" in epochs.bar.postfix
    assert pickle.loads(pickle.dumps(epochs)).bar is None  # a checkpoint never holds the bar
    epochs.after_training_exp(strategy)
