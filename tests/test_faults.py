"""Faults at every edge: what a user sees when a file is hostile or damaged, a folder is shared,
the data tree is broken, the disk is full, or an argument is out of range."""

from __future__ import annotations

import builtins
import errno
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from benchmarks.store.checkpoint import checkpoint_path
from benchmarks.compare import Hooks, run_compare
from benchmarks.plan.request import CompareRequest
from benchmarks.errors import UserError
from benchmarks.store.records import RecordError, load_record, record_path
from cli import cli

REPO = Path(__file__).resolve().parents[1]
ARGS = dict(benchmark="split-digits", phases=1, methods="naive", seeds="1", preset="smoke",
            device="cpu", quiet=True)


class Interrupted(Exception):
    """Stands in for a kill right after a phase was checkpointed."""


def interrupt_after(phase: int):
    def hook(_spec, i):
        if i == phase:
            raise Interrupted
    return hook


def compare(out: Path, messages: list[str] | None = None, after_phase=None, **kw):
    sink = messages.append if messages is not None else (lambda _m: None)
    return run_compare(CompareRequest(**{**ARGS, **kw}, out=out),
                       Hooks(echo=sink, warn=sink, after_phase=after_phase))


def interrupted_run(out: Path, **kw) -> Path:
    """A compare killed after phase 0: its checkpoint is left, no record."""
    with pytest.raises(Interrupted):
        compare(out, after_phase=interrupt_after(0), **kw)
    ckpt = checkpoint_path(out, "naive", 1)
    assert ckpt.exists()
    return ckpt


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished comparison (naive, seeds 1 and 2), copied by tests that damage it."""
    out = tmp_path_factory.mktemp("finished") / "out"
    compare(out, seeds="1,2")
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    for path in src.rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return dst


def set_aside_files(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.damaged-*"))


# ----------------------------------------------------------------------------- checkpoints


class _Payload:
    """Pickles as a call of ``func(arg)``: what a hostile checkpoint would do on load."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec"])
def test_checkpoint_that_would_run_code_is_refused_kept_and_reported(kind, tmp_path):
    marker = tmp_path / "payload-ran"
    payload = (_Payload(os.system, f"touch {marker}") if kind == "os.system" else
               _Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"))
    out = tmp_path / "out"
    ckpt = checkpoint_path(out, "naive", 1)
    ckpt.parent.mkdir(parents=True)
    torch.save({"format": 2, "meta": payload}, ckpt)
    crafted = ckpt.read_bytes()

    messages: list[str] = []
    result = compare(out, messages)

    assert not marker.exists()  # the payload never ran
    kept = set_aside_files(ckpt.parent, "seed1.pt")
    assert len(kept) == 1 and kept[0].read_bytes() == crafted  # kept, renamed, unchanged
    lines = [m for m in messages if "seed1.pt" in m]
    assert len(lines) == 1 and "\n" not in lines[0] and "refused by the safe loader" in lines[0]
    assert result.trained == [("naive", 1)]  # the run itself was done from scratch
    load_record(record_path(out, "naive", 1))


def test_settings_change_with_an_unfinished_run_is_refused_and_nothing_deleted(tmp_path):
    out = tmp_path / "out"
    ckpt = interrupted_run(out)
    before = ckpt.read_bytes()
    with pytest.raises(UserError, match=r"epochs 1 \(saved\) vs 2 \(now\)") as info:
        compare(out, epochs=2)
    assert "unfinished run" in str(info.value) and "\n" not in str(info.value)
    assert ckpt.read_bytes() == before


def test_resume_under_another_thread_count_is_refused(tmp_path):
    from benchmarks.plan.request import SpeedOptions

    out = tmp_path / "out"
    threads = torch.get_num_threads()
    interrupted_run(out)
    try:
        with pytest.raises(UserError, match=f"OMP_NUM_THREADS={threads}"):
            compare(out, speed=SpeedOptions(threads=threads + 1))  # --threads, explicitly
    finally:
        torch.set_num_threads(threads)
    rec = compare(out, speed=SpeedOptions(threads=threads))  # same count again: resumes
    assert load_record(record_path(out, "naive", 1))["cpu_threads"] == threads
    assert load_record(record_path(out, "naive", 1))["resumed_at_phase"] == [1]
    assert rec.trained == [("naive", 1)]


def test_auto_threads_resume_with_the_count_of_the_checkpoint(tmp_path, monkeypatch):
    import benchmarks.run.threads as threads_module

    out = tmp_path / "out"
    threads = torch.get_num_threads()
    interrupted_run(out)
    monkeypatch.setattr(threads_module, "ALL_THREADS", threads + 1)  # auto would measure
    messages: list[str] = []
    try:
        rec = compare(out, messages, quiet=False)  # --threads auto: the checkpoint's count wins
    finally:
        torch.set_num_threads(threads)
    assert rec.trained == [("naive", 1)]
    assert load_record(record_path(out, "naive", 1))["cpu_threads"] == threads
    assert any(f"CPU threads: {threads} (the count the unfinished runs' checkpoints" in m
               for m in messages)


def test_auto_threads_keep_the_faster_count_measured_here(monkeypatch):
    import benchmarks.plan.estimate as estimate
    import benchmarks.run.threads as threads_module

    monkeypatch.setattr(threads_module, "ALL_THREADS", 2)
    threads_module._measured.cache_clear()
    rates = {1: 300.0, 2: 120.0}  # a shared machine: the second thread only waits
    monkeypatch.setattr(estimate, "measure_rate", lambda *a, **k: estimate.Rate(
        rates[torch.get_num_threads()], "resnet32", 32, "cpu"))
    threads = torch.get_num_threads()
    try:
        choice = threads_module.choose_threads(None, out_dir=Path("/nonexistent"), runs=[],
                                               backbone="resnet32", channels=1, side=8, batch=32)
    finally:
        torch.set_num_threads(threads)
    assert choice.threads == 1 and "1 thread 300 images/s, 2 threads 120 images/s" in choice.why
    assert threads_module.choose_threads(2, out_dir=Path("/nonexistent"), runs=[],
                                         backbone="resnet32", channels=1, side=8,
                                         batch=32).threads == 2


# ----------------------------------------------------------------------------- run records


def _damage_binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def _damage_nan(path: Path) -> None:
    rec = json.loads(path.read_text())
    rec["accuracy"][0] = "NAN_HERE"
    path.write_text(json.dumps(rec).replace('"NAN_HERE"', "NaN"))


@pytest.mark.parametrize("damage", [_damage_binary, _damage_nan], ids=["binary", "nan"])
def test_damaged_run_file_is_skipped_by_report_and_set_aside_and_redone_by_compare(
        damage, finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    path = record_path(out, "naive", 2)
    damage(path)
    damaged = path.read_bytes()
    with pytest.raises(RecordError):
        load_record(path)

    report = CliRunner().invoke(cli, ["report", "--out", str(out)])
    assert report.exit_code == 0, report.output
    assert "skipping unusable run file" in report.stderr and "seed2.json" in report.stderr

    messages: list[str] = []
    result = compare(out, messages, seeds="1,2")
    assert result.trained == [("naive", 2)] and result.skipped == [("naive", 1)]
    assert [p.read_bytes() for p in set_aside_files(path.parent, "seed2.json")] == [damaged]
    assert load_record(path)["accuracy"] == load_record(finished / "runs/naive/seed2.json")["accuracy"]


def test_record_copied_to_another_runs_path_is_not_counted_there(finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    (out / "runs/replay").mkdir()
    moved = out / "runs/replay/seed1.json"
    moved.write_bytes(record_path(out, "naive", 1).read_bytes())
    with pytest.raises(RecordError, match="method 'naive'.*replay"):
        load_record(moved)
    other_seed = out / "runs/naive/seed7.json"
    other_seed.write_bytes(record_path(out, "naive", 1).read_bytes())
    with pytest.raises(RecordError, match="seed 1.*seed7"):
        load_record(other_seed)


def test_a_second_damage_does_not_overwrite_the_first(finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    path = record_path(out, "naive", 1)
    contents = []
    for text in ("first damage", "second damage"):
        path.write_text(text)
        contents.append(text.encode())
        compare(out)
    assert sorted(p.read_bytes() for p in set_aside_files(path.parent, "seed1.json")) == sorted(contents)


# ----------------------------------------------------------------------------- one writer


def test_second_compare_on_the_same_folder_is_refused_at_once(tmp_path):
    out = tmp_path / "out"
    seen = {}

    def start_second(_spec, phase):
        if phase != 0 or seen:
            return
        cmd = [sys.executable, "cli.py", "compare", "--benchmark", "split-digits", "--phases", "1",
               "--methods", "naive", "--seeds", "1", "--preset", "smoke", "--device", "cpu",
               "--out", str(out), "--quiet"]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
        seen.update(proc=proc)

    result = compare(out, after_phase=start_second)
    proc = seen["proc"]
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "in use by another compare" in lines[0] and f"pid {os.getpid()}" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert result.trained == [("naive", 1)]
    load_record(record_path(out, "naive", 1))  # the first compare's record is intact


def _reports(out: str) -> list[int]:
    return [CliRunner().invoke(cli, ["report", "--out", out]).exit_code for _ in range(3)]


def test_concurrent_reports_never_crash(finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        codes = pool.map(_reports, [str(out)] * 4)
    assert codes == [[0, 0, 0]] * 4
    assert (out / "table.md").read_text().count("| naive ") == 1
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_stale_temp_files_of_a_killed_process_are_removed(finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = [out / f".table.md.{dead}.abc12345.tmp",
             out / f"runs/naive/.seed1.json.{dead}.x1_y2z3w.tmp"]
    live = out / f".table.csv.{os.getpid()}.abc12345.tmp"  # a concurrent writer's, still alive
    theirs = out / f".notes.{dead}.abc12345.tmp"  # named like ours, but not for a file we write
    for path in (*stale, live, theirs):
        path.write_text("partial")
        old = time.time() - 3600
        os.utime(path, (old, old))
    mine = out / "notes.tmp"  # not one of ours: never touched
    mine.write_text("user file")
    compare(out)
    assert not any(p.exists() for p in stale)
    assert live.exists() and theirs.exists() and mine.read_text() == "user file"


# ----------------------------------------------------------------------------- disk and input


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_report_on_a_full_or_read_only_disk_is_one_line_and_changes_nothing(
        code, finished, tmp_path, monkeypatch):
    import benchmarks.store.io as io_module

    out = copy_tree(finished, tmp_path / "out")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def failing_fsync(_fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(io_module.os, "fsync", failing_fsync)
    result = CliRunner().invoke(cli, ["report", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert os.strerror(code) in result.stderr
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # no half-written file, no temp file left


def test_compare_on_a_full_disk_is_one_line_and_keeps_the_finished_runs(
        finished, tmp_path, monkeypatch):
    import benchmarks.store.io as io_module

    out = copy_tree(finished, tmp_path / "out")
    runs_before = {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()}

    real_fsync = os.fsync

    def full_for_run_files(fd):  # the disk fills up when the new run writes its checkpoint
        target = os.readlink(f"/proc/self/fd/{fd}")
        if "/checkpoints/" in target or "/runs/" in target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file is being written")
    monkeypatch.setattr(io_module.os, "fsync", full_for_run_files)
    with pytest.raises(UserError, match="No space left on device") as info:
        compare(out, seeds="1,3")
    assert "\n" not in str(info.value)
    assert {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()} == runs_before
    assert not [p for p in out.rglob("*.tmp")]


def test_out_of_range_class_order_seed_is_one_line(tmp_path):
    for command in ("describe", "compare"):
        result = CliRunner().invoke(cli, [command, "--benchmark", "split-digits", "--phases", "5",
                                          "--class-order-seed", "-1"]
                                    + (["--out", str(tmp_path / "o")] if command == "compare" else []))
        assert result.exit_code == 2, result.output
        assert "class-order-seed" in result.stderr and result.stderr.count("\n") == 1


def test_sigint_exits_130_and_the_same_command_resumes(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "cli.py", "compare", "--benchmark", "split-digits", "--phases", "5",
           "--methods", "naive", "--seeds", "1", "--preset", "smoke", "--device", "cpu",
           "--out", str(out), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ckpt = checkpoint_path(out, "naive", 1)
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if not ckpt.exists():
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted; run the same command to resume"
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert load_record(record_path(out, "naive", 1))["resumed_at_phase"] != []


def test_interrupt_exits_130_with_a_resume_hint(monkeypatch):
    import benchmarks.compare as compare_module

    def interrupted(*_args, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "run_compare", interrupted)
    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--phases", "5"])
    assert result.exit_code == 130
    assert "interrupted; run the same command to resume" in result.stderr


# ----------------------------------------------------------------------------- library arguments


def _net():
    from aanets_avalanche import CosineIncrementalNet, resnet32
    return CosineIncrementalNet(resnet32(in_channels=1))


@pytest.mark.parametrize("name,value", [
    ("lambda_base", math.nan), ("lambda_base", -1.0), ("lr", math.inf), ("margin", math.nan),
    ("fusion_lr", -1e-3), ("kd_temperature", 0.0), ("kd_beta", math.nan), ("momentum", 1.5),
    ("weight_decay", -1.0), ("lr_gamma", 0.0), ("train_epochs", 0), ("train_mb_size", 0),
    ("ranking_k", 0), ("ranking_weight", math.inf), ("stable_lr", math.nan),
    ("lr_milestones", (5, 3)), ("memory_per_class", 0), ("memory_total", -5),
])
def test_strategy_rejects_bad_arguments_by_name(name, value):
    from aanets_avalanche import AANetsStrategy
    with pytest.raises(ValueError, match=name):
        AANetsStrategy(model=_net(), device="cpu", evaluator=None, **{name: value})


def test_memory_total_alone_is_accepted():
    from aanets_avalanche import AANetsStrategy
    strategy = AANetsStrategy(model=_net(), device="cpu", evaluator=None, memory_total=200)
    assert (strategy.memory.memory_per_class, strategy.memory.memory_total) == (None, 200)
    default = AANetsStrategy(model=_net(), device="cpu", evaluator=None)
    assert (default.memory.memory_per_class, default.memory.memory_total) == (20, None)


def test_plugins_reject_bad_arguments_by_name():
    from aanets_avalanche.plugins import (AggregationUpdatePlugin, HerdingMemoryPlugin,
                                          ICaRLDistillationPlugin, LUCIRDistillationPlugin)
    memory = HerdingMemoryPlugin(memory_total=100)
    assert memory.memory_total == 100 and memory.memory_per_class is None
    cases = [
        (lambda: LUCIRDistillationPlugin(lambda_base=math.nan), "lambda_base"),
        (lambda: LUCIRDistillationPlugin(margin=-0.5), "margin"),
        (lambda: LUCIRDistillationPlugin(k=0), "k"),
        (lambda: ICaRLDistillationPlugin(temperature=0), "temperature"),
        (lambda: ICaRLDistillationPlugin(beta=-1), "beta"),
        (lambda: HerdingMemoryPlugin(batch_size=0), "batch_size"),
        (lambda: AggregationUpdatePlugin(memory=memory, fusion_lr=math.nan), "fusion_lr"),
        (lambda: AggregationUpdatePlugin(memory=memory, gamma=-1), "gamma"),
    ]
    for build, name in cases:
        with pytest.raises(ValueError, match=name):
            build()


# ----------------------------------------------------------------------------- split-folder trees


def _image(path: Path, size: int = 8, fmt: str = "PNG", value: int = 0) -> Path:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (value, 255 - value, 128)).save(path, format=fmt)
    return path


def _tree(root: Path, per_class: int = 3) -> Path:
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(per_class):
                _image(root / split / cls / f"{i}.png", value=40 * i)
    return root


def _build(root: Path, **kw):
    from benchmarks.streams import StreamSpec, build_stream
    return build_stream(StreamSpec("split-folder", phases=1, data_root=str(root), **kw))


def _empty_class(root):
    for p in (root / "train/b").iterdir():
        p.unlink()
    return "train/b holds no image"


def _images_in_sub_folder(root):
    files = list((root / "train/b").iterdir())
    (root / "train/b/nested").mkdir()
    for p in files:
        p.rename(root / "train/b/nested" / p.name)
    return "sub-folder(s) nested"


def _class_missing_from_test(root):
    for p in (root / "test/b").iterdir():
        p.unlink()
    (root / "test/b").rmdir()
    return "test/b is missing"


def _class_only_in_test(root):
    _image(root / "test/c/0.png")
    return "class folder(s) c that"


def _empty_test_class(root):
    for p in (root / "test/a").iterdir():
        p.unlink()
    return "test/a holds no image"


def _corrupt_jpeg(root):
    (root / "train/a/bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    return "1 image(s) cannot be read"


def _truncated_jpeg(root):
    good = _image(root / "train/a/full.jpg", size=32, fmt="JPEG").read_bytes()
    (root / "train/a/full.jpg").write_bytes(good[: len(good) // 2])
    return "1 image(s) cannot be read"


@pytest.mark.parametrize("breakage", [_empty_class, _images_in_sub_folder, _class_missing_from_test,
                                      _class_only_in_test, _empty_test_class, _corrupt_jpeg,
                                      _truncated_jpeg])
def test_bad_tree_is_one_line_naming_the_folder_or_file(breakage, tmp_path):
    root = _tree(tmp_path / "tree")
    expected = breakage(root)
    with pytest.raises(UserError) as info:
        _build(root)
    message = str(info.value)
    assert expected in message and "\n" not in message and "Traceback" not in message


def test_bad_tree_through_the_cli_exits_2_with_one_line(tmp_path):
    root = _tree(tmp_path / "tree")
    _corrupt_jpeg(root)
    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-folder", "--phases", "1",
                                      "--data-root", str(root), "--methods", "naive",
                                      "--preset", "smoke", "--out", str(tmp_path / "out"),
                                      "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "bad.jpg" in result.stderr
    assert "--skip-bad-images" in result.stderr


def test_skip_bad_images_leaves_them_out_and_counts_them(tmp_path):
    root = _tree(tmp_path / "tree")
    _corrupt_jpeg(root)
    bench = _build(root, skip_bad_images=True)
    assert bench.skipped_images == (str(root / "train/a/bad.jpg"),)
    assert len(bench.benchmark.train_stream[0].dataset) == 3  # the three good images of a
    assert any("left out 1 unreadable" in note for note in bench.notes)


def test_input_size_is_the_most_common_size_not_the_first_image(tmp_path):
    root = _tree(tmp_path / "tree")
    _image(root / "train/a/000-large.png", size=300)  # sorts first
    bench = _build(root)
    assert bench.input_shape == (3, 8, 8) and bench.backbone == "resnet32"
    assert any("most common training image size (8x8, 6 of 7" in n and "1 image(s) of other "
               "sizes are resized" in n for n in bench.notes)
    override = _build(root, image_size=16)
    assert override.input_shape == (3, 16, 16)


def test_a_lock_left_by_a_dead_process_says_how_to_clear_it(tmp_path):
    from benchmarks.store.lock import OWNER_NAME, describe_holder
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    (tmp_path / OWNER_NAME).write_text(json.dumps(
        {"pid": dead, "host": socket.gethostname(), "started": time.time(), "command": "x"}))
    assert "that process is gone" in describe_holder(tmp_path)
    assert ".compare.lock" in describe_holder(tmp_path)


# ----------------------------------------------------------------------------- issue 18: CPU kernels


def test_records_and_checkpoints_name_the_cpu_kernels_and_another_kind_is_refused(tmp_path,
                                                                                 monkeypatch):
    import benchmarks.run.runner as runner_module
    from benchmarks.run.cpu import cpu_kernels
    from benchmarks.store.checkpoint import read_checkpoint_meta

    out = tmp_path / "out"
    ckpt = interrupted_run(out)
    here = cpu_kernels()
    assert here["aten"] == torch.backends.cpu.get_cpu_capability() and here["onednn"]
    assert read_checkpoint_meta(ckpt)["cpu_kernels"] == here
    other = {"aten": "AVX2" if here["aten"] != "AVX2" else "AVX512", "onednn": "Intel AVX2"}
    import benchmarks.run.cpu as cpu_module
    monkeypatch.setattr(cpu_module, "cpu_kernels", lambda: other)
    monkeypatch.setattr(runner_module, "cpu_kernels", lambda: other)
    with pytest.raises(UserError, match="other CPU kernels") as info:
        compare(out)
    assert "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2" in str(info.value)
    assert "\n" not in str(info.value) and ckpt.exists()
    monkeypatch.undo()
    assert compare(out).trained == [("naive", 1)]  # the same kernels again: it resumes
    assert load_record(record_path(out, "naive", 1))["cpu_kernels"] == here


# ----------------------------------------------------------------------------- issue 18: base phases


BASE_ARGS = dict(methods="lucir,aanets-lucir", phases=5, seeds="1")


def test_base_phase_cleanup_keeps_what_it_did_not_write_and_sets_damage_aside(tmp_path):
    from benchmarks.run.base_phase import base_path

    out = tmp_path / "out"
    with pytest.raises(Interrupted):  # lucir keeps its base phase, then is killed
        compare(out, after_phase=interrupt_after(0), **BASE_ARGS)
    kept = base_path(out, "lucir", 1)
    assert kept.is_file()
    kept.write_bytes(b"not a checkpoint")  # damaged
    mine = kept.parent.parent / "notes.txt"
    mine.write_text("a user's file")
    messages: list[str] = []
    compare(out, messages, **BASE_ARGS)
    damaged = sorted(kept.parent.glob("seed1.pt.damaged-*"))
    assert len(damaged) == 1 and damaged[0].read_bytes() == b"not a checkpoint"
    assert any("unusable" in m and damaged[0].name in m for m in messages)
    assert mine.read_text() == "a user's file"
    assert not kept.exists()  # the fresh base phase this compare wrote and verified is gone
    assert (out / "runs/aanets-lucir/seed1.json").is_file()


def test_stale_checkpoint_of_a_finished_run_is_removed(tmp_path, monkeypatch):
    import benchmarks.run.runner as runner_module

    out = tmp_path / "out"
    monkeypatch.setattr(runner_module, "remove_checkpoint", lambda path: None)  # killed here
    compare(out, phases=5)
    ckpt = checkpoint_path(out, "naive", 1)
    assert ckpt.exists() and (out / "runs/naive/seed1.json").is_file()
    monkeypatch.undo()
    messages: list[str] = []
    result = compare(out, messages, phases=5, quiet=False)
    assert result.skipped == [("naive", 1)] and not ckpt.exists()
    assert any("removed" in m and "record was already written" in m for m in messages)


# ----------------------------------------------------------------------------- issue 18: disk full


def _tmpfs(where: Path, size: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    return where


def test_a_full_small_file_system_while_saving_a_checkpoint_is_one_line(tmp_path):
    """A real full disk: a 1 MiB tmpfs holds the records but not naive's 4 MiB checkpoint
    (torch.save reports that as a RuntimeError of its zip writer)."""
    disk = _tmpfs(tmp_path / "disk", "1m")
    try:
        out = disk / "out"
        (out / "runs/naive").mkdir(parents=True)
        fixture = Path(__file__).parent / "fixtures/record-before-house.json"
        shutil.copy(fixture, out / "runs/naive/seed1993.json")
        with pytest.raises(UserError) as info:
            compare(out, phases=5, seeds="1993,7")
        message = str(info.value)
        assert "\n" not in message and "No space left on device" in message
        assert "checkpoints/naive/seed7.pt" in message and "MiB free there" in message
        assert not list(out.rglob("*.tmp"))
        assert (out / "runs/naive/seed1993.json").read_bytes() == fixture.read_bytes()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_failing_checkpoint_write_itself_is_one_line(finished, tmp_path, monkeypatch):
    """Where no file system can be mounted: the write itself fails (not fsync)."""
    import benchmarks.store.checkpoint as checkpoint_module

    out = copy_tree(finished, tmp_path / "out")
    runs_before = {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()}

    def full_disk(payload, fh, **kw):
        fh.write(b"PK")  # a few bytes go out, then the disk is full
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    monkeypatch.setattr("benchmarks.store.io.free_bytes", lambda folder: 0)
    with pytest.raises(UserError, match=r"No space left on device \(0.0 MiB free there\)") as info:
        compare(out, seeds="1,3")
    assert "\n" not in str(info.value) and "seed3.pt" in str(info.value)
    assert {p: p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()} == runs_before
    assert not list(out.rglob("*.tmp"))


# ----------------------------------------------------------------------------- issue 18: umask


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_output_files_honour_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        compare(out, phases=5)
    finally:
        os.umask(old)
    written = [p for p in out.rglob("*") if p.is_file() and p.name != ".compare.lock"]
    assert written and {p.stat().st_mode & 0o777 for p in written} == {mode}, \
        {str(p.relative_to(out)): oct(p.stat().st_mode & 0o777) for p in written}


# ----------------------------------------------------------------------------- issue 18: NaN, foreign
# records, symlinks (the full sets: test_faults_inputs.py and test_faults_report.py)


@pytest.mark.parametrize("item", ["aanets.fusion_lr=nan", "methods.ewc.ewc_lambda=inf"])
def test_a_run_that_could_never_finish_is_refused_before_anything_is_written(item, tmp_path):
    """A NaN setting used to train every phase and then fail to write its record (NaN is not
    JSON), forever; now it is one line before the first step."""
    out = tmp_path / "out"
    with pytest.raises(UserError, match="must be a finite number") as info:
        compare(out, methods="aanets-lucir,ewc", phases=5, sets=[item])
    assert "\n" not in str(info.value) and not out.exists()


def test_a_copied_record_of_other_settings_is_listed_apart_never_averaged(finished, tmp_path):
    out = copy_tree(finished, tmp_path / "out")
    other = tmp_path / "other"
    compare(other, seeds="3", epochs=2)
    shutil.copy(record_path(other, "naive", 3), record_path(out, "naive", 3))
    result = CliRunner().invoke(cli, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "| naive    |       2 |" in table  # seeds 1 and 2 only
    assert "Records with other settings" in table and "runs/naive/seed3.json" in table
    assert "train.epochs 2" in table


def test_a_dangling_image_link_is_counted_as_a_bad_image(tmp_path):
    root = _tree(tmp_path / "tree")
    os.symlink("moved-away.png", root / "train/a/gone.png")
    with pytest.raises(UserError, match="1 image\\(s\\) cannot be read: .*gone.png") as info:
        _build(root)
    assert "\n" not in str(info.value) and "--skip-bad-images" in str(info.value)
    assert _build(root, skip_bad_images=True).skipped_images == (str(root / "train/a/gone.png"),)


def test_a_divergence_names_the_phase_as_progress_does_and_the_set_keys(tmp_path):
    result = compare(tmp_path / "out", methods="ewc", phases=5, seeds="1",
                     sets=["methods.ewc.ewc_lambda=1e30", "methods.ewc.mode=separate"])
    (line,) = result.failed
    assert "phase 0 is the base phase" in line and "--set train.lr=0.025" in line
    assert "methods.ewc.ewc_lambda" in line and "\n" not in line
