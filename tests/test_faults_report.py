"""`report` on folders that hold records of other settings, and plots it no longer makes
(issue 18, items 1 and 8): one row holds only records of the same run settings; the others
are listed apart, naming what differs, and never averaged in; stale plots of ours go, the
user's files stay."""

from __future__ import annotations

import io
import json
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchmarks.compare import run_compare
from benchmarks.plan.request import CompareRequest
from benchmarks.report import plots, tables
from benchmarks.report.combined import write_combined
from benchmarks.report.folder import rebuild_report
from benchmarks.store.records import save_record
from cli import cli
from test_records import make_record

SMOKE = dict(benchmark="split-digits", phases=1, methods="naive", preset="smoke", device="cpu",
             quiet=True)
APART = "Records with other settings (not averaged in"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Three real folders: A (seeds 1, 2), B (seed 3, --epochs 2), C (seed 3, class order 7)."""
    root = tmp_path_factory.mktemp("made")
    run_compare(CompareRequest(**SMOKE, seeds="1,2", out=root / "A"))
    run_compare(CompareRequest(**SMOKE, seeds="3", epochs=2, out=root / "B"))
    run_compare(CompareRequest(**SMOKE, seeds="3", class_order_seed=7, out=root / "C"))
    return {name: root / name for name in "ABC"}


def _folder(made, tmp_path, base: str, *foreign: tuple[str, str]) -> Path:
    """A copy of folder ``base`` with run files of other folders copied in: (folder, seedK)."""
    out = tmp_path / base
    shutil.copytree(made[base], out)
    for folder, seed in foreign:
        shutil.copy(made[folder] / f"runs/naive/{seed}.json", out / f"runs/naive/{seed}.json")
    return out


def _report(out: Path):
    result = CliRunner().invoke(cli, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result


def _avg(out: Path, *seeds: int) -> list[float]:
    return [100 * json.loads((out / f"runs/naive/seed{s}.json").read_text())["avg_incremental_accuracy"]
            for s in seeds]


def test_a_copied_record_of_other_epochs_is_listed_apart_not_averaged(made, tmp_path):
    out = _folder(made, tmp_path, "A", ("B", "seed3"))
    result = _report(out)
    md = (out / "table.md").read_text()
    table, _, apart = md.partition(APART)
    assert "| naive    |       2 |" in table  # 2 seeds, not 3
    assert "- `runs/naive/seed3.json` (naive, seed 3): train.epochs 2 (this record) vs 1 (the table)" in apart
    assert "seed3.json" in result.stderr and "other settings" in result.stderr
    frame = pd.read_csv(io.StringIO((out / "table.csv").read_text()))
    assert len(frame) == 1 and frame.loc[0, "seeds"] == 2
    assert frame.loc[0, "avg_incremental_accuracy_mean"] == pytest.approx(
        statistics.fmean(_avg(out, 1, 2)), abs=1e-4)


def test_a_record_of_another_class_order_is_listed_apart(made, tmp_path):
    out = _folder(made, tmp_path, "A", ("C", "seed3"))
    _report(out)
    table, _, apart = (out / "table.md").read_text().partition(APART)
    assert "| naive    |       2 |" in table
    assert "`runs/naive/seed3.json` (naive, seed 3): class_order_seed 7 (this record) vs 1993 (the table)" in apart


def test_the_heading_states_the_settings_of_the_rows_under_it(made, tmp_path):
    # A with B's record: the heading is A's (1 epoch), never B's --epochs 2 or its command
    out = _folder(made, tmp_path, "A", ("B", "seed3"))
    _report(out)
    table = (out / "table.md").read_text().partition(APART)[0]
    assert "Settings: 1 epochs/phase" in table
    assert "train.epochs=2" not in table and "--epochs 2" not in table
    # B with A's two records: the folder's latest command (B's) picks the rows, though fewer
    out = _folder(made, tmp_path, "B", ("A", "seed1"), ("A", "seed2"))
    _report(out)
    table, _, apart = (out / "table.md").read_text().partition(APART)
    assert "Settings: 2 epochs/phase" in table and "Set on top of the preset: train.epochs=2" in table
    assert "| naive    |       1 |" in table and "--seeds 1,2" not in table
    assert "`runs/naive/seed1.json`" in apart and "`runs/naive/seed2.json`" in apart
    assert "train.epochs 1 (this record) vs 2 (the table)" in apart


def test_the_plot_draws_only_the_rows_records(made, tmp_path, monkeypatch):
    out = _folder(made, tmp_path, "A", ("B", "seed3"))
    drawn = []
    real = plots.plot_accuracy

    def spy(records, path, **kwargs):
        drawn.append(sorted(r["seed"] for r in records))
        return real(records, path, **kwargs)

    monkeypatch.setattr(plots, "plot_accuracy", spy)
    result = rebuild_report(out, warn=lambda msg: None)
    assert drawn == [[1, 2]]
    assert result.other_settings and "seed3.json" in result.other_settings[0]


def test_the_combined_table_leaves_out_records_of_other_settings(made, tmp_path):
    parent = tmp_path / "protocols"
    parent.mkdir()
    p1 = _folder(made, tmp_path, "A", ("B", "seed3")).rename(parent / "p1")
    markdown = write_combined(parent, method_order=["naive"])
    mean, std = statistics.fmean(_avg(p1, 1, 2)), statistics.stdev(_avg(p1, 1, 2))
    assert f"| naive    | {mean:.2f} ± {std:.2f} |" in markdown
    assert "- `p1/runs/naive/seed3.json`: train.epochs 2 (this record) vs 1 (the table)" in markdown


def test_another_method_with_no_record_of_the_tables_settings_has_no_row():
    other = {"epochs": 2, "lr": 0.1, "batch_size": 32, "memory_per_class": 5, "memory_total": None}
    recs = [make_record((0.8, 0.4), seed=1), make_record((0.9, 0.5), seed=2),
            make_record((0.9, 0.6), method="replay", seed=1, config=other)]
    kept, apart = tables.split_by_settings(recs)
    assert kept == recs[:2]
    assert [(a.file, a.difference) for a in apart] == [
        ("runs/replay/seed1.json", "epochs 2 (this record) vs 1 (the table)")]
    md = tables.render_markdown(recs)
    assert "| replay" not in md and "Settings: 1 epochs/phase" in md


def test_a_plot_the_report_no_longer_makes_is_removed_and_the_users_files_stay(made, tmp_path):
    out = _folder(made, tmp_path, "A")
    assert (out / "accuracy.png").is_file()  # one benchmark/phases group: one plot
    users = [out / "accuracy-draft.png", out / "notes.png", out / "accuracy-my-own-p3.png",
             out / "accuracy-split-digits-p1-v2.png"]
    for path in users:
        path.write_bytes(b"mine")
    # a 2-phase record joins: one plot per group; the single accuracy.png is out of date
    save_record(out / "runs/naive/seed9.json", make_record((0.9, 0.6, 0.5), seed=9))
    _report(out)
    assert not (out / "accuracy.png").exists()
    assert (out / "accuracy-split-digits-p1.png").is_file()
    assert (out / "accuracy-split-digits-p2.png").is_file()
    # it goes again: back to one plot, the per-group ones go
    (out / "runs/naive/seed9.json").unlink()
    _report(out)
    assert (out / "accuracy.png").is_file()
    assert not list(out.glob("accuracy-split-digits-p?.png"))
    assert all(path.read_bytes() == b"mine" for path in users)


def test_a_record_trained_without_augmentation_is_not_averaged_with_augmented_ones():
    """data.augment is left out of the run settings at its default (records made before it
    existed lack it); a record that ran with data.augment=false holds it. The report reads the
    missing key as the default, so the two are other settings, not a shared row."""
    def settings(method, seed, **extra):
        config = {"train.epochs": 1, "train.lr": 0.1, **extra}
        return {"benchmark": "split-digits", "phases": 1, "method": method, "seed": seed,
                "device": "cpu", "base_classes": None, "class_order_seed": 1993,
                "config": config, "schema": 1}

    recs = [make_record((0.8, 0.4), seed=1, settings=settings("naive", 1)),
            make_record((0.9, 0.5), seed=2, settings=settings("naive", 2)),
            make_record((0.9, 0.6), method="replay", seed=1,
                        settings=settings("replay", 1, **{"data.augment": False}))]
    kept, apart = tables.split_by_settings(recs)
    assert kept == recs[:2]
    assert [a.file for a in apart] == ["runs/replay/seed1.json"]
    assert "data.augment false (this record) vs true (the table)" in apart[0].difference
    # with the default written out the records agree: the missing key means the default
    recs[2]["settings"]["config"]["data.augment"] = True
    assert tables.split_by_settings(recs)[0] == recs
