"""One run: metrics of the record, and resume after an interruption gives identical numbers."""

from __future__ import annotations

import pytest

from benchmarks.store.checkpoint import checkpoint_path
from benchmarks.plan.config import load_config
from benchmarks.errors import UserError
from benchmarks.store.records import load_record, record_path
from benchmarks.plan.cells import RunSpec
from benchmarks.run.runner import run_one

PHASES = 5


class Interrupted(Exception):
    """Stands in for a kill (Ctrl-C, preemption) right after a phase was checkpointed."""


@pytest.fixture(scope="module")
def cfg(smoke_digits):
    return smoke_digits(PHASES)[0]


@pytest.fixture(scope="module")
def bench(smoke_digits):
    return smoke_digits(PHASES)[1]


def spec(cfg, method: str, seed: int = 3) -> RunSpec:
    return RunSpec(benchmark="split-digits", phases=PHASES, method=method, seed=seed, config=cfg)


def numbers(rec: dict) -> tuple:
    return (rec["accuracy"], rec["exp_accuracy"], rec["nme_accuracy"], rec["aggregation_weights"])


def interrupt_after(phase: int):
    def hook(_spec, i):
        if i == phase:
            raise Interrupted
    return hook


@pytest.mark.parametrize("method", ["aanets-lucir", "replay", "lwf"])
def test_resume_gives_the_same_numbers(method, cfg, bench, tmp_path):
    s = spec(cfg, method)
    straight = run_one(s, bench, tmp_path / "a", progress=False)

    out = tmp_path / "b"
    with pytest.raises(Interrupted):
        run_one(s, bench, out, progress=False, after_phase=interrupt_after(2))
    ckpt = checkpoint_path(out, method, s.seed)
    assert ckpt.exists()
    assert not record_path(out, method, s.seed).exists()

    phases_run = []
    resumed = run_one(s, bench, out, progress=False, after_phase=lambda _s, i: phases_run.append(i))
    assert phases_run == [3, 4, 5]  # only the phases after the checkpoint were trained
    assert resumed["resumed_at_phase"] == [3]
    assert numbers(resumed) == numbers(straight)
    assert not ckpt.exists() and not ckpt.parent.exists()  # cleaned up (a base phase kept for
    # sibling methods, base_phase.py, stays until the comparison ends)
    assert load_record(record_path(out, method, s.seed)) == resumed


def test_unusable_checkpoint_is_kept_aside_reported_and_run_restarts(cfg, bench, tmp_path):
    s = spec(cfg, "naive")
    straight = run_one(s, bench, tmp_path / "a", progress=False)
    out = tmp_path / "b"
    ckpt = checkpoint_path(out, "naive", s.seed)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    messages = []
    rec = run_one(s, bench, out, progress=False, notify=messages.append)
    assert len(messages) == 1 and "is unusable" in messages[0] and "kept as" in messages[0]
    assert numbers(rec) == numbers(straight)
    assert rec["resumed_at_phase"] == []
    kept = list(ckpt.parent.glob("seed3.pt.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"not a checkpoint"


def test_checkpoint_of_another_config_is_refused_not_deleted(cfg, bench, tmp_path):
    s = spec(cfg, "naive")
    with pytest.raises(Interrupted):
        run_one(s, bench, tmp_path, progress=False, after_phase=interrupt_after(1))
    ckpt = checkpoint_path(tmp_path, "naive", s.seed)
    before = ckpt.read_bytes()
    other = spec(load_config("smoke", overrides={"batch_size": 16}), "naive")
    with pytest.raises(UserError, match=r"batch_size 32 \(saved\) vs 16 \(now\)"):
        run_one(other, bench, tmp_path, progress=False)
    assert ckpt.read_bytes() == before


def test_record_contents(cfg, bench, tmp_path):
    rec = run_one(spec(cfg, "replay"), bench, tmp_path, progress=False)
    n = PHASES + 1
    assert rec["classes_seen"] == [5, 6, 7, 8, 9, 10]
    assert len(rec["accuracy"]) == n and [len(r) for r in rec["exp_accuracy"]] == list(range(1, n + 1))
    assert rec["avg_incremental_accuracy"] == pytest.approx(sum(rec["accuracy"]) / n)
    assert rec["last_accuracy"] == rec["accuracy"][-1]
    assert rec["nme_accuracy"] is None and rec["aggregation_weights"] is None
    # same budget as the per-class methods at the last phase: 5 exemplars x 10 classes
    assert rec["memory"] == {"policy": "fixed_buffer", "size": 50, "note": pytest.approx(
        rec["memory"]["note"])}
    assert rec["preset"] == "smoke" and rec["reduced"] is True
    assert rec["config"]["epochs"] == 1
    assert set(rec["versions"]) == {"python", "torch", "torchvision", "avalanche"}
    assert rec["git_commit"] == "unknown" or len(rec["git_commit"]) == 40
    assert rec["peak_rss_mb"] > 0 and rec["wall_time_s"] > 0
    assert len(rec["phase_times_s"]) == n

    # stream accuracy is sample-weighted over all seen classes (not a mean of experiences)
    sizes = [len(exp.dataset) for exp in bench.benchmark.test_stream]
    for i, row in enumerate(rec["exp_accuracy"]):
        weighted = sum(a * s for a, s in zip(row, sizes)) / sum(sizes[: i + 1])
        assert rec["accuracy"][i] == pytest.approx(weighted)


def test_aanets_record_has_nme_and_aggregation_weights(cfg, bench, tmp_path):
    rec = run_one(spec(cfg, "aanets-lucir"), bench, tmp_path, progress=False)
    assert rec["nme_accuracy"] is not None and len(rec["nme_accuracy"]) == PHASES + 1
    assert rec["nme_avg_incremental_accuracy"] == pytest.approx(sum(rec["nme_accuracy"]) / (PHASES + 1))
    weights = rec["aggregation_weights"]
    assert len(weights) == PHASES + 1
    assert all(w is not None and len(w) == 3 for w in weights[1:])  # ResNet-32: three levels
