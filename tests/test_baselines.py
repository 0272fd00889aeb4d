"""Avalanche baselines: configured as the reference configurations, or the difference stated."""

from types import SimpleNamespace

import torch
from click.testing import CliRunner

from benchmarks.methods import get_method, list_methods
from benchmarks.methods.baselines import buffer_augmentation
from cli import cli


def test_every_avalanche_baseline_states_its_configuration():
    baselines = [m for m in list_methods() if m.family == "avalanche"]
    assert baselines and all(m.reference for m in baselines)
    output = CliRunner().invoke(cli, ["list"]).output
    assert "config: as CLB's Split CIFAR-100 iCaRL: exemplars replayed with crop + flip" in output
    assert "ContinualAI/continual-learning-baselines = CLB" in output


def test_avl_icarl_exemplars_get_the_streams_crop_and_flip():
    augment = buffer_augmentation(SimpleNamespace(input_shape=(3, 32, 32)))
    crop, flip = augment.transforms
    assert type(crop).__name__ == "RandomCrop" and crop.size == (32, 32) and crop.padding == [4, 4, 4, 4]
    assert type(flip).__name__ == "RandomHorizontalFlip"
    x = torch.randn(3, 32, 32)
    assert augment(x).shape == x.shape
    assert buffer_augmentation(SimpleNamespace(input_shape=(1, 8, 8))) is None  # digits: none


# --------------------------------------------------------------------------- LwF / EWC as PyCIL


def test_lwf_penalty_is_nonzero_on_a_one_batch_phase(smoke_digits):
    """Smoke phase 1 is one batch (30 images, batch 32). Avalanche's LwF copied the network in
    training mode, so teacher and student agreed on that batch and its KL penalty was
    0 (to rounding); PyCIL's teacher is frozen in eval mode."""
    from benchmarks.methods.lwf import LwFDistillationPlugin

    torch.manual_seed(0)
    cfg, bench = smoke_digits(5)
    strategy = get_method("lwf").factory(cfg, bench, torch.device("cpu"), None)
    plugin = next(p for p in strategy.plugins if isinstance(p, LwFDistillationPlugin))
    strategy.train(bench.benchmark.train_stream[0])
    assert plugin.teacher is not None and not plugin.teacher.training
    assert plugin.old_classes == len(bench.phase_classes[0])

    seen = []
    backward = strategy.backward

    def recording_backward(**kwargs):
        strategy.optimizer.zero_grad()
        penalty = plugin.penalty(strategy.mb_x, strategy.mb_output)
        with torch.no_grad():
            q = torch.softmax(plugin.teacher(strategy.mb_x)[:, :plugin.old_classes] / plugin.temperature, 1)
        entropy = -(q * q.log()).sum(1).mean()  # KL = soft CE - the teacher's entropy
        grads = torch.autograd.grad(penalty, [p for p in strategy.model.parameters()],
                                    retain_graph=True, allow_unused=True)
        value = float(penalty.detach())
        seen.append((value, value / plugin.alpha - float(entropy),
                     sum(float(g.abs().sum()) for g in grads if g is not None)))
        return backward(**kwargs)

    strategy.backward = recording_backward
    strategy.train(bench.benchmark.train_stream[1])
    [(penalty, kl, grad)] = seen  # one batch
    assert penalty > 0 and kl > 1e-6 and grad > 0


def test_new_classes_cross_entropy_scores_only_the_new_logits_while_training():
    from types import SimpleNamespace

    import torch.nn.functional as F

    from benchmarks.methods.new_classes import NewClassesCrossEntropy

    ce = NewClassesCrossEntropy()
    logits, y = torch.randn(6, 7), torch.tensor([5, 6, 5, 6, 5, 5])
    for classes in ([0, 1, 2, 3, 4], [5, 6]):
        ce.before_training_exp(SimpleNamespace(experience=SimpleNamespace(
            classes_in_this_experience=classes)))
    assert (ce.known_classes, ce.seen_classes) == (5, 7)
    ce.before_training_epoch(None)
    assert torch.allclose(ce(logits, y), F.cross_entropy(logits[:, 5:], y - 5))
    one = torch.tensor([5, 5])
    ce.known_classes = 5
    assert float(ce(torch.randn(2, 6), one)) == 0.0  # one new class: nothing to learn
    ce.after_training_epoch(None)  # evaluation, Fisher passes: all logits
    assert torch.allclose(ce(logits, y), F.cross_entropy(logits, y))


def test_ewc_pycil_mode_merges_the_fisher_by_the_old_classes_share():
    from types import SimpleNamespace

    from avalanche.training.utils import ParamData

    from benchmarks.methods.ewc import BoundedFisherEWCPlugin

    plugin = BoundedFisherEWCPlugin(ewc_lambda=500.0, mode="pycil")
    def exp(classes):
        return SimpleNamespace(experience=SimpleNamespace(classes_in_this_experience=classes))

    plugin.before_training_exp(exp([0, 1, 2]))
    plugin.update_importances({"w": ParamData("w", init_tensor=torch.full((3, 2), 1.0))}, 0)
    plugin.before_training_exp(exp([3]))
    plugin.update_importances({"w": ParamData("w", init_tensor=torch.full((4, 2), 3.0))}, 1)
    assert list(plugin.importances) == [1]  # one merged Fisher
    merged = plugin.importances[1]["w"].data
    assert torch.allclose(merged[:3], torch.full((3, 2), 0.75 * 1.0 + 0.25 * 3.0))
    assert torch.allclose(merged[3], torch.full((2,), 3.0))  # the new class's row: new Fisher


# --------------------------------------------------------------------------- baselines_check


def test_baselines_check_marks_the_rows_that_break_the_expected_order(tmp_path):
    from benchmarks.baselines_check import check, markdown, read_table

    table = tmp_path / "table.csv"
    table.write_text(
        "benchmark,phases,method,seeds,preset,reduced,avg_incremental_accuracy_mean,"
        "avg_incremental_accuracy_std,last_accuracy_mean,last_accuracy_std\n"
        "d,5,naive,3,cpu,True,27.0,1.0,10.0,0.1\n"
        "d,5,cumulative,3,cpu,True,90.0,1.0,85.0,1.0\n"
        "d,5,replay,3,cpu,True,70.0,2.0,50.0,3.0\n"
        "d,5,lwf,3,cpu,True,26.5,1.0,10.0,0.1\n"
        "d,5,ewc,3,cpu,True,65.0,1.0,47.0,1.0\n"
        "d,5,der,3,cpu,True,30.0,1.0,10.0,0.0\n"
        "d,5,bic,3,cpu,True,95.0,1.0,80.0,1.0\n")
    rows = read_table(table)
    methods = ["naive", "cumulative", "replay", "lwf", "ewc", "der", "derpp", "bic"]
    found = check(rows, methods)
    assert found["naive"] == found["cumulative"] == found["replay"] == found["ewc"] == []
    assert found["lwf"] == ["below naive (26.50 vs 27.00)"]
    assert found["der"] == ["below replay (30.00 vs 70.00)"]
    assert found["bic"] == ["above cumulative (95.00 vs 90.00)"]
    assert found["derpp"] == ["no result (failed or diverged: see the folder's table.md)"]
    text = markdown("d", rows, methods)
    assert "| der | 3 | 30.00 ± 1.00 | 10.00 ± 0.00 | >= replay, <= cumulative | ✗ below replay" in text
    assert "| ewc | 3 | 65.00 ± 1.00 | 47.00 ± 1.00 | >= naive, <= cumulative | ok |" in text


def _rows(**means: float):
    from benchmarks.baselines_check import Row

    return {m: Row(m, 3, v, 1.0, v - 5, 1.0) for m, v in means.items()}


def test_baselines_check_reruns_a_broken_row_under_its_authors_task_shape():
    from benchmarks.baselines_check import control_groups, control_phases
    from benchmarks.methods.authors_protocols import AUTHORS_PROTOCOLS

    rows = _rows(naive=27.0, cumulative=90.0, replay=70.0, lwf=20.0, der=30.0, derpp=75.0,
                 bic=60.0)
    methods = list(rows)
    # one class a phase: der breaks ">= replay" and its authors use tasks of 2 classes; derpp
    # holds; bic and lwf break but have no authors' shape on record: no control for them
    der = AUTHORS_PROTOCOLS["der"]
    assert control_groups(rows, methods, new_classes_per_phase=1) == {
        (2, der.steps): ["replay", "der"]}
    # DER and DER++ share Mammoth's protocol: one set of controls for both
    both = dict(rows, derpp=rows["derpp"].__class__("derpp", 3, 40.0, 1.0, 35.0, 1.0))
    assert control_groups(both, methods, new_classes_per_phase=1) == {
        (2, der.steps): ["replay", "der", "derpp"]}
    # the protocol already has the authors' shape: nothing to re-run
    assert control_groups(rows, methods, new_classes_per_phase=2) == {}
    # a failed row is not a protocol finding
    failed = dict(rows, der=rows["der"].__class__("der", 0, None, None, None, None))
    assert control_groups(failed, methods, new_classes_per_phase=1) == {}
    assert control_phases(10, 2) == 4
    assert control_phases(100, 10) == 9
    assert control_phases(10, 3) is None and control_phases(2, 2) is None


def test_baselines_check_row_says_why_with_the_control_and_the_reference():
    from benchmarks.baselines_check import Control, markdown

    rows = _rows(cumulative=90.0, replay=70.0, der=30.0, derpp=40.0)
    methods = ("replay", "der", "derpp")
    shape_only = Control(2, 4, (), (), methods, "python cli.py compare ... B2",
                         _rows(replay=50.0, der=52.0, derpp=45.0))
    authors = Control(2, 4, ("the authors' optimizer",), ("train.lr=0.03", "train.momentum=0"),
                      methods, "python cli.py compare ... B2 lr",
                      _rows(replay=80.0, der=78.0, derpp=85.0))
    text = markdown("d", rows, list(rows), [shape_only, authors], new_classes_per_phase=1,
                    command="python cli.py compare main")
    der_row = next(line for line in text.splitlines() if line.startswith("| der |"))
    assert ("✗ below replay (30.00 vs 70.00): 1 class a phase and the preset's optimizer here; "
            "its authors: tasks of 2 classes, train.lr=0.03, train.momentum=0, train.weight_decay=0,"
            " train.batch_size=10, train.epochs=1, train.lr_milestones=[], "
            "data.train_per_class=1000, data.augment=false, model.backbone=mlp [1]; tasks of 2: "
            "52.00 vs replay "
            "50.00, holds; + the authors' optimizer: 78.00 vs replay 80.00, breaks there too") \
        in der_row
    derpp_row = next(line for line in text.splitlines() if line.startswith("| derpp |"))
    assert "tasks of 2: 45.00 vs replay 50.00, breaks there too" in derpp_row  # never hidden
    assert "+ the authors' optimizer: 85.00 vs replay 80.00, holds" in derpp_row
    assert "1. `der`: Mammoth's `models/der.py`" in text and "N_CLASSES_PER_TASK 2" in text
    assert "2. `derpp`: Mammoth's `models/derpp.py`" in text and "Protocol: as in [1]" in text
    assert "Control: tasks of 2 classes (B2 + 4), the preset's optimizer" in text
    assert ("Control: tasks of 2 classes (B2 + 4), the authors' optimizer (train.lr=0.03, "
            "train.momentum=0)") in text
    assert "`python cli.py compare ... B2`" in text and "`python cli.py compare ... B2 lr`" in text
    # the main command sits under the main table, before the controls
    assert text.index("`python cli.py compare main`") < text.index("Control: tasks")
    # a control that lost a row says so instead of passing or failing the rule
    lost = Control(2, 4, (), (), methods, "c", _rows(replay=50.0, der=52.0))
    text_lost = markdown("d", rows, list(rows), [lost], new_classes_per_phase=1)
    assert "tasks of 2: no derpp result" in text_lost
    lost_ref = Control(2, 4, (), (), methods, "c", _rows(der=52.0, derpp=45.0))
    assert "tasks of 2: no replay result" in markdown("d", rows, list(rows), [lost_ref], 1)
    # rows that keep their order say only "ok"
    assert "| replay | 3 | 70.00 ± 1.00 | 65.00 ± 1.00 | <= cumulative | ok |" in text
    # below the other row's mean: seed noise when the paired interval holds 0, else a break
    # with its interval
    from benchmarks.baselines_check import Row
    paired = {"replay": Row("replay", 3, 80.0, 1.0, 75.0, 1.0),
              "der": Row("der", 3, 78.0, 1.0, 73.0, 1.0, "replay", -2.0, -5.0, 1.0),
              "derpp": Row("derpp", 3, 77.0, 1.0, 72.0, 1.0, "replay", -3.0, -4.5, -1.5)}
    noise = Control(2, 4, ("un-augmented images",), ("data.augment=false",), methods, "c", paired)
    text = markdown("d", rows, list(rows), [noise], new_classes_per_phase=1)
    assert ("+ un-augmented images: 78.00 vs replay 80.00, within seed noise (paired difference "
            "-2.00, 95% CI [-5.00, +1.00] holds 0)") in text
    assert ("+ un-augmented images: 77.00 vs replay 80.00, breaks there too (paired difference "
            "-3.00, 95% CI [-4.50, -1.50])") in text


def test_baselines_check_reads_its_controls_from_the_folders_it_names(tmp_path, capsys):
    """--no-run on hand-made tables: the main table breaks der's order, so the check looks for
    the two controls (B2 + 4 with the preset's optimizer, then with the authors') and cites
    them in der's row, each with the command that makes it."""
    from benchmarks.baselines_check import main

    header = ("benchmark,phases,method,seeds,preset,reduced,avg_incremental_accuracy_mean,"
              "avg_incremental_accuracy_std,last_accuracy_mean,last_accuracy_std,versus,"
              "versus_mean_diff,versus_ci_low,versus_ci_high\n")
    tables = {"split-digits-p5-cpu": {"naive": 27, "cumulative": 98, "replay": 72, "der": 30},
              "split-digits-b2p4-cpu": {"replay": 49, "der": 51},
              "split-digits-b2p4-cpu-authors-optimizer": {"replay": 97, "der": 87},
              "split-digits-b2p4-cpu-authors-scale": {"replay": 90, "der": 91},
              "split-digits-b2p4-cpu-authors-no-augment": {"replay": 90, "der": 89},
              "split-digits-b2p4-cpu-authors-mlp": {"replay": 80, "der": 84}}
    for folder, means in tables.items():
        (tmp_path / folder).mkdir()
        versus = ",,," if folder.endswith("-cpu") else "replay,{d},{lo},{hi}"
        (tmp_path / folder / "table.csv").write_text(header + "".join(
            f"d,5,{m},3,cpu,True,{v},1.0,{v - 5},1.0,"
            + versus.format(d=v - means["replay"], lo=v - means["replay"] - 2,
                            hi=v - means["replay"] + 2) + "\n"
            for m, v in means.items()))
    status = main(["--benchmarks", "split-digits", "--methods", "naive,cumulative,replay,der",
                   "--no-run", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert status == 0
    der_row = next(line for line in text.splitlines() if line.startswith("| der |"))
    assert "tasks of 2: 51.00 vs replay 49.00, holds" in der_row
    assert "+ the authors' optimizer: 87.00 vs replay 97.00, breaks there too" in der_row
    assert "+ one epoch over up to 1,000 images a class: 91.00 vs replay 90.00, holds" in der_row
    assert ("+ un-augmented images: 89.00 vs replay 90.00, within seed noise (paired difference "
            "-1.00, 95% CI [-3.00, +1.00] holds 0)") in der_row
    assert "+ the authors' network (a two-layer MLP): 84.00 vs replay 80.00, holds" in der_row
    assert "--methods replay,der --device cpu" not in text  # every control: paired to replay
    assert ("--set data.train_per_class=1000 --set data.augment=false --versus replay "
            "--device cpu") in text
    assert ("--phases 4 --base-classes 2 --preset cpu --seeds 1993,1994,1995 --methods "
            "replay,der --versus replay --device cpu") in text
    assert ("--methods replay,der --set train.lr=0.03 --set train.momentum=0 --set "
            "train.weight_decay=0 --set train.batch_size=10 --versus replay --device cpu") in text
    # the steps add up: the last control has the optimizer's settings and its own
    assert ("--set train.batch_size=10 --set train.epochs=1 --set train.lr_milestones=[] --set "
            "data.train_per_class=1000 --versus replay --device cpu --out "
            f"{tmp_path}/split-digits-b2p4-cpu-authors-scale") in text
    # --no-controls: the broken row is marked, nothing more is looked for
    status = main(["--benchmarks", "split-digits", "--methods", "naive,cumulative,replay,der",
                   "--no-run", "--no-controls", "--out", str(tmp_path)])
    assert status == 0 and "| der | 3 | 30.00 ± 1.00 |" in capsys.readouterr().out
