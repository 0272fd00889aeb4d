"""DER / DER++ as Mammoth defines them: a reservoir buffer of the training-mode logits each batch
had when it was seen (Avalanche's DER stored eval-mode logits once per phase and diverged), and
no divergence on the smoke setting."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from avalanche.core import SupervisedPlugin

from benchmarks.methods import get_method
from benchmarks.methods.der import DarkExperienceReplayPlugin, reservoir_slots


def sequential_reservoir(num_seen, batch, capacity, draws):
    """Mammoth's one-by-one reservoir, fed the same uniform draws."""
    slot_of_row = {}
    taken = {}
    for i in range(batch):
        position = num_seen + i
        slot = position if position < capacity else min(int(draws[i] * (position + 1)), position)
        if slot < capacity:
            if slot in taken:
                slot_of_row.pop(taken[slot])
            taken[slot] = i
            slot_of_row[i] = slot
    return slot_of_row


@pytest.mark.parametrize("num_seen,batch,capacity", [(0, 8, 20), (15, 10, 20), (50, 64, 10),
                                                     (1000, 300, 5)])
def test_batched_reservoir_matches_the_one_by_one_algorithm(num_seen, batch, capacity):
    generator = torch.Generator().manual_seed(num_seen + batch)
    slots, rows = reservoir_slots(num_seen, batch, capacity, "cpu", generator=generator)
    draws = torch.rand(batch, dtype=torch.float64, generator=torch.Generator().manual_seed(num_seen + batch))
    expected = sequential_reservoir(num_seen, batch, capacity, draws.tolist())
    assert dict(zip(rows.tolist(), slots.tolist())) == expected
    assert len(set(slots.tolist())) == len(slots)


def test_reservoir_keeps_every_sample_of_the_stream_with_equal_chance():
    torch.manual_seed(0)
    capacity, stream, trials = 10, 40, 2000
    counts = torch.zeros(stream)
    for _ in range(trials):
        owner = torch.full((capacity,), -1)
        for start in range(0, stream, 8):
            slots, rows = reservoir_slots(start, 8, capacity, "cpu")
            owner[slots] = rows + start
        counts[owner] += 1
    assert torch.allclose(counts / trials, torch.full((stream,), capacity / stream), atol=0.05)


class FirstBatch(SupervisedPlugin):
    """Keeps the first training batch, the network as it was before that batch's forward, and
    the DER buffer right after that iteration (later batches may overwrite its slots)."""

    def __init__(self, der):
        super().__init__()
        self.der = der
        self.x = self.y = self.model = self.buffer = None

    def before_training_iteration(self, strategy, **kwargs):
        if self.x is None:
            self.x, self.y = strategy.mb_x.clone(), strategy.mb_y.clone()
            self.model = copy.deepcopy(strategy.model)

    def after_training_iteration(self, strategy, **kwargs):  # runs after the DER plugin's
        if self.buffer is None:
            d = self.der
            self.buffer = (d.num_seen, d.examples.clone(), d.labels.clone(), d.logits.clone())


def test_derpp_stores_the_training_mode_logits_of_the_batch_it_saw(smoke_digits):
    torch.manual_seed(0)
    cfg, bench = smoke_digits(5)
    strategy = get_method("derpp").factory(cfg, bench, torch.device("cpu"), None)
    der = next(p for p in strategy.plugins if isinstance(p, DarkExperienceReplayPlugin))
    first = FirstBatch(der)
    strategy.plugins.append(first)
    strategy.train(bench.benchmark.train_stream[0])

    n = first.x.shape[0]
    seen, examples, labels, logits = first.buffer
    assert der.mem_size >= n and seen == n  # the buffer was not full: rows 0..n-1 are the batch
    assert torch.equal(examples[:n], first.x) and torch.equal(labels[:n], first.y)
    with torch.no_grad():
        trained_mode = first.model.train()(first.x)  # BatchNorm on the batch's own statistics
        eval_mode = copy.deepcopy(first.model).eval()(first.x)
    assert torch.allclose(logits[:n], trained_mode, atol=1e-5)
    assert not torch.allclose(logits[:n], eval_mode, atol=1e-2)
    assert logits.shape[1] == bench.num_classes  # unseen classes' logits kept as they were
    assert der.num_seen == len(bench.benchmark.train_stream[0].dataset)

    evaluated = SimpleNamespace(mb_output=torch.zeros(4, bench.num_classes))
    der.after_eval_forward(evaluated)  # evaluation reads the seen classes' logits, as Mammoth
    assert evaluated.mb_output.shape == (4, len(bench.phase_classes[0]))


def test_der_is_alpha_only_and_derpp_adds_the_label_term(smoke_digits):
    cfg, bench = smoke_digits(5)
    der = get_method("der").factory(cfg, bench, torch.device("cpu"), None)
    derpp = get_method("derpp").factory(cfg, bench, torch.device("cpu"), None)
    plugin = next(p for p in der.plugins if isinstance(p, DarkExperienceReplayPlugin))
    plugin_pp = next(p for p in derpp.plugins if isinstance(p, DarkExperienceReplayPlugin))
    assert plugin.beta == 0.0 and plugin.alpha > 0
    assert plugin_pp.beta > 0 and plugin_pp.alpha > 0
    assert plugin.mem_size == cfg.memory_budget_at(bench.num_classes)


@pytest.mark.parametrize("seed", [1993, 1994, 1995])
def test_der_and_derpp_stay_finite_and_bounded_on_the_smoke_setting(seed, smoke_digits):
    """Avalanche's DER went 35 -> 5,921 -> 80,245 -> inf here."""
    cfg, bench = smoke_digits(5)
    for method in ("der", "derpp"):
        torch.manual_seed(seed)
        strategy = get_method(method).factory(cfg, bench, torch.device("cpu"), None)
        losses = []

        def recording_backward(strategy=strategy, backward=strategy.backward, losses=losses,
                               **kwargs):
            losses.append(float(strategy.loss.detach()))
            return backward(**kwargs)

        strategy.backward = recording_backward
        for experience in bench.benchmark.train_stream:
            strategy.train(experience)
        assert all(math.isfinite(v) for v in losses), (method, losses)
        assert max(losses) < 100.0, (method, max(losses))


def test_the_buffer_keeps_raw_inputs_and_replays_them_augmented():
    from aanets_avalanche.augment import BatchAugmentation

    torch.manual_seed(0)
    plugin = DarkExperienceReplayPlugin(mem_size=16, alpha=0.3,
                                        augmentation=BatchAugmentation(padding=2, flip=True))
    images = torch.randint(0, 256, (8, 1, 12, 12), dtype=torch.uint8)
    plugin.add(images, torch.arange(8), torch.randn(8, 10))
    assert plugin.examples.dtype == torch.uint8 and torch.equal(plugin.examples[:8], images)
    x, y, z = plugin.sample(8)
    assert x.dtype == torch.uint8 and x.shape == (8, 1, 12, 12) and sorted(y.tolist()) == list(range(8))
    assert not torch.equal(x, plugin.examples[y])  # cropped / flipped on the way out
    assert torch.equal(z, plugin.logits[y])
