"""Several protocols in one compare, the combined table, --dry-run, --per-phase and
report --against paper (difference only for a run in the paper's protocol and setting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.errors import UserError
from benchmarks.report.paper import load_published, paper_dataset
from benchmarks.report.paper.report import paper_reports
from benchmarks.plan.protocols import parse_phases
from benchmarks.store.records import find_record_files, load_record
from cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def protocols(tmp_path_factory) -> Path:
    """compare --phases 1,5 on split-digits, smoke preset (2 methods, 1 seed)."""
    out = tmp_path_factory.mktemp("protocols") / "out"
    result = invoke("compare", "--benchmark", "split-digits", "--phases", "1,5", "--preset",
                    "smoke", "--methods", "naive,lucir", "--seeds", "1", "--quiet",
                    "--set", "methods.lwf.alpha=2", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_two_protocols_give_two_tables_and_one_combined_table(protocols):
    for n in (1, 5):
        folder = protocols / f"p{n}"
        assert (folder / "table.md").is_file() and (folder / "accuracy.png").is_file()
        assert {load_record(p)["phases"] for p in find_record_files(folder)} == {n}
        assert "--set methods.lwf.alpha=2" in (folder / "command.txt").read_text()
        assert "Set on top of the preset: methods.lwf.alpha=2" in (folder / "table.md").read_text()
    combined = (protocols / "combined.md").read_text()
    header = next(line for line in combined.splitlines() if line.startswith("| method"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["method", "N=1", "N=5"]
    rows = [line for line in combined.splitlines() if line.startswith("| naive") or line.startswith("| lucir")]
    assert len(rows) == 2 and "REDUCED" in combined
    csv_lines = (protocols / "combined.csv").read_text().splitlines()
    assert csv_lines[0] == "method,N=1,N=5" and len(csv_lines) == 3
    # the combined value is the run's average incremental accuracy
    rec = load_record(protocols / "p5" / "runs" / "naive" / "seed1.json")
    naive_row = next(row for row in rows if row.startswith("| naive"))
    assert f"{100 * rec['avg_incremental_accuracy']:.2f}" in naive_row


def test_report_per_phase_on_a_protocols_folder(protocols):
    result = invoke("report", "--out", str(protocols), "--per-phase")
    assert result.exit_code == 0, result.output
    text = (protocols / "per_phase.md").read_text()
    rec = load_record(protocols / "p5" / "runs" / "lucir" / "seed1.json")
    headers = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
               if line.startswith("| method")]
    assert ["method", "seeds", "5 classes", "10 classes"] in headers      # N=1
    assert ["method", "seeds"] + [f"{k} classes" for k in range(5, 11)] in headers  # N=5
    for acc in rec["accuracy"]:
        assert f"{100 * acc:.2f}" in text
    assert (protocols / "per_phase.csv").read_text().startswith("benchmark,phases,method,seeds,")


def _as_paper_run(record: dict, *, reduced: bool) -> dict:
    """The same record, relabelled as a full CIFAR-100 B50 N=5 run (values unchanged)."""
    rec = json.loads(json.dumps(record))
    rec.update(benchmark="split-cifar100", reduced=reduced, preset="paper" if not reduced else "smoke")
    rec["config"].update(train_per_class=None, test_per_class=None, class_order=None)
    rec["stream"].update(base_classes=None, class_order_seed=1993, num_classes=100)
    return rec


@pytest.mark.parametrize("reduced", [False, True])
def test_report_against_paper_differs_only_for_the_papers_setting(protocols, tmp_path, reduced):
    folder = tmp_path / "cmp"
    for path in find_record_files(protocols / "p5"):
        target = folder / path.relative_to(protocols / "p5")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(_as_paper_run(load_record(path), reduced=reduced)))
    published = tmp_path / "published.csv"
    header = (Path(__file__).parents[1] / "benchmarks/report/paper/published.csv").read_text().splitlines()[0]
    published.write_text(header + "\nCIFAR-100,B50,5,lucir,LUCIR (test row),avg_incremental_accuracy,"
                         "50.0,,a test fixture, not the paper\n")
    markdown, written = paper_reports(folder, against="paper", published_csv=published)
    ours = 100 * load_record(folder / "runs" / "lucir" / "seed1.json")["avg_incremental_accuracy"]
    assert written == [folder / "against_paper.md"]
    if not reduced:
        assert "ours − paper" in markdown and f"{ours - 50.0:+.2f}" in markdown
        assert "| naive" in markdown  # no paper value: shown as '–', no difference
    else:
        assert "REDUCED" in markdown and "NOT comparable" in markdown
        assert "ours − paper" not in markdown and f"{ours - 50.0:+.2f}" not in markdown
        assert "50.00" in markdown  # the paper's number, listed apart


def test_against_paper_on_another_protocol_says_why(protocols):
    result = invoke("report", "--out", str(protocols / "p5"), "--against", "paper")
    assert result.exit_code == 0, result.output
    assert "No comparison: the paper reports CIFAR-100 and ImageNet-Subset, not split-digits" in result.output


def test_paper_protocol_detection():
    base = {"benchmark": "split-cifar100", "phases": 10, "config": {},
            "stream": {"base_classes": None, "class_order_seed": 1993}}
    assert paper_dataset(base)[0] == "CIFAR-100"
    assert paper_dataset({**base, "phases": 3})[0] is None
    assert paper_dataset({**base, "config": {"train_per_class": 200}})[0] is None
    assert paper_dataset({**base, "stream": {"base_classes": 20, "class_order_seed": 1993}})[0] is None
    folder = {**base, "benchmark": "split-folder",
              "stream": {"num_classes": 100, "backbone": "resnet18", "class_order_seed": 1993}}
    assert paper_dataset(folder)[0] == "ImageNet-Subset"


def test_published_csv_rows_have_sources():
    rows = load_published()
    assert rows, "published.csv holds the verified rows"
    for row in rows:
        assert row.source and row.dataset in ("CIFAR-100", "ImageNet-Subset")
        assert row.phases in (5, 10, 25) and 0 < row.value < 100


def test_dry_run_plans_without_data_and_writes_nothing(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    default = Path("runs/split-cifar100-p5-10-25-paper")
    existed = default.exists()
    result = invoke("compare", "--benchmark", "split-cifar100", "--phases", "5,10,25", "--preset",
                    "paper", "--dry-run", "--data-root", str(empty))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2000 exemplars in all" in out and "40, 34, 29, 25, 23, 20" in out
    for n in (5, 10, 25):
        assert f"N={n} -> runs/split-cifar100-p5-10-25-paper/p{n}" in out
    assert "Total: 42 runs" in out  # 14 default methods x N = 5, 10, 25
    assert list(empty.iterdir()) == [] and default.exists() == existed
    with_set = invoke("compare", "--benchmark", "split-cifar100", "--phases", "5", "--preset",
                      "paper", "--dry-run", "--set", "memory.per_class=20", "--methods", "lucir")
    assert with_set.exit_code == 0, with_set.output
    assert "20 exemplars per class seen" in with_set.output
    assert "memory_per_class=20" in with_set.output and "memory_total=None" in with_set.output


@pytest.mark.parametrize("text", ["", "5,x", "0", "5,5", "-1"])
def test_parse_phases_rejects(text):
    with pytest.raises(UserError, match="--phases"):
        parse_phases(text)
    assert parse_phases("5, 10,25") == (5, 10, 25)


def test_bad_set_on_the_command_line_is_one_line(tmp_path):
    result = invoke("compare", "--benchmark", "split-digits", "--preset", "smoke",
                    "--set", "aanets.fusion=1", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and result.stderr.startswith("Error: unknown setting")
    assert result.stderr.strip().count("\n") == 0 and "aanets.fusion_lr" in result.stderr
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- verified rows

VERIFIED = {  # the AANets paper's Table 1 as ../shared/paper-numbers.md verified it (N = 5/10/25)
    ("CIFAR-100", "icarl"): (57.12, 52.66, 48.22),
    ("CIFAR-100", "lucir"): (63.17, 60.14, 57.54),
    ("CIFAR-100", "podnet"): (64.83, 63.19, 60.72),
    ("CIFAR-100", "aanets-podnet"): (66.31, 64.31, 62.31),
    ("ImageNet-Subset", "icarl"): (65.44, 59.88, 52.97),
    ("ImageNet-Subset", "lucir"): (70.84, 68.32, 61.44),
    ("ImageNet-Subset", "podnet"): (75.54, 74.33, 68.31),
    ("ImageNet-Subset", "aanets-podnet"): (76.96, 75.58, 71.78),
}


def paper_record(dataset: str, phases: int, method: str, accuracy: float = 0.6) -> dict:
    """A synthetic record of a full-data, non-reduced run in the paper's protocol."""
    from test_records import make_record

    rec = make_record((accuracy,) * (phases + 1), method=method, seed=1, preset="paper",
                      reduced=False)
    rec["config"].update(train_per_class=None, test_per_class=None, class_order=None)
    if dataset == "CIFAR-100":
        rec.update(benchmark="split-cifar100")
        rec["stream"] = {"base_classes": None, "class_order_seed": 1993, "num_classes": 100}
    else:  # a 100-class folder tree with ResNet-18: ImageNet-Subset
        rec.update(benchmark="split-folder")
        rec["stream"] = {"base_classes": None, "class_order_seed": 1993, "num_classes": 100,
                         "backbone": "resnet18"}
    return rec


def test_published_csv_holds_the_verified_rows_with_both_sources():
    rows = {(r.dataset, r.method, r.phases): r for r in load_published()}
    expected = {(d, m, n): v for (d, m), values in VERIFIED.items()
                for n, v in zip((5, 10, 25), values)}
    assert {k: r.value for k, r in rows.items()} == expected
    for row in rows.values():
        assert "ACIL" in row.source and "PASS++" in row.source
    assert rows[("ImageNet-Subset", "aanets-podnet", 5)].per_phase == (86.1, 81.5, 77.7, 75.5,
                                                                       71.6, 69.4)


def test_report_against_paper_shows_ours_the_papers_and_the_difference(tmp_path):
    """A synthetic non-reduced CIFAR-100 B50 N=5 LUCIR record against the shipped CSV."""
    folder = tmp_path / "cifar"
    rec = paper_record("CIFAR-100", 5, "lucir", accuracy=0.6)
    path = folder / "runs/lucir/seed1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    result = invoke("report", "--out", str(folder), "--against", "paper")
    assert result.exit_code == 0, result.output
    text = (folder / "against_paper.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| lucir"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["lucir", "60.00", "63.17", "-3.17",
                                                             "LUCIR"]
    assert "Source: Liu et al. CVPR 2021 (AANets), Table 1" in text


@pytest.mark.parametrize("dataset, method", sorted(VERIFIED))
def test_every_verified_row_is_compared_in_its_protocols(dataset, method):
    from benchmarks.report.paper.table import render_against

    published = load_published()
    for n, value in zip((5, 10, 25), VERIFIED[(dataset, method)]):
        markdown = render_against([paper_record(dataset, n, method, accuracy=0.5)], published)
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {method} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:4] == [method, "50.00", f"{value:.2f}", f"{50.0 - value:+.2f}"], markdown
