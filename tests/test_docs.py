"""Docs that cannot go stale: no count of methods that differs from the registry."""

import re
import subprocess
from pathlib import Path

from benchmarks.methods import DEFAULT_METHODS, list_methods

ROOT = Path(__file__).resolve().parents[1]
COUNT = re.compile(r"\b(\d+) (default |registered |built-in )?methods\b")


def test_no_doc_states_a_method_count_other_than_the_registry():
    """A count of 'N methods' in README.md or docs/ must be the number of default or registered
    methods (or a small example: fewer than 5); results/ describe their own folders."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    allowed = {len(DEFAULT_METHODS), len(list_methods())}
    wrong = [f"{path.name}: {m.group(0)}" for path in files for m in COUNT.finditer(path.read_text())
             if int(m.group(1)) >= 5 and int(m.group(1)) not in allowed]
    assert wrong == []


def test_licence_and_citation_are_there():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version:" in cff and "Adaptive Aggregation Networks" in cff
    assert "@inproceedings{liu2021aanets" in (ROOT / "README.md").read_text()


def test_build_outputs_are_ignored():
    ignored = subprocess.run(["git", "check-ignore", "build/x", "dist/x"], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.split()
    assert ignored == ["build/x", "dist/x"]
