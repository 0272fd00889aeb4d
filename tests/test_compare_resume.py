"""An interrupted compare, resumed by a fresh `python cli.py compare` process, gives the same
numbers as an uninterrupted one (the checkpoint really crosses process boundaries)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import Hooks, run_compare
from benchmarks.plan.request import CompareRequest
from benchmarks.store.records import load_record

REPO = Path(__file__).resolve().parents[1]
ARGS = dict(benchmark="split-digits", phases=5, methods="naive,replay", seeds="4", preset="smoke",
            device="cpu", quiet=True)


class Interrupted(Exception):
    pass


def test_resume_in_a_new_process(tmp_path):
    straight = run_compare(CompareRequest(**ARGS, out=tmp_path / "straight"))
    assert sorted(straight.trained) == [("naive", 4), ("replay", 4)]

    out = tmp_path / "resumed"

    def kill(spec, phase):
        if spec.method == "replay" and phase == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_compare(CompareRequest(**ARGS, out=out), Hooks(after_phase=kill))
    assert (out / "runs/naive/seed4.json").exists()
    assert (out / "checkpoints/replay/seed4.pt").exists()

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # same as the test process
    cmd = [sys.executable, "cli.py", "compare", "--benchmark", "split-digits", "--phases", "5",
           "--methods", "naive,replay", "--seeds", "4", "--preset", "smoke", "--device", "cpu",
           "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]

    for method in ("naive", "replay"):
        a = load_record(tmp_path / "straight" / "runs" / method / "seed4.json")
        b = load_record(out / "runs" / method / "seed4.json")
        assert b["accuracy"] == a["accuracy"]
        assert b["exp_accuracy"] == a["exp_accuracy"]
    assert load_record(out / "runs/replay/seed4.json")["resumed_at_phase"] == [3]
    assert not (out / "checkpoints").exists()
