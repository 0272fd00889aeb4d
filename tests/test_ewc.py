"""The `ewc` baseline: a bounded, active penalty (Avalanche's own Fisher made it diverge), and a
run whose loss stops being finite is stopped with a clear error instead of recording numbers."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from benchmarks.methods import get_method
from benchmarks.methods.ewc import BoundedFisherEWCPlugin
from benchmarks.errors import RunDiverged
from benchmarks.run.progress import EpochProgress


def penalties_per_phase(strategy, stream):
    """loss - cross-entropy of every training batch, by phase (the EWC penalty itself)."""
    seen: dict[int, list[float]] = {}
    backward = strategy.backward

    def recording_backward(**kwargs):
        ce = strategy.criterion()  # the strategy's own (new-class) cross-entropy
        seen.setdefault(strategy.clock.train_exp_counter, []).append(float((strategy.loss - ce).detach()))
        return backward(**kwargs)

    strategy.backward = recording_backward
    for experience in stream:
        strategy.train(experience)
    return seen


def test_ewc_penalty_stays_bounded_and_active_over_one_class_phases(smoke_digits):
    """Split-Digits with one class a phase: Avalanche's eval-mode Fisher reached 1e16 here and
    the loss NaN. The bounded Fisher keeps every penalty finite and small, and it is not zero."""
    torch.manual_seed(0)
    from benchmarks.plan.config import load_config

    _, bench = smoke_digits(5)
    cfg = load_config("smoke", sets=["methods.ewc.mode=separate"])  # one anchor per phase
    strategy = get_method("ewc").factory(cfg, bench, torch.device("cpu"), None)
    plugin = next(p for p in strategy.plugins if isinstance(p, BoundedFisherEWCPlugin))
    penalties = penalties_per_phase(strategy, bench.benchmark.train_stream)
    assert all(v == 0.0 for v in penalties[0])
    later = [v for phase, values in penalties.items() if phase >= 2 for v in values]
    assert all(torch.isfinite(torch.tensor(later))) and max(later) < 10.0
    assert max(later) > 0.0
    for importances in plugin.importances.values():
        assert max(float(imp.data.max()) for imp in importances.values()) <= plugin.fisher_max


def test_importances_leave_the_model_as_trained():
    """The Fisher passes run in train mode but restore BatchNorm's statistics and the mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = torch.utils.data.TensorDataset(torch.randn(20, 4) * 5 + 3, torch.randint(0, 3, (20,)),
                                          torch.zeros(20, dtype=torch.long))
    plugin = BoundedFisherEWCPlugin(ewc_lambda=1.0, fisher_max=0.5)
    imps = plugin.compute_importances(model, nn.CrossEntropyLoss(), None, data, "cpu", 8)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())
    values = torch.cat([imp.data.flatten() for imp in imps.values()])
    assert float(values.max()) <= 0.5 and float(values.sum()) > 0


def test_fisher_max_must_be_positive():
    with pytest.raises(ValueError, match="fisher_max"):
        BoundedFisherEWCPlugin(ewc_lambda=1.0, fisher_max=0.0)


def test_a_non_finite_epoch_loss_stops_the_run_with_its_phase_and_epoch():
    progress = EpochProgress(enabled=False)
    strategy = SimpleNamespace(optimizer=SimpleNamespace(param_groups=[{"lr": 0.1}]),
                               clock=SimpleNamespace(train_exp_counter=3, train_exp_epochs=1))
    progress.before_training_epoch(strategy)
    for loss in (1.0, float("nan")):
        strategy.loss = torch.tensor(loss)
        progress.after_training_iteration(strategy)
    with pytest.raises(RunDiverged, match=r"nan in phase 3 .* epoch 1, at lr 0.1"):
        progress.after_training_epoch(strategy)


def test_a_diverging_run_names_its_method_and_seed_and_writes_no_record(tmp_path, smoke_digits):
    from benchmarks.plan.config import load_config
    from benchmarks.store.records import find_divergences
    from benchmarks.run.runner import RunSpec, run_one

    _, bench = smoke_digits(1)
    cfg = load_config("smoke", sets=["train.lr=1e30"])
    spec = RunSpec(benchmark="split-digits", phases=1, method="naive", seed=1, config=cfg, device="cpu")
    with pytest.raises(RunDiverged, match=r"^naive seed 1: the training loss is (nan|inf)"):
        run_one(spec, bench, tmp_path, progress=False)
    assert not (tmp_path / "runs").exists()  # no numbers: a note instead, for the tables
    [note] = find_divergences(tmp_path)
    assert note["run_key"] == spec.key() and note["message"].startswith("naive seed 1: the training")


def test_compare_reports_a_diverged_run_and_finishes_the_others(tmp_path):
    from click.testing import CliRunner

    from cli import cli

    from benchmarks.store.records import divergence_path, save_divergence
    from benchmarks.report.folder import rebuild_report

    out = tmp_path / "o"
    save_divergence(out, "naive", 1, None, "naive seed 1: an earlier attempt")  # its success clears it
    result = CliRunner().invoke(cli, [
        "compare", "--benchmark", "split-digits", "--phases", "5", "--preset", "smoke",
        "--methods", "naive,ewc", "--seeds", "1", "--quiet", "--out", str(out),
        "--set", "methods.ewc.ewc_lambda=1e30", "--set", "methods.ewc.mode=separate"])
    assert result.exit_code == 1, result.output
    assert "1 run(s) failed:" in result.output
    assert "ewc seed 1: the training loss is" in result.output and "diverged" in result.output
    assert (out / "runs/naive/seed1.json").is_file() and not (out / "runs/ewc").exists()
    assert not divergence_path(out, "naive", 1).exists() and divergence_path(out, "ewc", 1).is_file()
    for table in ((out / "table.md").read_text(), rebuild_report(out).markdown):
        assert "| naive " in table and "| ewc " not in table
        listed = table.split("Runs that diverged")[1]
        assert "- ewc seed 1: the training loss is" in listed and "lower its lr" not in listed
        assert "earlier attempt" not in table
