"""The README's result tables say what made them: the quick-start table holds exactly the default
method set, and every other table names the commit of its code."""

import re
from pathlib import Path

from benchmarks.methods import DEFAULT_METHODS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
RESULTS = README.split("## Results on this project's CPU machine", 1)[1].split("\n## ", 1)[0]


def _tables(text: str) -> list[list[str]]:
    """The method column of every markdown table in ``text``."""
    tables, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("| ") and not line.startswith("| method") and not line.startswith("|:"):
            rows.append(line.split("|")[1].strip())
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def test_the_quick_start_table_holds_the_default_method_set():
    section = RESULTS.split("The quick start's benchmark", 1)[1]
    methods = _tables(section)[0]
    assert methods == list(DEFAULT_METHODS)


def test_every_results_paragraph_names_the_commit_of_its_code():
    paragraphs = [p for p in RESULTS.split("\n\n") if "```bash" in p or "OMP_NUM_THREADS=1 python cli.py" in p]
    commits = re.findall(r"commit(?:s)? ([0-9a-f]{7})", RESULTS)
    assert paragraphs and len(commits) >= len(_tables(RESULTS)) - 1
