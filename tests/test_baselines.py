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
