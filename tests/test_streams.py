"""benchmarks.streams: class order, phase layout, per-experience content, user errors."""

from collections import Counter

import numpy as np
import pytest
import torch

from benchmarks.errors import UserError
from benchmarks.streams import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    StreamSizes,
    StreamSpec,
    build_stream,
    class_order,
    describe_stream,
    folder_classes,
    folder_files,
    list_streams,
    per_class_subset,
    resolve_data_root,
    stream_sizes,
)


def _label_counts(dataset) -> Counter:
    return Counter(dataset.targets)


def _assert_experiences_match_phases(built, train_per_class: int, test_per_class: int) -> None:
    """Experience i holds exactly phase_classes[i], with the expected images per class."""
    bench = built.benchmark
    assert len(bench.train_stream) == len(bench.test_stream) == len(built.phase_classes)
    for phase, train_exp, test_exp in zip(built.phase_classes, bench.train_stream,
                                          bench.test_stream):
        assert sorted(train_exp.classes_in_this_experience) == phase
        assert _label_counts(train_exp.dataset) == {c: train_per_class for c in phase}
        assert _label_counts(test_exp.dataset) == {c: test_per_class for c in phase}


# ---------------------------------------------------------------- layout (no data)


def test_class_order_seed_1993_matches_reference_recipe():
    order = class_order(100, 1993)
    assert order[:7] == [68, 56, 78, 8, 23, 84, 90]
    state = np.random.get_state()
    try:  # the reference implementation's exact recipe, on the global legacy RNG
        np.random.seed(1993)
        expected = np.arange(100)
        np.random.shuffle(expected)
    finally:
        np.random.set_state(state)
    assert order == expected.tolist()
    assert class_order(100, 1994) != order


def test_cifar100_b50_ten_phases_layout_needs_no_data(tmp_path):
    layout = describe_stream(StreamSpec("split-cifar100", phases=10, data_root=str(tmp_path)))
    assert [len(p) for p in layout.phase_classes] == [50] + [5] * 10
    assert layout.class_order[:4] == [68, 56, 78, 8]
    assert layout.class_names[68] == "road"
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or created


@pytest.mark.parametrize(
    "name, phases, base, sizes",
    [
        ("split-cifar100", 5, None, [50] + [10] * 5),
        ("split-cifar100", 25, None, [50] + [2] * 25),
        ("split-cifar10", 5, None, [5] + [1] * 5),
        ("split-fmnist", 2, 4, [4, 3, 3]),
        ("split-digits", 1, 2, [2, 8]),
    ],
)
def test_phases_partition_all_labels_in_order(name, phases, base, sizes):
    layout = describe_stream(StreamSpec(name, phases=phases, base_classes=base))
    assert [len(p) for p in layout.phase_classes] == sizes
    assert sum(layout.phase_classes, []) == list(range(layout.num_classes))
    assert sorted(layout.class_order) == list(range(layout.num_classes))


def test_list_streams_names_every_stream():
    names = [name for name, _ in list_streams()]
    assert names == sorted(set(names), key=names.index)
    assert {"split-cifar100", "split-cifar10", "split-fmnist", "split-folder",
            "split-digits"} <= set(names)
    assert all(description and "\n" not in description for _, description in list_streams())


def test_unknown_benchmark_lists_valid_names():
    with pytest.raises(UserError, match="unknown benchmark 'cifar-1000'.*split-cifar100"):
        describe_stream(StreamSpec("cifar-1000"))


def test_bad_phase_count_says_which_counts_work():
    with pytest.raises(UserError) as info:
        describe_stream(StreamSpec("split-cifar100", phases=7))
    message = str(info.value)
    assert "phases=7" in message and "1, 2, 5, 10, 25, 50" in message and "\n" not in message


@pytest.mark.parametrize("base", [0, 10, -1])
def test_bad_base_classes(base):
    with pytest.raises(UserError, match="base_classes"):
        describe_stream(StreamSpec("split-cifar10", phases=1, base_classes=base))


def test_data_root_flag_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("AANETS_DATA_ROOT", raising=False)
    assert str(resolve_data_root(StreamSpec("split-cifar100"))) == "data"
    monkeypatch.setenv("AANETS_DATA_ROOT", str(tmp_path))
    assert resolve_data_root(StreamSpec("split-cifar100")) == tmp_path
    assert str(resolve_data_root(StreamSpec("split-cifar100", data_root="x"))) == "x"


def test_per_class_subset_is_exact_deterministic_and_seeded():
    targets = np.repeat(np.arange(4), [10, 7, 3, 12])
    keep = per_class_subset(targets, 5, seed=1)
    assert Counter(targets[keep].tolist()) == {0: 5, 1: 5, 2: 3, 3: 5}  # class 2 has only 3
    assert np.array_equal(keep, per_class_subset(targets, 5, seed=1))
    assert not np.array_equal(keep, per_class_subset(targets, 5, seed=2))
    assert np.array_equal(per_class_subset(targets, None, seed=1), np.arange(len(targets)))


# ---------------------------------------------------------------- missing data


def test_missing_data_without_download_is_a_one_line_user_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as info:
        build_stream(StreamSpec("split-fmnist", data_root=str(missing), download=False))
    message = str(info.value)
    assert str(missing) in message and "FashionMNIST/raw" in message
    assert "--data-root" in message and "AANETS_DATA_ROOT" in message and "\n" not in message


def test_missing_folder_tree_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="train/"):
        build_stream(StreamSpec("split-folder", data_root=str(tmp_path)))


# ---------------------------------------------------------------- real data


def test_digits_labels_are_remapped_positions_of_the_class_order():
    """Label k in every experience is original class class_order[k], image by image."""
    from sklearn.datasets import load_digits

    built = build_stream(StreamSpec("split-digits", phases=5, class_order_seed=7))
    assert built.input_shape == (1, 8, 8) and built.backbone == "resnet32"
    digits = load_digits()
    raw = torch.from_numpy(digits.images.astype(np.float32) / 16.0).flatten(1)
    total_train = 0
    for exp in built.benchmark.train_stream:
        data = exp.dataset.eval()
        total_train += len(data)
        xs = torch.stack([data[i][0] for i in range(0, len(data), 17)]).flatten(1)
        ys = [data[i][1] for i in range(0, len(data), 17)]
        # undo the (scalar) normalisation by matching on standardised pixels instead
        xs = (xs - xs.mean(1, keepdim=True)) / xs.std(1, keepdim=True)
        ref = (raw - raw.mean(1, keepdim=True)) / raw.std(1, keepdim=True)
        match = torch.cdist(xs, ref).argmin(1)
        assert [int(digits.target[m]) for m in match] == [built.class_order[y] for y in ys]
    assert total_train == round(len(digits.target) * 2 / 3)


@pytest.mark.filterwarnings("ignore:No loggers specified")
def test_digits_stream_trains_with_a_stock_avalanche_strategy():
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    built = build_stream(StreamSpec("split-digits", phases=1, train_per_class=20))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, built.num_classes))
    strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                     train_mb_size=32, eval_mb_size=64, evaluator=EvaluationPlugin(loggers=[]))
    strategy.train(built.benchmark.train_stream[0])
    strategy.eval(built.benchmark.test_stream[:1])


def test_fmnist_full_counts_per_experience(shared_data):
    built = build_stream(StreamSpec("split-fmnist", phases=5, data_root=str(shared_data)))
    assert built.input_shape == (1, 28, 28) and built.backbone == "resnet32"
    assert [len(p) for p in built.phase_classes] == [5, 1, 1, 1, 1, 1]
    _assert_experiences_match_phases(built, train_per_class=6000, test_per_class=1000)
    train = built.benchmark.train_stream[0].dataset
    # batched input path: the datasets yield the stored uint8 images in both groups; the crop
    # (padding 28 // 8) and flip run per mini-batch, the normalisation in the model
    assert torch.equal(train.train()[0][0], train.eval()[0][0])
    assert train.eval()[0][0].dtype == torch.uint8
    assert built.augmentation.padding == 3 and built.augmentation.flip
    assert built.normalization == ((0.2860,), (0.3530,))


def test_per_sample_input_path_keeps_torchvision_transforms(shared_data):
    built = build_stream(StreamSpec("split-fmnist", phases=1, data_root=str(shared_data),
                                    train_per_class=5, test_per_class=2, input_pipeline="per-sample"))
    train = built.benchmark.train_stream[0].dataset
    assert built.augmentation is None and built.normalization is None and built.per_sample_random
    assert torch.equal(train.eval()[0][0], train.eval()[0][0])  # eval group: no augmentation
    assert train.eval()[0][0].dtype == torch.float32


def test_augment_false_trains_on_the_images_as_they_are(shared_data):
    """data.augment=false: no crop or flip on either input path, none for replayed exemplars;
    the test images are the same either way."""
    from benchmarks.methods.baselines import buffer_augmentation

    small = dict(data_root=str(shared_data), train_per_class=5, test_per_class=2, phases=1)
    batched = build_stream(StreamSpec("split-fmnist", augment=False, **small))
    assert batched.augmentation is None and not batched.augmented
    assert batched.normalization == ((0.2860,), (0.3530,))
    assert any("not augmented" in note for note in batched.notes)
    per_sample = build_stream(StreamSpec("split-fmnist", augment=False, input_pipeline="per-sample",
                                         **small))
    train = per_sample.benchmark.train_stream[0].dataset
    assert not per_sample.per_sample_random and buffer_augmentation(per_sample) is None
    # the training transform is the evaluation one: the same tensor in both groups
    assert torch.equal(train.train()[0][0], train.eval()[0][0])
    augmented = build_stream(StreamSpec("split-fmnist", input_pipeline="per-sample", **small))
    assert augmented.per_sample_random and buffer_augmentation(augmented) is not None
    large = build_stream(StreamSpec("split-folder", phases=1, data_root=str(shared_data / "cifar10-jpeg"),
                                    train_per_class=2, test_per_class=2, image_size=96,
                                    augment=False))
    train = large.benchmark.train_stream[0].dataset
    assert large.augmentation is None and not large.per_sample_random
    assert torch.equal(train.train()[0][0], train.eval()[0][0])  # resize + centre crop only


def test_a_named_backbone_overrides_the_size_rule():
    spec = StreamSpec("split-digits", phases=1, backbone="mlp")
    assert stream_sizes(spec).backbone == "mlp" and build_stream(spec).backbone == "mlp"
    assert build_stream(StreamSpec("split-digits", phases=1)).backbone == "resnet32"


def test_unknown_input_pipeline_is_refused():
    with pytest.raises(UserError, match="input pipeline"):
        build_stream(StreamSpec("split-digits", phases=1, input_pipeline="gpu"))


def test_fmnist_subsample_is_exact(shared_data):
    built = build_stream(StreamSpec("split-fmnist", phases=2, base_classes=4,
                                    data_root=str(shared_data), train_per_class=37,
                                    test_per_class=11))
    _assert_experiences_match_phases(built, train_per_class=37, test_per_class=11)


def test_folder_tree_file_counts(shared_data):
    root = shared_data / "cifar10-jpeg"
    classes = folder_classes(root)
    assert len(classes) == 10 and classes[0] == "airplane"
    for split, per_class in (("train", 5000), ("test", 1000)):
        _, labels = folder_files(root / split, classes)
        assert Counter(labels) == {k: per_class for k in range(10)}


def test_folder_stream_on_cifar10_jpeg(shared_data):
    spec = StreamSpec("split-folder", phases=5, data_root=str(shared_data / "cifar10-jpeg"),
                      train_per_class=12, test_per_class=5)
    built = build_stream(spec)
    assert built.input_shape == (3, 32, 32) and built.backbone == "resnet32"
    assert built.class_names == folder_classes(shared_data / "cifar10-jpeg")
    _assert_experiences_match_phases(built, train_per_class=12, test_per_class=5)
    x, y, _ = built.benchmark.train_stream[1].dataset[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8 and y == built.phase_classes[1][0]


def test_folder_stream_large_images_use_imagenet_recipe(shared_data):
    spec = StreamSpec("split-folder", phases=1, data_root=str(shared_data / "cifar10-jpeg"),
                      train_per_class=2, test_per_class=2, image_size=96)
    built = build_stream(spec)
    assert built.input_shape == (3, 96, 96) and built.backbone == "resnet18"
    x, _, _ = built.benchmark.test_stream[0].dataset[0]
    assert x.shape == (3, 96, 96)


# ---------------------------------------------------------------- settings: order, statistics, sizes


def test_class_order_given_as_a_list_and_checked():
    order = (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    layout = describe_stream(StreamSpec("split-digits", phases=5, class_order=order))
    assert layout.class_order == list(order)
    with pytest.raises(UserError, match="exactly once"):
        describe_stream(StreamSpec("split-digits", class_order=(0, 1, 2)))


def test_normalisation_statistics_are_a_setting(shared_data):
    """A CIFAR-like folder tree can use the CIFAR statistics instead of ImageNet's. Batched
    path: the model's first layer gets them, the datasets keep the raw pixels; per-sample
    path: both normalisations undo to the same pixels."""
    cifar_mean, cifar_std = (0.5071, 0.4866, 0.4409), (0.2009, 0.1984, 0.2023)
    kw = dict(name="split-folder", phases=1, data_root=str(shared_data / "cifar10-jpeg"),
              train_per_class=1, test_per_class=1)
    batched_default, batched_cifar = (build_stream(StreamSpec(**kw, **stats)) for stats in
                                      ({}, dict(mean=cifar_mean, std=cifar_std)))
    assert batched_default.normalization == (IMAGENET_MEAN, IMAGENET_STD)
    assert batched_cifar.normalization == (cifar_mean, cifar_std)
    assert torch.equal(batched_default.benchmark.test_stream[0].dataset.eval()[0][0],
                       batched_cifar.benchmark.test_stream[0].dataset.eval()[0][0])

    kw["input_pipeline"] = "per-sample"
    default = build_stream(StreamSpec(**kw)).benchmark.test_stream[0].dataset.eval()[0][0]
    cifar = (build_stream(StreamSpec(**kw, mean=cifar_mean, std=cifar_std))
             .benchmark.test_stream[0].dataset.eval()[0][0])
    undo = lambda x, m, s: x * torch.tensor(s).view(3, 1, 1) + torch.tensor(m).view(3, 1, 1)  # noqa: E731
    assert not torch.allclose(default, cifar)
    assert torch.allclose(undo(default, IMAGENET_MEAN, IMAGENET_STD),
                          undo(cifar, cifar_mean, cifar_std), atol=1e-5)


def test_stream_sizes_for_the_dry_run(shared_data):
    assert stream_sizes(StreamSpec("split-cifar100")) == StreamSizes([500] * 100, "resnet32")
    root = str(shared_data / "cifar10-jpeg")
    assert stream_sizes(StreamSpec("split-folder", data_root=root)) == StreamSizes([5000] * 10, "resnet32")
    assert stream_sizes(StreamSpec("split-folder", data_root=root, image_size=96)).backbone == "resnet18"
    digits = stream_sizes(StreamSpec("split-digits"))  # the loader's 2/3 split of 1797 images
    assert sum(digits.train_per_class) == round(1797 * 2 / 3) and digits.backbone == "resnet32"


def test_the_data_tests_read_aanets_data_root_first(monkeypatch, tmp_path):
    import conftest

    monkeypatch.setenv("AANETS_DATA_ROOT", str(tmp_path))
    assert conftest.offline_data_root() == tmp_path
    monkeypatch.delenv("AANETS_DATA_ROOT")
    assert conftest.offline_data_root() == conftest.SHARED_DATA
