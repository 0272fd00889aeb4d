"""The safe checkpoint format: every registered method is saved with tensors, plain data and
allow-listed classes only, loads with torch.load(weights_only=True), and resumes exactly."""

from __future__ import annotations

import pickle

import pytest
import torch

from benchmarks.store.checkpoint import (CheckpointError, UnsafeCheckpoint, checkpoint_path,
                                   read_checkpoint_meta)
from benchmarks.methods import list_methods
from benchmarks.plan.cells import RunSpec
from benchmarks.run.runner import run_one

PHASES = 1


class Interrupted(Exception):
    pass


def numbers(rec: dict) -> tuple:
    return (rec["accuracy"], rec["exp_accuracy"], rec["nme_accuracy"], rec["aggregation_weights"])


@pytest.mark.parametrize("method", [m.name for m in list_methods()])
def test_every_method_checkpoints_safely_and_resumes_exactly(method, smoke_digits, tmp_path):
    cfg, bench = smoke_digits(PHASES)
    spec = RunSpec(benchmark="split-digits", phases=PHASES, method=method, seed=5, config=cfg)
    straight = run_one(spec, bench, tmp_path / "a", progress=False)

    out = tmp_path / "b"

    def stop(_spec, phase):
        if phase == 0:
            raise Interrupted

    warnings: list[str] = []
    with pytest.raises(Interrupted):
        run_one(spec, bench, out, progress=False, notify=warnings.append, after_phase=stop)
    assert warnings == []  # no "cannot checkpoint": every class it holds is allowed
    ckpt = checkpoint_path(out, method, spec.seed)
    # plain torch.load with weights_only=True (the default) and our allowlist only
    meta = read_checkpoint_meta(ckpt)
    assert meta["run_key"] == spec.key() and meta["cpu_threads"] == torch.get_num_threads()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)  # without the allowlist: refused, nothing built

    resumed = run_one(spec, bench, out, progress=False)
    assert resumed["resumed_at_phase"] == [1]
    assert numbers(resumed) == numbers(straight)


def test_damaged_checkpoint_is_reported_as_unreadable(tmp_path):
    path = tmp_path / "seed1.pt"
    path.write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(CheckpointError, match="unreadable"):
        read_checkpoint_meta(path)


def test_foreign_class_is_refused_by_the_safe_loader(tmp_path):
    path = tmp_path / "seed1.pt"
    torch.save({"format": 2, "meta": {"x": pickle.PickleBuffer}}, path)
    with pytest.raises(UnsafeCheckpoint, match="PickleBuffer"):
        read_checkpoint_meta(path)


def test_a_reference_can_only_name_the_two_tables():
    from benchmarks.store.checkpoint import _resolve_reference
    with pytest.raises(CheckpointError, match="unknown kind"):
        _resolve_reference("__dict__", 0)


def test_checkpoint_of_the_old_full_pickle_format_is_refused(tmp_path):
    path = tmp_path / "seed1.pt"
    torch.save({"format": 1, "strategy_state": {"x": torch.zeros(2)}}, path, pickle_protocol=4)
    with pytest.raises(UnsafeCheckpoint, match="refused by the safe loader: Unsupported operand"):
        read_checkpoint_meta(path)


def test_state_the_safe_loader_would_refuse_is_reported_when_saving(smoke_digits, tmp_path,
                                                                    monkeypatch):
    import benchmarks.store.checkpoint as checkpoint_module

    cfg, bench = smoke_digits(PHASES)
    without_sgd = tuple(n for n in checkpoint_module.ALLOWED_GLOBALS if n != "torch.optim.sgd.SGD")
    monkeypatch.setattr(checkpoint_module, "ALLOWED_GLOBALS", without_sgd)
    checkpoint_module.allowed_globals.cache_clear()
    try:
        spec = RunSpec(benchmark="split-digits", phases=PHASES, method="naive", seed=5, config=cfg)
        warnings: list[str] = []
        run_one(spec, bench, tmp_path, progress=False, notify=warnings.append)
    finally:
        monkeypatch.undo()
        checkpoint_module.allowed_globals.cache_clear()
    assert len(warnings) == 1 and "cannot checkpoint naive" in warnings[0]
    assert "GLOBAL torch.optim.sgd.SGD" in warnings[0]
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").rglob("*"))


def test_cumulative_checkpoints_after_incremental_phases_and_resumes_exactly(smoke_digits, tmp_path):
    """Its concatenated datasets hold NumPy int64 index arrays from phase 1 on (NumPy 2 pickles
    their dtype by class); a phase-0-only check missed that."""
    cfg, bench = smoke_digits(5)
    spec = RunSpec(benchmark="split-digits", phases=5, method="cumulative", seed=5, config=cfg)
    straight = run_one(spec, bench, tmp_path / "a", progress=False)

    def stop(_spec, phase):
        if phase == 2:
            raise Interrupted

    warnings: list[str] = []
    with pytest.raises(Interrupted):
        run_one(spec, bench, tmp_path / "b", progress=False, notify=warnings.append, after_phase=stop)
    assert warnings == []
    resumed = run_one(spec, bench, tmp_path / "b", progress=False)
    assert resumed["resumed_at_phase"] == [3]
    assert numbers(resumed) == numbers(straight)
