"""Presets -> frozen RunConfig, overrides, and the method registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.plan.request import parse_seeds
from benchmarks.plan.config import PRESET_DIR, list_presets, load_config, scale_milestones
from benchmarks.errors import UserError
from benchmarks.methods import DEFAULT_METHODS, METHODS, get_method, memory_plan, parse_methods


def test_paper_preset_is_the_authors_released_cifar100_command():
    c = load_config("paper", backbone="resnet32")
    assert (c.epochs, c.lr, c.lr_milestones, c.lr_gamma, c.lr_schedule) == (160, 0.1, (80, 120), 0.1, "multistep")
    assert (c.batch_size, c.eval_batch_size, c.weight_decay, c.momentum) == (128, 100, 5e-4, 0.9)
    # the README's CIFAR commands omit --dynamic_budget: a fixed total of nb_protos x 100
    assert (c.memory_per_class, c.memory_total) == (None, 2000)
    assert (c.lambda_base, c.fusion_lr, c.margin, c.ranking_k) == (5.0, 1e-8, 0.5, 2)
    assert (c.kd_temperature, c.kd_beta, c.balanced_per_class) == (2.0, 0.25, 20)
    assert (c.train_per_class, c.test_per_class, c.color_jitter) == (None, None, 0.0)
    assert c.reduced is False and c.reference_quirks is False
    assert load_config("paper", sets=["memory.per_class=20"]).memory_total is None  # one switch


def test_paper_preset_imagenet_subset_section_is_the_imagenet_command():
    c = load_config("paper", backbone="resnet18")
    assert (c.epochs, c.lr, c.lambda_base, c.eval_batch_size) == (90, 0.05, 10.0, 50)
    assert (c.lr_schedule, c.lr_milestones, c.fusion_milestones) == ("cosine", (29, 60), (29, 60))
    assert (c.memory_per_class, c.memory_total, c.weight_decay) == (20, None, 5e-4)
    assert c.color_jitter == pytest.approx(63 / 255)


@pytest.mark.parametrize("nb_cl", [10, 5, 2])
def test_paper_budget_per_phase_equals_the_reference_formula(nb_cl):
    """base_trainer.py: nb_protos_cl = ceil(nb_protos * 100 / nb_cl / (iteration + 1)), where
    iteration + 1 phases of nb_cl classes have been seen (B50: iteration starts at 50/nb_cl - 1)."""
    from aanets_avalanche.plugins import HerdingMemoryPlugin
    from benchmarks.plan.planner import budget_per_class

    c = load_config("paper", backbone="resnet32")
    memory = HerdingMemoryPlugin(c.memory_per_class, c.memory_total)
    nb_protos, start_iter = 20, 50 // nb_cl - 1
    for iteration in range(start_iter, 100 // nb_cl):
        reference = int(np.ceil(nb_protos * 100.0 / nb_cl / (iteration + 1)))
        classes_seen = (iteration + 1) * nb_cl
        assert memory.budget_per_class(classes_seen) == reference
        assert budget_per_class(c, classes_seen) == reference
    assert memory.budget_per_class(50) == 40 and memory.budget_per_class(100) == 20


def test_preset_files_say_what_they_are():
    for name, _ in list_presets():
        head = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0]
        assert ("PAPER SETTING" in head) == (name == "paper")
        assert ("REDUCED SETTING" in head) == (name != "paper")
        assert load_config(name).reduced == (name != "paper")
    assert "END of each epoch" in (PRESET_DIR / "paper.yaml").read_text()


def test_paper_preset_cites_a_flag_for_every_value():
    text = (PRESET_DIR / "paper.yaml").read_text()
    for flag in ("--epochs", "--base_lr2", "--lr_factor", "--custom_momentum",
                 "--custom_weight_decay", "--train_batch_size", "--test_batch_size",
                 "--dynamic_budget", "--nb_protos", "--the_lambda", "--dist", "--K", "--lw_mr",
                 "--icarl_T", "--icarl_beta", "--fusion_lr", "--test_batch_size=50"):
        assert flag in text, flag


def test_overrides_and_milestone_scaling():
    c = load_config("paper", overrides={"epochs": 8, "lr": None})
    assert c.epochs == 8 and c.lr_milestones == (4, 6) and c.lr == 0.1
    assert dict(c.overrides) == {"train.epochs": 8}
    assert scale_milestones((80, 120), 160, 2) == (1,)
    assert load_config("cpu", overrides={"memory_total": 200}).memory_per_class is None
    r18 = load_config("paper", backbone="resnet18", sets=["train.epochs=9"])
    assert (r18.lr_milestones, r18.fusion_milestones) == ((3, 6), (3, 6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.epochs = 3  # type: ignore[misc]
    with pytest.raises(UserError, match="unknown preset"):
        load_config("nope")


@pytest.mark.parametrize("item, field, value", [
    ("aanets.fusion_lr=1e-4", "fusion_lr", 1e-4),
    ("memory.total=2000", "memory_total", 2000),
    ("train.epochs=30", "epochs", 30),
    ("train.lr_milestones=[10,20]", "lr_milestones", (10, 20)),
    ("train.lr_milestones=10,20", "lr_milestones", (10, 20)),
    ("train.lr_milestones=[]", "lr_milestones", ()),
    ("train.lr_schedule=cosine", "lr_schedule", "cosine"),
    ("reference_quirks=true", "reference_quirks", True),
    ("data.mean=0.5,0.4,0.3", "mean", (0.5, 0.4, 0.3)),
    ("data.class_order=[2,0,1]", "class_order", (2, 0, 1)),
    ("aanets.stable_lr=null", "stable_lr", None),
    ("train.lr=1", "lr", 1.0),
])
def test_set_is_typed(item, field, value):
    c = load_config("smoke", sets=[item])
    got = getattr(c, field)
    assert got == value and type(got) is type(value)
    assert dict(c.overrides) == {item.split("=")[0]: value}


def test_set_reaches_method_params_typed_like_the_preset(tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text((PRESET_DIR / "smoke.yaml").read_text().replace(
        "  der: {alpha: 0.3}", "  der: {alpha: 0.3, batch: null}"))
    assert load_config(str(own), sets=["methods.der.batch=64"]).method_param("der", "batch", 0) == 64
    c = load_config("smoke", sets=["methods.lwf.alpha=2", "methods.ewc.mode=online"])
    assert c.method_param("lwf", "alpha", None) == 2.0 and isinstance(c.method_param("lwf", "alpha", None), float)
    assert c.method_param("ewc", "mode", None) == "online"
    assert load_config("smoke").method_param("lwf", "alpha", None) == 1.0  # presets untouched


@pytest.mark.parametrize("item, message", [
    ("aanets.fusion=1", "unknown setting 'aanets.fusion'; did you mean aanets.fusion_lr or "
                        "aanets.fusion_milestones?"),
    ("methods.lwf.beta=1", "unknown setting 'methods.lwf.beta'"),
    ("train.epochs=x", "train.epochs must be an integer >= 1 (got 'x')"),
    ("train.epochs=0", "train.epochs must be an integer >= 1"),
    ("train.epochs=2.5", "train.epochs must be an integer"),
    ("train.lr_schedule=step", "train.lr_schedule must be one of multistep, cosine"),
    ("reference_quirks=maybe", "reference_quirks must be true or false"),
    ("train.lr_milestones=a,b", "train.lr_milestones must be a list of integers"),
    ("methods.lwf.alpha=high", "methods.lwf.alpha must be a number"),
    ("memory.per_class=null", "set exactly one of memory.per_class and memory.total"),
    ("data.mean=0.5,0.5", "data.mean needs 1 or 3 numbers"),
    ("data.class_order=[0,0,1]", "data.class_order must list every class id"),
    ("novalue", "--set 'novalue': write key=value"),
])
def test_set_errors_are_one_line_and_suggest_valid_keys(item, message):
    with pytest.raises(UserError) as err:
        load_config("smoke", sets=[item])
    text = str(err.value)
    assert message in text and "\n" not in text
    if message.startswith("unknown setting"):  # the closest keys, and where all are listed
        assert "docs/reproduce-paper.md" in text and "methods.podnet.kmeans_seed" not in text


def test_preset_from_a_file_of_ones_own(tmp_path):
    text = (PRESET_DIR / "smoke.yaml").read_text().replace("epochs: 1", "epochs: 3")
    own = tmp_path / "mine.yaml"
    own.write_text(text)
    c = load_config(str(own), sets=["aanets.fusion_lr=0.001"])
    assert (c.preset, c.epochs, c.fusion_lr, c.reduced) == ("mine", 3, 0.001, True)
    assert c.preset_path == str(own.resolve())
    with pytest.raises(UserError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  margin: 0.5", "  margin: 0.5\n  marge: 1"))
    with pytest.raises(UserError, match="unknown keys in 'aanets': \\['marge'\\]; valid: "):
        load_config(str(bad))
    bad.write_text(text.replace("epochs: 3", "epochs: three"))
    with pytest.raises(UserError, match="train.epochs must be an integer"):
        load_config(str(bad))


def test_run_key_ignores_settings_that_do_not_reach_the_method():
    from benchmarks.run.runner import RunSpec

    def key(method, *sets):
        cfg = load_config("smoke", sets=list(sets))
        return RunSpec(benchmark="split-digits", phases=5, method=method, seed=1, config=cfg).key()

    # LwF's alpha reaches only LwF
    assert key("aanets-lucir", "methods.lwf.alpha=3") == key("aanets-lucir")
    assert key("lwf", "methods.lwf.alpha=3") != key("lwf")
    # AANets settings and the quirks switch reach only our library's methods
    for item in ("aanets.fusion_lr=0.5", "reference_quirks=true", "aanets.lambda_base=1"):
        assert key("naive", item) == key("naive") and key("replay", item) == key("replay")
        assert key("aanets-lucir", item) != key("aanets-lucir")
    # the memory reaches the methods that have one
    assert key("lwf", "memory.per_class=7") == key("lwf")
    assert key("replay", "memory.per_class=7") != key("replay")
    # training settings reach everyone
    assert key("naive", "train.lr=0.2") != key("naive")
    # data.augment came after runs had been recorded: at its default (true) it is not in the
    # key (finished runs keep theirs: test_house's record from before), off it is, for everyone
    assert key("naive", "data.augment=true") == key("naive")
    assert key("naive", "data.augment=false") != key("naive")
    assert key("aanets-lucir", "data.augment=false") != key("aanets-lucir")
    cfg = load_config("smoke", sets=["data.augment=false"])
    assert cfg.augment is False and cfg.reaches("data.augment", method="naive", family="baseline",
                                                uses_memory=False)
    assert load_config("smoke").reaches("data.augment", method="naive", family="baseline",
                                        uses_memory=False)  # reaches whatever its value
    with pytest.raises(UserError, match="data.augment must be true or false"):
        load_config("smoke", sets=["data.augment=7"])
    # model.backbone likewise: auto (the image size decides) keeps the keys
    assert key("naive", "model.backbone=auto") == key("naive")
    assert key("naive", "model.backbone=mlp") != key("naive")
    with pytest.raises(UserError, match="model.backbone must be one of auto, resnet32, resnet18, "
                                        "mlp"):
        load_config("smoke", sets=["model.backbone=vgg"])
    # a family variant reads the section named like a part of its name (aanets-podnet: podnet)
    cfg = load_config("smoke")
    assert cfg.key_settings(method="aanets-lwf", family="aanets", uses_memory=True)["method_params"] \
        == {"lwf": {"alpha": 1.0, "temperature": 2.0}}


def test_config_digest_tracks_every_value():
    a, b = load_config("smoke"), load_config("smoke")
    assert a.digest() == b.digest()
    assert load_config("smoke", overrides={"epochs": 2}).digest() != a.digest()
    assert a.to_dict()["method_params"]["lwf"] == {"alpha": 1.0, "temperature": 2.0}


def test_registry():
    assert set(DEFAULT_METHODS) <= set(METHODS)
    for ablation in ("aanets-lucir-dualfree", "aanets-icarl-dualfree"):
        assert ablation in METHODS and ablation not in DEFAULT_METHODS
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
    c = load_config("paper", sets=["memory.per_class=20"])
    assert memory_plan(get_method("replay"), c, 100)["size"] == 2000  # 20/class x 100 classes
    assert memory_plan(get_method("aanets-lucir"), c, 100) == {"policy": "per_class", "per_class": 20}
    fixed = load_config("paper")
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


@pytest.mark.parametrize("overrides, per_class, total", [({"memory_per_class": 20}, 20, None),
                                                         ({}, None, 2000)])
def test_aanets_factories_get_the_configured_memory(overrides, per_class, total):
    """Both memory settings reach the herding plugin (a fixed total used to be rejected)."""
    from types import SimpleNamespace

    cfg = load_config("paper", overrides=overrides)
    bench = SimpleNamespace(backbone="resnet32", input_shape=(1, 8, 8), num_classes=10)
    for name in ("aanets-lucir", "icarl"):
        strategy = get_method(name).factory(cfg, bench, "cpu", None)
        assert (strategy.memory.memory_per_class, strategy.memory.memory_total) == (per_class, total)
