"""`compare --executor ray` on a real local Ray instance (2 CPUs, no dashboard): the same
records as in-process, a killed worker's cell retried from its checkpoint, a raising cell
reported while the others finish, impossible requests refused at once.

The tests that need Ray skip, saying why, only when the ray package is not installed."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

import benchmarks.compare as compare_module
from benchmarks.compare import Hooks, run_compare
from benchmarks.plan.request import CompareRequest
from benchmarks.errors import UserError
from benchmarks.run.executors import make_executor
from benchmarks.store.records import load_record
from cli import cli

GRID = dict(benchmark="split-digits", phases=5, methods="aanets-lucir,replay", seeds="1,2",
            preset="smoke", device="cpu", quiet=True)
# what must be equal between executors: everything the numbers and the run's identity are
SAME = ("run_key", "config", "stream", "memory", "classes_seen", "accuracy", "exp_accuracy",
        "nme_accuracy", "avg_incremental_accuracy", "last_accuracy", "forgetting",
        "aggregation_weights", "device")
CLI_GRID = ["compare", "--benchmark", "split-digits", "--phases", "5", "--preset", "smoke",
            "--methods", "naive,replay", "--seeds", "1", "--executor", "ray"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (the executor joins an instance already running
    in its process instead of starting its own)."""
    ray = pytest.importorskip("ray", reason='ray is not installed (pip install -e ".[harness,ray]")')
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_grid_equals_in_process_and_a_killed_worker_resumes(local_ray, tmp_path):
    local = run_compare(CompareRequest(**GRID, out=tmp_path / "local"))
    assert len(local.trained) == 4

    victim = ("aanets-lucir", 2)
    events, killed = [], []

    def kill_victim(event):
        """The driver sees the victim finish phase 2 (checkpointed) and kills its worker."""
        events.append(event)
        if (event.method, event.seed) == victim and event.kind == "phase" and event.phase == 2 \
                and not killed:
            os.kill(event.pid, signal.SIGKILL)
            killed.append(event.pid)

    def hold_victim(spec, phase):
        """Runs in the worker: the victim waits after phase 2 until it is killed."""
        if (spec.method, spec.seed) == ("aanets-lucir", 2) and phase == 2:
            time.sleep(300)

    executor = make_executor("ray", retries=2, on_event=kill_victim)
    result = run_compare(CompareRequest(**GRID, out=tmp_path / "ray"), Hooks(after_phase=hold_victim),
                         executor)

    assert killed, "the victim's phase-2 event never reached the driver"
    assert result.failed == []
    assert sorted(result.trained) == sorted(local.trained)
    starts = [e.pid for e in events if e.kind == "started" and (e.method, e.seed) == victim]
    assert len(starts) == 2 and starts[0] == killed[0] != starts[1]  # retried in a new worker
    for method, seed in local.trained:
        a = load_record(tmp_path / "local" / "runs" / method / f"seed{seed}.json")
        b = load_record(tmp_path / "ray" / "runs" / method / f"seed{seed}.json")
        for key in SAME:
            assert b[key] == a[key], (method, seed, key)
        assert b["resumed_at_phase"] == ([3] if (method, seed) == victim else [])
    assert not (tmp_path / "ray" / "checkpoints").exists()
    assert (tmp_path / "ray" / "table.md").is_file()


def test_methods_of_a_group_share_one_base_phase(local_ray, tmp_path):
    """lucir trains phase 0 and keeps it; aanets-lucir of the same seed starts only then and
    adopts it, as in-process: the same records, one phase 0 trained."""
    grid = {**GRID, "methods": "lucir,aanets-lucir,replay", "seeds": "1"}
    local = run_compare(CompareRequest(**grid, out=tmp_path / "local"))
    events = []
    result = run_compare(CompareRequest(**grid, out=tmp_path / "ray"),
                         executor=make_executor("ray", on_event=events.append))
    assert result.failed == [] and sorted(result.trained) == sorted(local.trained)
    seen = [(e.method, e.kind, e.phase) for e in events if e.kind in ("started", "phase")]
    assert seen.index(("aanets-lucir", "started", None)) > seen.index(("lucir", "phase", 0))
    for method in ("lucir", "aanets-lucir"):
        a = load_record(tmp_path / "local" / "runs" / method / "seed1.json")
        b = load_record(tmp_path / "ray" / "runs" / method / "seed1.json")
        for key in (*SAME, "base_phase_from"):
            assert b[key] == a[key], (method, key)
        assert b["base_phase_from"] == (None if method == "lucir" else "lucir")
    assert not (tmp_path / "ray" / "checkpoints").exists()


def test_a_diverged_cell_is_noted_by_the_driver_and_listed_under_the_table(local_ray, tmp_path):
    from benchmarks.store.records import find_divergences

    grid = {**GRID, "methods": "naive,ewc", "seeds": "1", "sets": ["methods.ewc.ewc_lambda=1e30",
                                                                     "methods.ewc.mode=separate"]}
    result = run_compare(CompareRequest(**grid, out=tmp_path), executor=make_executor("ray"))
    assert result.trained == [("naive", 1)] and len(result.failed) == 1
    assert [(n["method"], n["seed"]) for n in find_divergences(tmp_path)] == [("ewc", 1)]
    assert "- ewc seed 1: the training loss is" in (tmp_path / "table.md").read_text()


def test_a_raising_cell_is_reported_others_finish_and_a_rerun_redoes_it(local_ray, tmp_path,
                                                                        monkeypatch):
    out = tmp_path / "out"
    real_compare = compare_module.run_compare

    def explode(spec, phase):
        if spec.method == "naive" and phase == 1:
            raise RuntimeError("cell exploded\nsecond line")

    monkeypatch.setattr(compare_module, "run_compare",
                        lambda request, hooks: real_compare(request, replace(hooks, after_phase=explode)))
    failed = CliRunner().invoke(cli, [*CLI_GRID, "--device", "cpu", "--out", str(out)])
    assert failed.exit_code == 1, failed.output
    assert "1 run(s) failed:\n  naive seed 1 (split-digits, 5 phases): RuntimeError: cell " \
           "exploded\nRun the same command again" in failed.stderr
    assert "second line" not in failed.stderr
    assert failed.stdout.count("naive seed 1 (split-digits, 5 phases): started") == 1  # no retry
    assert "retry" not in failed.output
    assert (out / "runs/replay/seed1.json").is_file()
    assert not (out / "runs/naive").exists()
    assert (out / "checkpoints/naive/seed1.pt").is_file()  # kept: the re-run resumes from it

    monkeypatch.setattr(compare_module, "run_compare", real_compare)
    again = CliRunner().invoke(cli, [*CLI_GRID, "--device", "cpu", "--out", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert load_record(out / "runs/naive/seed1.json")["resumed_at_phase"] == [2]
    assert not (out / "checkpoints").exists()


def test_gpus_per_run_on_a_cluster_without_gpus_is_refused_at_once(local_ray, tmp_path):
    assert local_ray.cluster_resources().get("GPU", 0) == 0, "this test needs a GPU-less instance"
    started = time.perf_counter()
    result = CliRunner().invoke(cli, [*CLI_GRID, "--gpus-per-run", "1", "--out",
                                      str(tmp_path / "o")])
    took = time.perf_counter() - started
    assert result.exit_code == 2, result.output
    assert result.stderr == ("Error: --gpus-per-run 1: no node of the local Ray instance has 1 "
                             "GPU(s) (GPUs per node: 0); use --gpus-per-run 0 to train on CPUs\n")
    # guards against the silent wait: Ray itself would queue an infeasible task for ever
    assert took < 60, f"refusal took {took:.0f} s"
    # refused before the stream is built or anything is trained or recorded
    assert not (tmp_path / "o" / "runs").exists() and not (tmp_path / "o" / "command.txt").exists()


@pytest.mark.parametrize("args, message", [
    (["--gpus-per-run", "1.5"], "--gpus-per-run must be 0, a fraction below 1 or a whole number"),
    (["--max-parallel", "0"], "--max-parallel must be at least 1 (got 0)"),
    (["--retries", "-1"], "--retries must be 0 or more (got -1)"),
])
def test_bad_ray_options_are_one_line_errors(local_ray, args, message):
    result = CliRunner().invoke(cli, [*CLI_GRID, *args, "--out", "unused"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1


def test_ray_options_without_the_ray_executor_are_refused():
    args = [a for a in CLI_GRID if a not in ("--executor", "ray")]
    result = CliRunner().invoke(cli, [*args, "--gpus-per-run", "1", "--retries", "3"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --gpus-per-run, --retries: only with --executor ray\n"


def test_ray_executor_without_ray_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(UserError,
                       match=r'needs the ray package; install it with: pip install -e "\.\[harness,ray\]"'):
        make_executor("ray")
    result = CliRunner().invoke(cli, CLI_GRID)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --executor ray needs the ray package")


def test_a_checkpoint_of_another_thread_count_is_refused_before_any_cell_trains(local_ray, tmp_path):
    """A CPU checkpoint written with 2 threads cannot resume in a Ray cell (always 1 thread):
    refused by the driver before anything trains, with advice that can work."""
    import torch

    from benchmarks.compare import Hooks

    out = tmp_path / "out"
    grid = {**GRID, "methods": "naive,replay", "seeds": "1"}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)

    class Killed(Exception):
        pass

    def kill(spec, phase):
        if spec.method == "naive" and phase == 0:
            raise Killed

    from benchmarks.plan.request import SpeedOptions

    try:
        with pytest.raises(Killed):  # a local run with --threads 2, killed after phase 0
            run_compare(CompareRequest(**{**grid, "methods": "naive"}, out=out,
                                       speed=SpeedOptions(threads=2)), Hooks(after_phase=kill))
    finally:
        torch.set_num_threads(threads)
    events = []
    with pytest.raises(UserError) as info:
        run_compare(CompareRequest(**grid, out=out),
                    executor=make_executor("ray", on_event=events.append))
    message = str(info.value)
    assert "written with 2 CPU thread(s)" in message and "\n" not in message
    assert "--executor local and OMP_NUM_THREADS=2" in message
    assert events == [] and not (out / "runs").exists()  # no cell started
