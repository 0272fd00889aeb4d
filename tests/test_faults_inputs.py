"""Faults of the inputs (issue 18, items 2 and 4): every bad value, data tree edge and odd lock
file ends with one line (a UserError, "Error: ..." with exit code 2), never a traceback, and
before any data is read or any phase is trained."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.errors import UserError
from benchmarks.plan.config import PRESET_DIR, load_config
from cli import cli
from test_faults import _build, _image  # one way to make and build a small image tree

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                                    reason="needs POSIX symbolic links")


def compare_cli(tmp_path: Path, *extra: str, benchmark: str = "split-digits", phases: str = "5"):
    """``compare --dry-run`` (nothing is trained) with ``extra`` options."""
    args = ["compare", "--benchmark", benchmark, "--phases", phases, "--methods", "naive",
            "--seeds", "1", "--preset", "smoke", "--device", "cpu", "--quiet",
            "--out", str(tmp_path / "out"), *extra]
    return CliRunner().invoke(cli, args)


def one_line_error(result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


# ----------------------------------------------------------------------------- float settings


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_a_float_setting_that_is_not_finite_is_one_line(tmp_path, value):
    result = compare_cli(tmp_path, "--dry-run", "--set", f"aanets.fusion_lr={value}")
    one_line_error(result, "aanets.fusion_lr must be a finite number >= 0", repr(value))


@pytest.mark.parametrize("item, message", [
    ("methods.lwf.alpha=nan", "methods.lwf.alpha must be a finite number"),    # typed float
    ("methods.podnet.batch_size=inf", "methods.podnet.batch_size must be a finite number"),  # null
    ("data.mean=0.5,nan,0.5", "data.mean must be a list of finite numbers"),
])
def test_method_and_list_floats_must_be_finite(tmp_path, item, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        load_config("smoke", sets=[item])
    one_line_error(compare_cli(tmp_path, "--dry-run", "--set", item), message)


def test_a_preset_file_with_nan_is_one_line(tmp_path):
    text = (PRESET_DIR / "smoke.yaml").read_text()
    for old, new in (("  fusion_lr: 1.0e-8", "  fusion_lr: .nan"),
                     ("lwf: {alpha: 1.0,", "lwf: {alpha: .inf,")):
        own = tmp_path / "own.yaml"
        own.write_text(text.replace(old, new))
        with pytest.raises(UserError) as info:
            load_config(str(own))
        assert "must be a finite number" in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------------------------- integer bounds


@pytest.mark.parametrize("item", ["train.batch_size=18446744073709551617",
                                  "train.eval_batch_size=1e30",
                                  "methods.podnet.batch_size=99999999999999999999"])
def test_a_huge_batch_size_is_one_line(tmp_path, item):
    key = item.split("=")[0]
    one_line_error(compare_cli(tmp_path, "--dry-run", "--set", item),
                   f"{key} must be an integer in ", "..2147483647")


def test_huge_command_line_counts_are_one_line(tmp_path):
    one_line_error(compare_cli(tmp_path, "--dry-run", "--epochs", str(2**63)),
                   "--epochs must be at most 2147483647")
    one_line_error(compare_cli(tmp_path, "--dry-run", "--num-workers", str(2**63)),
                   "--num-workers must be at most 2147483647")
    one_line_error(compare_cli(tmp_path, "--dry-run", "--executor", "ray", "--gpus-per-run", "nan"),
                   "--gpus-per-run must be a finite number")


# ----------------------------------------------------------------------------- data.mean / data.std


@pytest.mark.parametrize("benchmark", ["split-fmnist", "split-digits"])
def test_three_means_on_grey_images_are_refused_before_any_data_is_read(tmp_path, monkeypatch,
                                                                       benchmark):
    import benchmarks.streams.digits as digits

    def no_data(*_a, **_kw):
        raise AssertionError("data was read")

    monkeypatch.setattr(digits, "_split", no_data)
    result = compare_cli(tmp_path, "--dry-run", "--set", "data.mean=0.5,0.5,0.5",
                         "--data-root", str(tmp_path / "no-data"), benchmark=benchmark)
    one_line_error(result, f"data.mean has 3 values but {benchmark} images have 1 channel")


def test_grey_and_rgb_channel_counts_are_known_without_data():
    from benchmarks.streams import stream_channels
    assert [stream_channels(n) for n in ("split-digits", "split-fmnist", "split-cifar10",
                                         "split-cifar100", "split-folder")] == [1, 1, 3, 3, 3]


def test_mean_and_std_of_different_lengths_are_one_line(tmp_path):
    with pytest.raises(UserError, match="data.mean has 3 number.s. but data.std has 1"):
        load_config("smoke", sets=["data.mean=0.5,0.4,0.3", "data.std=0.2"])
    one_line_error(compare_cli(tmp_path, "--dry-run", "--set", "data.mean=0.5,0.4,0.3",
                               "--set", "data.std=[0.2]", benchmark="split-cifar10"),
                   "data.mean has 3 number(s) but data.std has 1")


def test_one_mean_on_rgb_images_is_one_value_for_every_channel():
    from benchmarks.streams import StreamSpec, check_normalization, per_channel
    check_normalization(StreamSpec("split-cifar10", mean=(0.5,)))  # with the default 3 stds
    assert per_channel((0.5,), 3) == (0.5, 0.5, 0.5)
    assert per_channel((0.1, 0.2, 0.3), 3) == (0.1, 0.2, 0.3)


# ----------------------------------------------------------------------------- unknown keys


def test_an_unknown_key_suggests_the_closest_ones_not_all(tmp_path):
    text = one_line_error(compare_cli(tmp_path, "--dry-run", "--set", "train.epoch=2"),
                          "unknown setting 'train.epoch'; did you mean train.epochs?",
                          "docs/reproduce-paper.md")
    assert "methods.podnet.kmeans_seed" not in text and len(text) < 200
    with pytest.raises(UserError, match="did you mean methods.lwf.temperature"):
        load_config("smoke", sets=["methods.lwf.temprature=2"])
    with pytest.raises(UserError, match="methods has bic, der, derpp, ewc, lwf, podnet"):
        load_config("smoke", sets=["methods.nope.x=1"])


# ----------------------------------------------------------------------------- library arguments


def _net():
    from aanets_avalanche import CosineIncrementalNet, resnet32
    return CosineIncrementalNet(resnet32(in_channels=1))


@pytest.mark.parametrize("name, value", [("fusion_lr", math.nan), ("fusion_lr", 10**400),
                                         ("lr", -math.inf), ("kd_beta", 10**400)],
                         ids=["fusion_lr-nan", "fusion_lr-10**400", "lr--inf", "kd_beta-10**400"])
def test_library_float_arguments_must_be_finite(name, value):
    from aanets_avalanche import AANetsStrategy
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        AANetsStrategy(model=_net(), device="cpu", evaluator=None, **{name: value})


# ----------------------------------------------------------------------------- split-folder edges


def _tree(root: Path, test_split: str = "val") -> Path:
    for split in ("train", test_split):
        for cls in ("a", "b", "c"):
            for i in range(3):
                _image(root / split / cls / f"{i}.png", value=40 * i)
    return root


def _loop(root: Path) -> Path:
    os.symlink("loop.png", root / "train/a/loop.png")  # points at itself: ELOOP
    return root / "train/a/loop.png"


def _dangling(root: Path) -> Path:
    os.symlink("moved-away.png", root / "train/a/gone.png")
    return root / "train/a/gone.png"


@needs_symlinks
@pytest.mark.parametrize("damage", [_loop, _dangling])
def test_unreadable_image_links_are_counted_as_bad_images(tmp_path, damage):
    root = _tree(tmp_path / "tree")
    bad = damage(root)
    with pytest.raises(UserError) as info:
        _build(root)
    message = str(info.value)
    assert f"1 image(s) cannot be read: {bad}" in message and "--skip-bad-images" in message
    assert "\n" not in message
    built = _build(root, skip_bad_images=True)
    assert built.skipped_images == (str(bad),) and built.num_classes == 3
    assert any("left out 1 unreadable" in note for note in built.notes)


@needs_symlinks
def test_an_image_link_loop_through_the_cli(tmp_path):
    root = _tree(tmp_path / "tree")
    _loop(root)
    base = ["--data-root", str(root)]
    assert compare_cli(tmp_path, "--dry-run", *base, benchmark="split-folder",
                       phases="1").exit_code == 0
    one_line_error(compare_cli(tmp_path, *base, benchmark="split-folder", phases="1"),
                   "loop.png", "--skip-bad-images")
    result = compare_cli(tmp_path, "--skip-bad-images", "--dry-run", *base,
                         benchmark="split-folder", phases="1")
    assert result.exit_code == 0, result.output


def _replace_by_link(folder: Path, target: str) -> None:
    shutil.rmtree(folder)
    os.symlink(target, folder)


@needs_symlinks
@pytest.mark.parametrize("split", ["train", "val"])
def test_a_class_folder_that_is_a_broken_link_is_named(tmp_path, split):
    root = _tree(tmp_path / "tree")
    _replace_by_link(root / split / "c", str(tmp_path / "elsewhere" / "c"))
    with pytest.raises(UserError) as info:
        _build(root)
    message = str(info.value)
    assert message.startswith(f"class folder {root / split / 'c'} is a broken symbolic link")
    assert "\n" not in message
    one_line_error(compare_cli(tmp_path, "--dry-run", "--data-root", str(root),
                               benchmark="split-folder", phases="1"),
                   f"class folder {root / split / 'c'} is a broken symbolic link")


@needs_symlinks
@pytest.mark.parametrize("split", ["train", "val"])
def test_a_class_folder_that_is_a_link_loop_is_named(tmp_path, split):
    root = _tree(tmp_path / "tree")
    _replace_by_link(root / split / "c", "c")
    with pytest.raises(UserError, match="class folder .*/c is a symbolic link loop"):
        _build(root)


# ----------------------------------------------------------------------------- the lock file


def _odd_lock(out: Path, kind: str) -> Path:
    lock = out / ".compare.lock"
    out.mkdir(parents=True)
    if kind == "folder":
        lock.mkdir()
    else:
        (out / "elsewhere").write_text("someone else's file")
        os.symlink(out / "elsewhere", lock)
    return lock


@needs_symlinks
@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_a_lock_path_that_is_not_a_plain_file_is_one_line(tmp_path, kind):
    from benchmarks.store.lock import OutputFolderLock
    lock = _odd_lock(tmp_path / "out", kind)
    with pytest.raises(UserError) as info:
        OutputFolderLock(tmp_path / "out").acquire()
    assert str(info.value).startswith(f"{lock} is not a plain file")
    assert "use another --out" in str(info.value)
    result = CliRunner().invoke(cli, ["compare", "--benchmark", "split-digits", "--phases", "5",
                                      "--methods", "naive", "--preset", "smoke", "--quiet",
                                      "--device", "cpu", "--out", str(tmp_path / "out")])
    one_line_error(result, f"{lock} is not a plain file")
    if kind == "symlink":
        assert (tmp_path / "out" / "elsewhere").read_text() == "someone else's file"


@pytest.mark.parametrize("build, name", [
    (lambda: __import__("aanets_avalanche.plugins.pod", fromlist=["x"]).PODDistillationPlugin(
        spatial_factor=math.nan), "spatial_factor"),
    (lambda: __import__("aanets_avalanche.plugins.pod", fromlist=["x"]).PODDistillationPlugin(
        flat_factor=math.inf), "flat_factor"),
])
def test_pod_factors_must_be_finite(build, name):
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        build()


@pytest.mark.parametrize("name, value, message", [
    ("lr", math.nan, "lr must be finite"), ("finetune_lr", math.inf, "finetune lr must be finite"),
    ("nca_margin", math.nan, "nca_margin must be finite"), ("grad_clip", math.inf, "grad_clip"),
    ("momentum", 1.0, "momentum must be < 1"), ("fusion_lr", -1.0, "fusion_lr must be >= 0"),
])
def test_podnet_strategy_float_arguments_must_be_finite(name, value, message):
    from aanets_avalanche import PODNetStrategy
    from aanets_avalanche.models import resnet32
    from aanets_avalanche.models.lsc import ProxyIncrementalNet

    with pytest.raises(ValueError, match=message):
        PODNetStrategy(model=ProxyIncrementalNet(resnet32(3)), evaluator=None, device="cpu",
                       **{name: value})
