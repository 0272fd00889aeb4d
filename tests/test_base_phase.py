"""One base phase per group: a method that adopts a sibling's phase 0 gets exactly the numbers
it gets when it trains phase 0 itself, and a comparison trains that phase once."""

import pytest

from benchmarks.run.base_phase import base_path, base_phase_holds
from benchmarks.plan.config import load_config
from benchmarks.run.runner import RunSpec, run_one

PHASES = 1


def numbers(rec: dict) -> tuple:
    return (rec["accuracy"], rec["exp_accuracy"], rec["nme_accuracy"], rec["aggregation_weights"])


def spec_for(cfg, method: str, seed: int = 3) -> RunSpec:
    return RunSpec(benchmark="split-digits", phases=PHASES, method=method, seed=seed, config=cfg)


@pytest.mark.parametrize("writer, reader", [("aanets-lucir", "lucir"),
                                            ("lucir", "aanets-lucir"),
                                            ("icarl", "aanets-icarl-dualfree"),
                                            ("aanets-podnet", "podnet")])
def test_adopted_base_phase_gives_the_numbers_of_an_own_one(writer, reader, smoke_digits, tmp_path):
    cfg, bench = smoke_digits(PHASES)
    alone = run_one(spec_for(cfg, reader), bench, tmp_path / "alone", progress=False)
    first = run_one(spec_for(cfg, writer), bench, tmp_path / "shared", progress=False)
    assert base_path(tmp_path / "shared", reader, 3).is_file()
    adopted = run_one(spec_for(cfg, reader), bench, tmp_path / "shared", progress=False)
    assert numbers(adopted) == numbers(alone)
    assert adopted["base_phase_from"] == writer and alone["base_phase_from"] is None
    assert adopted["phase_times_s"][0] == first["phase_times_s"][0]  # the phase's real cost


def test_base_phase_is_not_adopted_across_flavours_seeds_or_settings(smoke_digits, tmp_path):
    cfg, bench = smoke_digits(PHASES)
    run_one(spec_for(cfg, "lucir"), bench, tmp_path, progress=False)
    for other in (spec_for(cfg, "icarl"), spec_for(cfg, "aanets-lucir", seed=4),
                  spec_for(load_config("smoke", sets=["train.lr=0.02"]), "aanets-lucir")):
        assert run_one(other, bench, tmp_path, progress=False)["base_phase_from"] is None


def test_runs_started_together_wait_for_the_first_of_their_group(smoke_digits, tmp_path):
    """What an executor that starts runs at once (Ray) holds back, and for whom."""
    from benchmarks.store.checkpoint import checkpoint_path

    cfg, _ = smoke_digits(PHASES)
    names = ["lucir", "replay", "aanets-lucir", "aanets-icarl", "icarl", "aanets-lucir-dualfree"]
    runs = [spec_for(cfg, m) for m in names] + [spec_for(cfg, "aanets-lucir", seed=4)]
    assert base_phase_holds(runs, tmp_path) == {2: 0, 4: 3, 5: 0}
    # the first resumes from its own checkpoint: the next one of its group leads
    checkpoint_path(tmp_path, "lucir", 3).parent.mkdir(parents=True)
    checkpoint_path(tmp_path, "lucir", 3).write_bytes(b"")
    assert base_phase_holds(runs, tmp_path) == {5: 2, 4: 3}
    # the group's base phase is already kept: nobody waits for it
    base_path(tmp_path, "lucir", 3).parent.mkdir(parents=True)
    base_path(tmp_path, "lucir", 3).write_bytes(b"")
    assert base_phase_holds(runs, tmp_path) == {4: 3}
    other = spec_for(load_config("smoke", sets=["train.lr=0.02"]), "aanets-icarl")
    assert base_phase_holds([runs[4], other], tmp_path) == {}  # other settings: no sharing


def test_methods_outside_a_group_neither_save_nor_adopt(smoke_digits, tmp_path):
    cfg, bench = smoke_digits(PHASES)
    run_one(spec_for(cfg, "naive"), bench, tmp_path, progress=False)
    assert not (tmp_path / "checkpoints").exists()


def test_adopting_refuses_another_flavour_or_a_later_phase():
    from types import SimpleNamespace

    from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, resnet32

    strategy = AANetsStrategy(model=CosineIncrementalNet(resnet32(1)), flavour="lucir",
                              device="cpu", evaluator=None)
    state = dict(vars(strategy), flavour="icarl")
    with pytest.raises(ValueError, match="flavour 'icarl'"):
        strategy.adopt_base_state(state)
    state = dict(vars(strategy), clock=SimpleNamespace(train_exp_counter=2))
    with pytest.raises(ValueError, match="right after the base phase"):
        strategy.adopt_base_state(state)


def test_compare_trains_the_base_phase_once_and_cleans_up(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import benchmarks.run.base_phase as base_phase
    from cli import cli

    saved = []
    real = base_phase.save_checkpoint
    monkeypatch.setattr(base_phase, "save_checkpoint",
                        lambda path, *a, **k: (saved.append(path), real(path, *a, **k)))
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, [
        "compare", "--benchmark", "split-digits", "--phases", "1", "--preset", "smoke",
        "--methods", "aanets-lucir,lucir,aanets-lucir-dualfree", "--seeds", "1", "--quiet",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(saved) == 1 and not (out / "checkpoints").exists()
    from benchmarks.store.records import load_record
    froms = {m: load_record(out / f"runs/{m}/seed1.json")["base_phase_from"]
             for m in ("aanets-lucir", "lucir", "aanets-lucir-dualfree")}
    assert froms == {"aanets-lucir": None, "lucir": "aanets-lucir", "aanets-lucir-dualfree": "aanets-lucir"}
