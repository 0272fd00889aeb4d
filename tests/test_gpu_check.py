"""The GPU check runs end to end on the CPU at toy sizes and writes its one markdown file."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_on_the_cpu_writes_every_section(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu",
                           "--tiny", "--out", str(tmp_path / "check")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    report = tmp_path / "check/gpu-check.md"
    assert done.returncode == 0, done.stdout + done.stderr + (report.read_text() if report.exists() else "")
    text = (tmp_path / "check/gpu-check.md").read_text()
    assert "torch " in text and "CPU:" in text
    assert text.count("\nok, ") == 2, text  # the speed report and the bf16 compare
    assert "(f) precision" in text and "bf16" in text
    assert (tmp_path / "check/compare-bf16/runs/aanets-lucir/seed1993.json").is_file()
