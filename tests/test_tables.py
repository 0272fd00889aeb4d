"""Tables and plots from synthetic run records (exact means and stds)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from benchmarks.report import plots, tables
from test_records import make_record


@pytest.fixture
def recs():
    # naive: avg inc acc over seeds = 60% and 70% -> mean 65, sample std 7.0711
    return [
        make_record((0.8, 0.4), method="naive", seed=1),       # avg 0.6, last 0.4
        make_record((0.9, 0.5), method="naive", seed=2),       # avg 0.7, last 0.5
        make_record((0.9, 0.8, 0.7), method="replay", seed=1,  # other phases count: own group
                    nme_accuracy=[0.9, 0.85, 0.8],
                    nme_avg_incremental_accuracy=0.85, nme_last_accuracy=0.8),
        make_record((0.8, 0.6), method="replay", seed=1, wall_time_s=3.0),
    ]


def test_summary_means_and_sample_std(recs):
    s = tables.summarize(tables.records_frame(recs), ["replay", "naive"])
    s2 = s[s["phases"] == 1].set_index("method")
    assert list(s2.index) == ["replay", "naive"]  # method order respected
    assert s2.loc["naive", "seeds"] == 2
    assert s2.loc["naive", "avg_incremental_accuracy_mean"] == pytest.approx(65.0)
    assert s2.loc["naive", "avg_incremental_accuracy_std"] == pytest.approx(7.0710678, rel=1e-6)
    assert s2.loc["naive", "last_accuracy_mean"] == pytest.approx(45.0)
    assert s2.loc["naive", "last_accuracy_std"] == pytest.approx(7.0710678, rel=1e-6)
    assert s2.loc["replay", "seeds"] == 1
    assert pd.isna(s2.loc["replay", "avg_incremental_accuracy_std"])  # one seed: no std
    assert s2.loc["replay", "time_s_mean"] == pytest.approx(3.0)


def test_markdown_cells_heading_and_command(recs):
    md = tables.render_markdown(recs, ["naive", "replay"])
    assert md.count("## split-digits") == 2  # one table per benchmark/phases
    assert "## split-digits, 1 incremental phases — preset `smoke` (REDUCED" in md
    assert "python cli.py compare" in md
    assert "| naive    |       2 |       65.00 ± 7.07 |" in md  # numbers right-aligned
    assert "45.00 ± 7.07" in md
    # the 2-phase replay group has NME; the NME column appears there only
    two_phase = md.split("## split-digits, 2 incremental phases")[1]
    assert "NME avg inc. acc (%)" in two_phase and "85.00" in two_phase
    one_phase = md.split("## split-digits, 2 incremental phases")[0]
    assert "NME" not in one_phase


def test_paper_preset_heading_is_not_reduced():
    rec = make_record(preset="paper", reduced=False)
    md = tables.render_markdown([rec])
    assert "(paper setting)" in md and "REDUCED" not in md


def test_csv_has_means_and_stds(recs):
    frame = pd.read_csv(io.StringIO(tables.render_csv(recs, ["naive", "replay"])))
    row = frame[(frame["method"] == "naive")].iloc[0]
    assert row["avg_incremental_accuracy_mean"] == pytest.approx(65.0)
    assert row["avg_incremental_accuracy_std"] == pytest.approx(7.0711, abs=1e-4)
    # forgetting per seed: 0.8 -> 0.4 and 0.9 -> 0.5, both 40 points
    assert row["forgetting_mean"] == pytest.approx(40.0)
    assert row["forgetting_std"] == pytest.approx(0.0)
    assert {"benchmark", "phases", "preset", "reduced", "seeds"} <= set(frame.columns)


def test_accuracy_curves_and_png(recs, tmp_path):
    naive = [r for r in recs if r["method"] == "naive"]
    curves = plots.accuracy_curves(naive)
    x, mean, std = curves["naive"]
    assert x == [5, 6]
    assert mean.tolist() == pytest.approx([85.0, 45.0])
    assert std.tolist() == pytest.approx([7.0710678, 7.0710678])
    path = plots.plot_accuracy(naive, tmp_path / "accuracy.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_number_columns_are_right_aligned_and_settings_complete():
    cfg = {"epochs": 4, "lr": 0.1, "lr_milestones": [2, 3], "lr_gamma": 0.1, "momentum": 0.9,
           "weight_decay": 5e-4, "batch_size": 64, "memory_per_class": 20, "memory_total": None,
           "train_per_class": 200, "test_per_class": None, "image_size": None}
    rec = make_record(config=cfg, device="cuda", cpu_threads=2, git_commit="a" * 40,
                      versions={"torch": "2.14.1", "avalanche": "0.6.0"})
    md = tables.render_markdown([rec], notes={"naive": "no hyperparameters of its own"})
    separator = next(line for line in md.splitlines() if line.startswith("|:"))
    assert separator.split("|")[1:-1][0].startswith(":") and not separator.split("|")[1].endswith(":")
    assert all(cell.endswith(":") and not cell.startswith(":") for cell in separator.split("|")[2:-1])
    assert ("Settings: 4 epochs/phase, lr 0.1 (x0.1 at epochs 2, 3), momentum 0.9, weight decay "
            "0.0005, batch 64, 20 exemplars/class, images per class: at most 200 train / all test.") in md
    assert "Ran on cuda (2 CPU threads, fp32), torch 2.14.1, Avalanche 0.6.0, code at commit aaaaaaa." in md
    assert "- `naive`: no hyperparameters of its own" in md.split(separator)[1]  # under the table


def test_produced_on_says_what_a_record_does_not_hold():
    assert tables.produced_on([make_record()]) == (
        "Ran on cpu (CPU threads not recorded, fp32), commit not recorded.")
    # a table of old and new records does not pass the new ones' thread count off as all of it
    assert tables.produced_on([make_record(), make_record(cpu_threads=1)]) == (
        "Ran on cpu (1 CPU thread; not recorded for 1 of 2 runs, fp32), commit not recorded.")


def test_plot_styles_are_distinct_aanets_bold_and_legend_outside(recs):
    methods = ["aanets-lucir", "aanets-icarl", "lucir", "icarl", "naive", "cumulative", "replay",
               "lwf", "ewc", "avl-icarl", "der", "bic"]
    styles = plots.curve_styles(methods)
    assert len({s["color"] for s in styles.values()}) == 12
    assert len({s["marker"] for s in styles.values()}) == 12
    assert min(styles[m]["linewidth"] for m in methods[:2]) > max(styles[m]["linewidth"] for m in methods[2:])
    fig = plots.draw_accuracy(recs[:2], title="t")
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.x0 >= fig.axes[0].get_window_extent().x1  # right of the data, covers no point
    plots.plt.close(fig)


def test_sixteen_curves_never_share_a_colour_or_marker_and_identical_ones_are_named():
    import numpy as np

    from benchmarks.report import plots

    names = [f"m{i}" for i in range(15)] + ["aanets-lucir"]
    styles = plots.curve_styles(names)
    assert len({s["color"] for s in styles.values()}) == 16
    assert len({s["marker"] for s in styles.values()}) == 16
    assert styles["aanets-lucir"]["linestyle"] == "-" and styles["aanets-lucir"]["linewidth"] > 2
    families = {plots.curve_styles([m])[m]["linestyle"] for m in ("lucir", "naive", "replay")}
    assert families == {"--", "-.", ":"}  # our baselines, the bounds, Avalanche's baselines
    x = [5, 6, 7]
    curves = {"naive": (x, np.array([90.0, 45.0, 30.0]), None),
              "lwf": (x, np.array([90.0, 45.0, 30.0]), None),
              "ewc": (x, np.array([90.0, 45.0, 30.0]), None),
              "replay": (x, np.array([90.0, 60.0, 50.0]), None)}
    assert plots.identical_to(curves) == {"lwf": "naive", "ewc": "naive"}


def test_every_table_has_a_legend_naming_the_std_and_the_nme_column():
    from test_records import make_record

    plain = tables.render_markdown([make_record(seed=s) for s in (1, 2)])
    legend = next(line for line in plain.splitlines() if line.startswith("Legend: "))
    assert "sample standard deviation" in legend and "nearest-mean" not in legend
    nme = [make_record(seed=s, method="lucir", nme_accuracy=[0.9, 0.5, 0.4],
                       nme_avg_incremental_accuracy=0.6, nme_last_accuracy=0.4) for s in (1, 2)]
    md = tables.render_markdown(nme)
    legend = next(line for line in md.splitlines() if line.startswith("Legend: "))
    assert "NME avg inc. acc" in md and "nearest-mean-of-exemplars" in legend
