"""Grids of settings (compare --grid), paired differences (--versus) and the a_k diagnostics.

A 2-value grid x 2 methods x 2 seeds on split-digits (smoke): the cells, one base phase per
group and seed, the table's rows and columns, and the same numbers as the cells run one by one
with --set; a method the grid key does not reach trains once.
"""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchmarks.compare import Hooks, run_compare
from benchmarks.errors import UserError
from benchmarks.plan.planner import plan_compare
from benchmarks.plan.request import CompareRequest
from benchmarks.report import paired, tables
from benchmarks.run.base_phase import base_key
from benchmarks.store.records import find_record_files, load_record
from cli import cli
from test_records import make_record

PHASES = 1
GRID = "aanets.fusion_lr=1e-8,0.5"
NAMES = ("aanets-lucir@aanets.fusion_lr=1e-08", "aanets-lucir@aanets.fusion_lr=0.5")
SMOKE = dict(benchmark="split-digits", phases=PHASES, preset="smoke", device="cpu", quiet=True)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def numbers(rec: dict) -> tuple:
    return (rec["accuracy"], rec["exp_accuracy"], rec["nme_accuracy"], rec["aggregation_weights"])


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the markdown table's rows (header first, the separator left out)."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("|:")]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, list[Path], object]:
    """compare --grid aanets.fusion_lr=1e-8,0.5 --methods aanets-lucir,replay --seeds 1,2, with
    the base phases it keeps counted."""
    import benchmarks.run.base_phase as base_phase

    out = tmp_path_factory.mktemp("grid") / "out"
    saved: list[Path] = []
    real = base_phase.save_checkpoint
    base_phase.save_checkpoint = lambda path, *a, **k: (saved.append(path), real(path, *a, **k))
    try:
        result = invoke("compare", "--benchmark", "split-digits", "--phases", str(PHASES),
                        "--preset", "smoke", "--methods", "aanets-lucir,replay", "--seeds", "1,2",
                        "--grid", GRID, "--versus", "replay", "--quiet", "--out", str(out))
    finally:
        base_phase.save_checkpoint = real
    assert result.exit_code == 0, result.output
    return out, saved, result


def test_the_grid_trains_every_cell_once_in_its_own_folder(grid):
    out, _, _ = grid
    runs = sorted(p.relative_to(out / "runs").as_posix() for p in find_record_files(out))
    assert runs == sorted([f"{name}/seed{s}.json" for name in NAMES for s in (1, 2)]
                          + ["replay/seed1.json", "replay/seed2.json"])  # replay: trained once
    rec = load_record(out / "runs" / NAMES[1] / "seed1.json")
    assert rec["method"] == "aanets-lucir" and rec["variant"] == {"aanets.fusion_lr": 0.5}
    assert rec["config"]["fusion_lr"] == 0.5
    assert load_record(out / "runs/replay/seed1.json")["variant"] is None
    assert "--grid aanets.fusion_lr=1e-8,0.5" in (out / "command.txt").read_text()


def test_one_base_phase_per_group_and_seed(grid):
    out, saved, _ = grid
    # fusion_lr acts from phase 1 on: the variants share phase 0, one per seed
    assert sorted(p.relative_to(out).as_posix() for p in saved) == [
        "checkpoints/_base/lucir-base/seed1.pt", "checkpoints/_base/lucir-base/seed2.pt"]
    for seed in (1, 2):
        assert load_record(out / "runs" / NAMES[0] / f"seed{seed}.json")["base_phase_from"] is None
        assert load_record(out / "runs" / NAMES[1] / f"seed{seed}.json")["base_phase_from"] == NAMES[0]
    assert not (out / "checkpoints").exists()  # every run done: the kept states are gone


def test_the_cells_give_the_numbers_of_compares_run_one_by_one_with_set(grid, tmp_path):
    out, _, _ = grid
    for value, name in zip(("1e-8", "0.5"), NAMES):
        alone = tmp_path / value
        outcome = run_compare(CompareRequest(**SMOKE, methods="aanets-lucir,replay", seeds="1,2",
                                             sets=(f"aanets.fusion_lr={value}",), out=alone))
        assert sorted(outcome.trained) == [("aanets-lucir", 1), ("aanets-lucir", 2),
                                           ("replay", 1), ("replay", 2)]
        for seed in (1, 2):
            mine = load_record(out / "runs" / name / f"seed{seed}.json")
            theirs = load_record(alone / "runs/aanets-lucir" / f"seed{seed}.json")
            assert numbers(mine) == numbers(theirs)  # the adopted phase 0 included
            assert theirs["base_phase_from"] is None  # trained its own phase 0
            replay = load_record(out / "runs/replay" / f"seed{seed}.json")
            plain = load_record(alone / "runs/replay" / f"seed{seed}.json")
            assert replay["run_key"] == plain["run_key"] and numbers(replay) == numbers(plain)
    a, b = (load_record(out / "runs" / n / "seed1.json") for n in NAMES)
    assert a["aggregation_weights"] != b["aggregation_weights"]  # the variants do differ


def test_the_table_has_a_row_per_method_and_value_and_a_grid_column(grid):
    out, _, _ = grid
    md = (out / "table.md").read_text()
    rows = table_rows(md)
    assert rows[0][:3] == ["method", "aanets.fusion_lr", "seeds"]
    assert [r[:3] for r in rows[1:]] == [["aanets-lucir", "1e-08", "2"],
                                         ["aanets-lucir", "0.5", "2"], ["replay", "–", "2"]]
    assert "Δ avg inc. acc vs replay (95% CI)" in rows[0] and rows[3][-2] == "(reference)"
    assert "Grid (one row per method and value" in md and "Records with other settings" not in md
    frame = pd.read_csv(io.StringIO((out / "table.csv").read_text()))
    assert list(frame["run"]) == [*NAMES, "replay"]
    assert frame.loc[1, "aanets.fusion_lr"] == 0.5 and pd.isna(frame.loc[2, "aanets.fusion_lr"])
    for i, name in enumerate(NAMES):
        recs = [load_record(out / "runs" / name / f"seed{s}.json") for s in (1, 2)]
        mean = 100 * sum(r["avg_incremental_accuracy"] for r in recs) / 2
        assert frame.loc[i, "avg_incremental_accuracy_mean"] == pytest.approx(mean, abs=1e-4)
    assert (out / "accuracy.png").is_file() and (out / "aggregation.png").is_file()


def test_the_same_command_again_skips_every_cell(grid):
    out, _, _ = grid
    outcome = run_compare(CompareRequest(**SMOKE, methods="aanets-lucir,replay", seeds="1,2",
                                         grid=(GRID,), out=out))
    assert outcome.trained == [] and len(outcome.skipped) == 6


def test_report_rebuilds_the_grid_table_aggregation_plot_and_per_phase_a_k(grid):
    out, _, _ = grid
    (out / "aggregation.png").unlink()
    result = invoke("report", "--out", str(out), "--per-phase", "--versus", NAMES[0])
    assert result.exit_code == 0, result.output
    assert (out / "aggregation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = table_rows((out / "table.md").read_text())
    assert rows[0][-2] == f"Δ avg inc. acc vs {NAMES[0]} (95% CI)" and rows[1][-2] == "(reference)"
    per_phase = (out / "per_phase.md").read_text()
    assert "aggregation weights a_k after each phase" in per_phase
    rec = load_record(out / "runs" / NAMES[1] / "seed1.json")
    weights = [w for r in (rec, load_record(out / "runs" / NAMES[1] / "seed2.json"))
               for w in [r["aggregation_weights"][PHASES][0]]]
    mean = sum(weights) / 2
    assert f"{mean:.4f} ± " in per_phase
    csv = pd.read_csv(out / "per_phase.csv")
    assert set(csv["quantity"]) == {"accuracy (%)", "a_k level 1", "a_k level 2", "a_k level 3"}


def test_versus_a_method_that_is_absent_is_one_line(grid, tmp_path):
    out, _, _ = grid
    result = invoke("report", "--out", str(out), "--versus", "naive")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --versus naive: no runs")
    assert result.stderr.strip().count("\n") == 0
    result = invoke("report", "--out", str(out), "--versus", "aanets-lucir")  # two variants
    assert result.exit_code == 2 and "it has 2 grid variants; name one: " in result.stderr
    assert all(name in result.stderr for name in NAMES)
    result = invoke("compare", "--benchmark", "split-digits", "--preset", "smoke",
                    "--methods", "naive", "--versus", "lucir", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0
    assert "--versus lucir" in result.stderr and not (tmp_path / "x").exists()


def test_dry_run_prints_the_grids_cells(tmp_path):
    lines: list[str] = []
    run_compare(CompareRequest(**SMOKE, methods="aanets-lucir,lucir,replay", seeds="1,2",
                               grid=(GRID, "train.lr=0.05,0.1"), dry_run=True, out=tmp_path / "o"),
                Hooks(echo=lines.append))
    rows = table_rows(lines[0])
    assert rows[0][:3] == ["method", "aanets.fusion_lr", "train.lr"]
    assert [r[:3] for r in rows[1:]] == [
        ["aanets-lucir", "1e-08", "0.05"], ["aanets-lucir", "1e-08", "0.1"],
        ["aanets-lucir", "0.5", "0.05"], ["aanets-lucir", "0.5", "0.1"],
        ["lucir", "–", "0.05"], ["lucir", "–", "0.1"], ["replay", "–", "0.05"], ["replay", "–", "0.1"]]
    assert "Total: 16 runs" in lines[0] and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- the plan


def test_a_key_a_method_does_not_reach_or_read_gives_it_one_cell(tmp_path):
    plan = plan_compare(CompareRequest(**SMOKE, seeds="1", grid=(GRID,), out=tmp_path,
                                       methods="aanets-lucir,lucir,aanets-lucir-dualfree,"
                                               "podnet,aanets-podnet,replay,naive"))
    names = [c.run.name for c in plan.protocols[0].cells]
    # replay, naive: not in their run keys; lucir, the ablation, PODNet: never read (level 2)
    assert names == [*NAMES, "lucir", "aanets-lucir-dualfree", "podnet", "aanets-podnet",
                     "replay", "naive"]
    plain = plan_compare(CompareRequest(**SMOKE, seeds="1", out=tmp_path, methods="lucir,replay"))
    keys = {c.run.name: c.run.key() for c in plan.protocols[0].cells}
    assert [keys[c.run.name] for c in plain.protocols[0].cells] == \
        [c.run.key() for c in plain.protocols[0].cells]  # the cells of a compare without grid
    podnet = plan_compare(CompareRequest(**SMOKE, seeds="1", out=tmp_path, methods="podnet,aanets-podnet",
                                         grid=("methods.podnet.aanets_fusion_lr=0,0.01",)))
    assert [c.run.name for c in podnet.protocols[0].cells] == [
        "podnet", "aanets-podnet@methods.podnet.aanets_fusion_lr=0.0",
        "aanets-podnet@methods.podnet.aanets_fusion_lr=0.01"]


def test_the_base_key_ignores_only_the_level2_settings(tmp_path):
    plan = plan_compare(CompareRequest(**SMOKE, seeds="1", out=tmp_path, methods="aanets-lucir",
                                       grid=(GRID, "aanets.margin=0.5,0.2",
                                             "aanets.balanced_per_class=2,3")))
    keys = {}
    for cell in plan.protocols[0].cells:
        keys.setdefault(cell.run.variant[1][1], set()).add(base_key(cell.run.settings()))
    # fusion_lr and balanced_per_class (level 2) share phase 0; the margin does not
    assert len(keys[0.5]) == 1 and len(keys[0.2]) == 1 and keys[0.5] != keys[0.2]


@pytest.mark.parametrize("grid, message", [
    (("aanets.fusion_lr=1e-4,x",), "Error: --grid: aanets.fusion_lr must be a number"),
    (("aanets.fusion=1,2",), "Error: --grid aanets.fusion: unknown setting"),
    (("data.train_per_class=10,20",), "not their data"),
    (("model.backbone=resnet32,mlp",), "--grid model.backbone: a grid varies how runs train, "
                                       "not their data or network"),
    (("aanets.fusion_lr=1e-4,0.0001",), "are the same setting"),
    (("aanets.fusion_lr=1e-4", "aanets.fusion_lr=1e-3"), "given twice"),
    (("memory.per_class=3,3",), "a value is repeated"),
    (("train.lr=",), "no empty value"),
])
def test_a_bad_grid_is_one_line(grid, message, tmp_path):
    args = [a for item in grid for a in ("--grid", item)]
    result = invoke("compare", "--benchmark", "split-digits", "--preset", "smoke", "--methods",
                    "aanets-lucir", *args, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.strip().count("\n") == 0 and not (tmp_path / "x").exists()


def test_a_grid_key_given_by_set_too_is_refused(tmp_path):
    with pytest.raises(UserError, match="also given by --set"):
        plan_compare(CompareRequest(**SMOKE, methods="lucir", out=tmp_path, grid=("train.lr=0.1,0.2",),
                                    sets=("train.lr=0.3",)))
    cells = plan_compare(CompareRequest(**SMOKE, methods="lucir", out=tmp_path,
                                        grid=("train.lr_milestones=[1],[1,2]",))).protocols[0].cells
    assert [c.run.config.lr_milestones for c in cells] == [(1,), (1, 2)]


# ----------------------------------------------------------------------------- paired statistics


def _avg(value: float, seed: int, method: str) -> dict:
    return make_record((value, value), method=method, seed=seed)


def test_the_paired_interval_is_the_hand_computed_one():
    recs = [_avg(a, s, "a") for s, a in zip((1, 2, 3), (0.60, 0.70, 0.65))]
    recs += [_avg(b, s, "b") for s, b in zip((1, 2, 3), (0.50, 0.62, 0.60))]
    recs += [_avg(0.5, 1, "c"), _avg(0.4, 9, "c")]  # one seed shared with b
    summary = tables.summarize(tables.records_frame(recs), versus="b").set_index("method")
    diffs = [10.0, 8.0, 5.0]  # a - b per seed, in points
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = 4.302653 * sd / math.sqrt(3)  # t_{0.975, 2}
    row = summary.loc["a"]
    assert row["versus_shared_seeds"] == 3 and row["versus_mean_diff"] == pytest.approx(mean)
    assert row["versus_ci_low"] == pytest.approx(mean - half, abs=1e-5)
    assert row["versus_ci_high"] == pytest.approx(mean + half, abs=1e-5)
    assert row["versus_ci_excludes_0"]
    assert row["versus_text"] == f"+{mean:.2f} [+{mean - half:.2f}, +{mean + half:.2f}] *"
    assert summary.loc["b", "versus_text"] == "(reference)"
    assert summary.loc["c", "versus_text"] == "+0.00 (1 shared seed: no interval)"
    md = tables.render_markdown(recs, versus="b")
    assert "Δ avg inc. acc vs b (95% CI)" in md and "* = the interval excludes 0" in md


def test_the_t_table_without_scipy(monkeypatch):
    from scipy.stats import t

    scipy_values = [paired.t_quantile(df) for df in (1, 2, 29, 30, 40)]
    monkeypatch.setitem(sys.modules, "scipy.stats", None)  # `from scipy.stats import t` fails
    table_values = [paired.t_quantile(df) for df in (1, 2, 29, 30, 40)]
    assert table_values[:4] == [12.7062, 4.3027, 2.0452, 2.0423]
    assert table_values == pytest.approx(scipy_values, abs=1e-4)
    assert scipy_values[1] == pytest.approx(t.ppf(0.975, 2))
    assert paired.paired_difference({1: 1.0}, {2: 1.0}).text() == "no shared seed"
    same = paired.paired_difference({1: 2.0, 2: 3.0}, {1: 1.0, 2: 2.0})
    assert (same.low, same.high, same.excludes_zero) == (1.0, 1.0, True)  # sd 0: no width


def test_records_made_without_the_grid_are_rows_beside_its_variants():
    """A grid variant and a record of the same method without a variant are rows of their own;
    none is 'other settings'."""
    plain = make_record((0.6, 0.5), method="aanets-lucir", seed=1)
    variant = make_record((0.7, 0.5), method="aanets-lucir", seed=1,
                          variant={"aanets.fusion_lr": 0.5})
    for rec, value in ((plain, 1e-8), (variant, 0.5)):
        rec["settings"] = {"method": "aanets-lucir", "seed": 1, "benchmark": "split-digits",
                           "config": {"aanets.fusion_lr": value, "train.epochs": 1}}
    variant["settings"]["variant"] = {"aanets.fusion_lr": 0.5}
    kept, apart = tables.split_by_settings([plain, variant])
    assert len(kept) == 2 and apart == []
    other = json.loads(json.dumps(variant))
    other["settings"]["config"]["train.epochs"] = 2  # another epoch count: apart
    kept, apart = tables.split_by_settings([plain, variant, other], "python cli.py compare")
    assert len(apart) == 1 and "train.epochs" in apart[0].difference
    assert apart[0].file == "runs/aanets-lucir@aanets.fusion_lr=0.5/seed1.json"


def test_the_grid_on_ray_gives_the_same_records(grid, tmp_path):
    """The same grid with --executor ray (a local instance of 2 CPUs): the same cells, records
    and shared phase 0 as in-process."""
    import logging

    ray = pytest.importorskip("ray", reason='ray is not installed (pip install -e ".[harness,ray]")')
    from benchmarks.plan.request import ExecutorChoice

    out, _, _ = grid
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        outcome = run_compare(CompareRequest(**SMOKE, methods="aanets-lucir,replay", seeds="1,2",
                                             grid=(GRID,), executor=ExecutorChoice("ray"),
                                             out=tmp_path / "ray"))
    finally:
        ray.shutdown()
    assert outcome.failed == [] and len(outcome.trained) == 6
    for path in find_record_files(out):
        mine = load_record(tmp_path / "ray" / path.relative_to(out))
        theirs = load_record(path)
        assert (mine["run_key"], numbers(mine)) == (theirs["run_key"], numbers(theirs))
    for seed in (1, 2):  # the follower waited for the leader's phase 0 and adopted it
        assert load_record(tmp_path / "ray/runs" / NAMES[1] / f"seed{seed}.json")["base_phase_from"] \
            == NAMES[0]
