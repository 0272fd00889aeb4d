"""The harness's house: one request, one plan, then execution; imports only point down."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import benchmarks.compare as compare_module
from benchmarks.compare import Hooks, run_compare
from benchmarks.plan import config as config_module
from benchmarks.plan.planner import plan_compare
from benchmarks.plan.request import CompareRequest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SMOKE = dict(benchmark="split-digits", methods="naive", seeds="1993", preset="smoke",
             device="cpu", quiet=True)


@pytest.fixture
def preset_reads(monkeypatch) -> list[Path]:
    reads: list[Path] = []
    real = config_module._read_yaml

    def counting(path):
        reads.append(Path(path))
        return real(path)

    monkeypatch.setattr(config_module, "_read_yaml", counting)
    return reads


def test_a_dry_run_reads_the_preset_once_for_several_protocols(preset_reads, tmp_path):
    lines: list[str] = []
    run_compare(CompareRequest(**SMOKE, phases="1,5", out=tmp_path / "o", dry_run=True),
                Hooks(echo=lines.append))
    assert [p.name for p in preset_reads] == ["smoke.yaml"]
    assert "N=1 ->" in lines[0] and "N=5 ->" in lines[0]
    assert not (tmp_path / "o").exists()  # a dry run writes nothing


def test_a_compare_reads_the_preset_once_and_executes_the_plan_it_made(preset_reads, tmp_path,
                                                                      monkeypatch):
    plans = []
    monkeypatch.setattr(compare_module, "plan_compare",
                        lambda request: plans.append(plan_compare(request)) or plans[-1])
    outcome = run_compare(CompareRequest(**SMOKE, phases="1,5", out=tmp_path))
    assert [p.name for p in preset_reads] == ["smoke.yaml"]
    assert len(plans) == 1 and outcome.plan is plans[0]
    assert sorted(outcome.trained) == [("naive", 1993)] * 2
    for protocol in plans[0].protocols:  # the records are the plan's cells
        record = json.loads((protocol.out_dir / "runs/naive/seed1993.json").read_text())
        assert record["config"] == protocol.config.to_dict() and record["phases"] == protocol.phases
        assert record["command"] == protocol.command
    assert (tmp_path / "combined.md").is_file()


def test_a_record_made_before_the_house_moved_is_skipped_as_finished(tmp_path):
    """tests/fixtures/record-before-house.json: naive's seed-1993 record of `compare --benchmark
    split-digits --phases 5 --preset smoke --seeds 1993,1994` (one CPU thread) at commit
    3db7afc, before benchmarks/ was regrouped (only its --out path rewritten); its run key must
    be what today's plan computes."""
    out = tmp_path / "out"
    (out / "runs/naive").mkdir(parents=True)
    shutil.copy(FIXTURES / "record-before-house.json", out / "runs/naive/seed1993.json")
    outcome = run_compare(CompareRequest(**SMOKE, phases=5, out=out))
    assert outcome.skipped == [("naive", 1993)] and outcome.trained == []


# ----------------------------------------------------------------------------- imports point down

# Floors of the harness, top to bottom: a module imports only from lower floors or its own folder.
FLOORS = {
    "cli": 8,
    "benchmarks.footprint": 7, "benchmarks.speed": 7, "benchmarks.baselines_check": 7,
    "benchmarks.gpu_check": 7,
    "benchmarks.compare": 6,
    "benchmarks.run": 5,
    "benchmarks.plan": 4, "benchmarks.report": 4,
    "benchmarks.store": 3,
    "benchmarks.streams": 2, "benchmarks.methods": 2,
    "benchmarks.errors": 1, "benchmarks": 1,
}


def _room(module: str) -> str:
    """The folder (or top-level module) a module lives in."""
    parts = module.split(".")
    for size in (2, 1):
        if ".".join(parts[:size]) in FLOORS:
            return ".".join(parts[:size])
    raise KeyError(module)


def _imports(path: Path, module: str) -> set[str]:
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "cli" or m.startswith("benchmarks")}


def test_harness_imports_only_point_down():
    files = [ROOT / "cli.py", *sorted((ROOT / "benchmarks").rglob("*.py"))]
    upward = []
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        room = _room(module)
        for target in _imports(path, module):
            other = _room(target)
            if other != room and FLOORS[other] >= FLOORS[room]:
                upward.append(f"{module} -> {target}")
    assert upward == []
