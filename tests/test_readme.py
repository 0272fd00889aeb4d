"""The README's library example runs exactly as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_code(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python block under '## {heading}'"
    return blocks[0]


def test_readme_avalanche_example_runs_as_is(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_section_code("Use AANets in your own Avalanche script"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("phase ")]
    assert len(lines) == 3, done.stdout
    final = re.search(r"CNN acc ([0-9.]+), NME acc ([0-9.]+)", lines[-1])
    assert float(final.group(1)) > 0.5 and float(final.group(2)) > 0.5, lines
