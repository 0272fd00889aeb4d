"""Presets -> frozen RunConfig, overrides, and the method registry."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.compare import parse_seeds
from benchmarks.config import PRESET_DIR, list_presets, load_config, scale_milestones
from benchmarks.errors import UserError
from benchmarks.methods import DEFAULT_METHODS, METHODS, get_method, memory_plan, parse_methods


def test_paper_preset_is_the_published_cifar100_setting():
    c = load_config("paper", backbone="resnet32")
    assert (c.epochs, c.lr, c.lr_milestones, c.lr_gamma) == (160, 0.1, (80, 120), 0.1)
    assert (c.batch_size, c.eval_batch_size, c.weight_decay, c.momentum) == (128, 100, 5e-4, 0.9)
    assert (c.memory_per_class, c.memory_total) == (20, None)
    assert (c.lambda_base, c.fusion_lr, c.margin, c.ranking_k) == (5.0, 1e-8, 0.5, 2)
    assert (c.kd_temperature, c.kd_beta) == (2.0, 0.25)
    assert (c.train_per_class, c.test_per_class) == (None, None)
    assert c.reduced is False


def test_paper_preset_imagenet_subset_section():
    c = load_config("paper", backbone="resnet18")
    assert (c.epochs, c.lr, c.lambda_base, c.lr_milestones) == (90, 0.05, 10.0, (30, 60))
    assert c.memory_per_class == 20


def test_preset_files_say_what_they_are():
    for name, _ in list_presets():
        head = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0]
        assert ("PAPER SETTING" in head) == (name == "paper")
        assert ("REDUCED SETTING" in head) == (name != "paper")
        assert load_config(name).reduced == (name != "paper")
    assert "END of each epoch" in (PRESET_DIR / "paper.yaml").read_text()


def test_overrides_and_milestone_scaling():
    c = load_config("paper", overrides={"epochs": 8, "lr": None})
    assert c.epochs == 8 and c.lr_milestones == (4, 6) and c.lr == 0.1
    assert dict(c.overrides) == {"epochs": 8}
    assert scale_milestones((80, 120), 160, 2) == (1,)
    assert load_config("cpu", overrides={"memory_total": 200}).memory_per_class is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.epochs = 3  # type: ignore[misc]
    with pytest.raises(UserError, match="unknown preset"):
        load_config("nope")
    with pytest.raises(UserError, match="cannot override"):
        load_config("cpu", overrides={"margin": 1.0})


def test_config_digest_tracks_every_value():
    a, b = load_config("smoke"), load_config("smoke")
    assert a.digest() == b.digest()
    assert load_config("smoke", overrides={"epochs": 2}).digest() != a.digest()
    assert a.to_dict()["method_params"]["lwf"] == {"alpha": 1.0, "temperature": 2.0}


def test_registry():
    assert set(DEFAULT_METHODS) <= set(METHODS)
    assert "aanets-lucir-dualfree" in METHODS and "aanets-lucir-dualfree" not in DEFAULT_METHODS
    for name in ("naive", "cumulative", "replay", "lwf", "ewc", "avl-icarl", "der", "bic",
                 "aanets-lucir", "aanets-icarl", "lucir", "icarl"):
        assert name in DEFAULT_METHODS
        assert get_method(name).description
    assert parse_methods(None) == DEFAULT_METHODS
    assert parse_methods(" naive, lwf ") == ("naive", "lwf")
    with pytest.raises(UserError, match="unknown method"):
        parse_methods("naive,bogus")
    with pytest.raises(UserError, match="twice"):
        parse_methods("naive,naive")


def test_same_memory_budget_for_all_methods():
    c = load_config("paper")
    assert memory_plan(get_method("replay"), c, 100)["size"] == 2000  # 20/class x 100 classes
    assert memory_plan(get_method("aanets-lucir"), c, 100) == {"policy": "per_class", "per_class": 20}
    fixed = load_config("paper", overrides={"memory_total": 2000})
    assert memory_plan(get_method("der"), fixed, 100)["size"] == 2000
    assert memory_plan(get_method("icarl"), fixed, 100) == {"policy": "fixed_total", "total": 2000}
    assert memory_plan(get_method("naive"), c, 100) == {"policy": "none"}


@pytest.mark.parametrize("text, expected", [("1993", (1993,)), ("1, 2,3", (1, 2, 3)), (None, (1993,))])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["1,x", "", ",", "1.5", "-3", "1,1", str(2**32), "٣"])
def test_parse_seeds_rejects(text):
    with pytest.raises(UserError, match="seed"):
        parse_seeds(text)


@pytest.mark.parametrize("overrides, per_class, total", [({}, 20, None), ({"memory_total": 2000}, None, 2000)])
def test_aanets_factories_get_the_configured_memory(overrides, per_class, total):
    """Both memory settings reach the herding plugin (a fixed total used to be rejected)."""
    from types import SimpleNamespace

    cfg = load_config("paper", overrides=overrides)
    bench = SimpleNamespace(backbone="resnet32", input_shape=(1, 8, 8), num_classes=10)
    for name in ("aanets-lucir", "icarl"):
        strategy = get_method(name).factory(cfg, bench, "cpu", None)
        assert (strategy.memory.memory_per_class, strategy.memory.memory_total) == (per_class, total)
