"""The built wheel ships the library only, with version ranges (exact pins live in constraints.txt)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv*", "runs", "results", "build", "dist", "data",
                                  "*.egg-info", "__pycache__", ".pytest_cache")


def test_wheel_holds_only_the_library_and_requires_ranges(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=LEFT_OUT)  # build outside the checkout: no build/ left there
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("aanets_avalanche-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"aanets_avalanche"}, top_level
    assert "aanets_avalanche/contract.py" in names and "aanets_avalanche/plugins/herding.py" in names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata  # what `pip show` reports as the licence
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert any(line.startswith("Requires-Dist: avalanche-lib") for line in core)
    assert not any("==" in line for line in core), core  # ranges, never exact pins
    entry_points = next((n for n in names if n.endswith("entry_points.txt")), None)
    assert entry_points is None or "cli:" not in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_constraints_pin_what_the_results_were_made_with():
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {"torch", "torchvision", "avalanche-lib", "setuptools"} <= set(pins)
    ci = (REPO / ".ci" / "run").read_text()
    assert '-c constraints.txt -e ".[test]"' in ci
