"""Run records: schema validation, atomic write, corrupt files, forgetting."""

from __future__ import annotations

import copy

import pytest

from benchmarks.store import records
from benchmarks.store.records import (RecordError, average_forgetting, load_record, save_record,
                                validate_record)


def make_record(accuracy=(0.9, 0.6, 0.5), method="naive", seed=1, **extra) -> dict:
    """A minimal valid record with the given per-phase accuracies."""
    n = len(accuracy)
    exp = [[accuracy[i]] * (i + 1) for i in range(n)]
    rec = {
        "schema_version": records.SCHEMA_VERSION, "status": "complete",
        "benchmark": "split-digits", "phases": n - 1, "method": method, "seed": seed,
        "preset": "smoke", "reduced": True, "run_key": "k", "command": "python cli.py compare",
        "config": {"epochs": 1, "lr": 0.1, "batch_size": 32, "memory_per_class": 5,
                   "memory_total": None},
        "stream": {}, "memory": {"policy": "none"},
        "classes_seen": [5 + i for i in range(n)], "accuracy": list(accuracy),
        "nme_accuracy": None, "exp_accuracy": exp,
        "avg_incremental_accuracy": sum(accuracy) / n, "last_accuracy": accuracy[-1],
        "forgetting": average_forgetting(exp), "wall_time_s": 1.0, "peak_rss_mb": 100.0,
        "versions": {}, "git_commit": "unknown", "device": "cpu",
    }
    rec.update(extra)
    return rec


def test_valid_record_round_trips(tmp_path):
    rec = make_record()
    path = tmp_path / "runs" / "naive" / "seed1.json"
    save_record(path, rec)
    assert load_record(path) == rec
    assert [p.name for p in path.parent.iterdir()] == ["seed1.json"]  # no temp file left


@pytest.mark.parametrize("breakage, message", [
    (lambda r: r.pop("accuracy"), "missing field"),
    (lambda r: r.update(status="running"), "status"),
    (lambda r: r.update(accuracy=r["accuracy"][:-1]), "entries"),
    (lambda r: r.update(accuracy=[1.5] + r["accuracy"][1:]), "outside"),
    (lambda r: r["exp_accuracy"][1].append(0.1), "lower-triangular"),
    (lambda r: r.update(avg_incremental_accuracy=0.99), "does not match"),
    (lambda r: r.update(reduced="yes"), "wrong type"),
    (lambda r: r.update(schema_version=99), "schema version"),
    (lambda r: r.update(nme_accuracy=[0.5]), "nme_accuracy"),
])
def test_validation_rejects_broken_records(breakage, message):
    rec = copy.deepcopy(make_record())
    breakage(rec)
    with pytest.raises(RecordError, match=message):
        validate_record(rec)


def test_save_refuses_invalid_record(tmp_path):
    rec = make_record()
    rec["last_accuracy"] = 0.1
    with pytest.raises(RecordError):
        save_record(tmp_path / "r.json", rec)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("content", ["", '{"schema_version": 1, "stat', "[1, 2]", "\x00\x01"])
def test_corrupt_or_partial_files_are_reported(tmp_path, content):
    path = tmp_path / "seed1.json"
    path.write_text(content)
    with pytest.raises(RecordError):
        load_record(path)


def test_truncated_real_record_is_reported(tmp_path):
    path = tmp_path / "seed1.json"
    save_record(path, make_record())
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(RecordError, match="not valid JSON"):
        load_record(path)


def test_average_forgetting_standard_definition():
    # a[i][j]: accuracy on experience j after phase i
    a = [[0.9],
         [0.7, 0.8],
         [0.5, 0.6, 0.95]]
    # exp 0: best before last = 0.9, last 0.5 -> 0.4; exp 1: best 0.8, last 0.6 -> 0.2
    assert average_forgetting(a) == pytest.approx(0.3)
    assert average_forgetting([[0.9]]) is None
    # an experience that improves later counts negatively (no clipping)
    assert average_forgetting([[0.5], [0.7, 0.9]]) == pytest.approx(-0.2)


def test_divergence_notes_list_only_runs_without_a_record(tmp_path):
    """What the tables say diverged: well-formed notes whose run has no record."""
    from benchmarks.store.records import divergence_path, find_divergences, save_divergence

    save_divergence(tmp_path, "ewc", 2, "k", "ewc seed 2: the training loss is nan; lower it")
    save_divergence(tmp_path, "naive", 1, "k", "naive seed 1: diverged once, then finished")
    (tmp_path / "runs/naive").mkdir(parents=True)
    (tmp_path / "runs/naive/seed1.json").write_text("{}")
    bad = divergence_path(tmp_path, "der", 1)
    bad.parent.mkdir(parents=True)
    bad.write_text('{"method": "der", "seed": "1", "message": "x"}')  # seed of the wrong type
    moved = divergence_path(tmp_path, "lwf", 1)
    moved.parent.mkdir(parents=True)
    moved.write_text('{"method": "ewc", "seed": 1, "message": "x"}')  # not where it lies
    assert [(n["method"], n["seed"]) for n in find_divergences(tmp_path)] == [("ewc", 2)]
