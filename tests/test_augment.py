"""Batched augmentation: same distribution as torchvision's per-sample transforms, seeded."""

import itertools
import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from aanets_avalanche.augment import (
    BatchAugmentation, BatchAugmentPlugin, InputNormalization, color_jitter, random_crop_flip,
)

# kernel-sensitive numbers: CI runs these again under AVX2 kernels (.ci/run)
pytestmark = pytest.mark.numeric


def _position_image(height: int, width: int) -> torch.Tensor:
    """uint8 [1, H, W] whose every pixel is distinct and non-zero (0 is the padding)."""
    return (torch.arange(height * width, dtype=torch.uint8) + 1).view(1, height, width)


def _all_outcomes(image: torch.Tensor, padding: int) -> dict[tuple[int, int, bool], torch.Tensor]:
    """Every (top, left, flipped) crop of the padded image, made with torchvision's functional ops
    the way RandomCrop(padding=p) + RandomHorizontalFlip() produce them."""
    _, height, width = image.shape
    padded = TF.pad(image, [padding])
    out = {}
    for top, left, flipped in itertools.product(range(2 * padding + 1), range(2 * padding + 1),
                                                (False, True)):
        crop = TF.crop(padded, top, left, height, width)
        out[(top, left, flipped)] = TF.horizontal_flip(crop) if flipped else crop
    return out


def test_every_offset_and_flip_occurs_with_the_right_frequency():
    padding, height, width = 2, 6, 6
    image = _position_image(height, width)
    outcomes = _all_outcomes(image, padding)
    per_outcome = 60
    batch = image.unsqueeze(0).repeat(per_outcome * len(outcomes), 1, 1, 1)
    out = random_crop_flip(batch, padding, generator=torch.Generator().manual_seed(0))

    table = torch.stack([o.flatten() for o in outcomes.values()])  # [K, H*W]
    matches = (out.flatten(1)[:, None, :] == table[None]).all(dim=2)  # [B, K]
    assert bool((matches.sum(dim=1) == 1).all()), "every output is exactly one torchvision crop"
    counts = matches.sum(dim=0).double()
    assert int(counts.min()) > 0, "some offset/flip never occurred"
    expected = per_outcome
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = len(outcomes) - 1
    # chi-square with 49 dof: mean 49, sd ~9.9; a fixed seed makes this deterministic
    assert chi2 < dof + 5 * math.sqrt(2 * dof), f"chi2={chi2:.1f} too far from uniform"
    keys = list(outcomes)
    flips = sum(c for k, c in zip(keys, counts.tolist()) if k[2])
    assert abs(flips / counts.sum() - 0.5) < 0.02
    for axis in (0, 1):
        marginal = torch.zeros(2 * padding + 1)
        for key, count in zip(keys, counts.tolist()):
            marginal[key[axis]] += count
        assert float((marginal / marginal.sum() - 1 / (2 * padding + 1)).abs().max()) < 0.02


def test_same_seed_gives_the_same_batch_and_another_seed_does_not():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    augment = BatchAugmentation(padding=4, flip=True, brightness=0.3, contrast=0.2, saturation=0.2)
    first = augment(images, torch.Generator().manual_seed(7))
    again = augment(images, torch.Generator().manual_seed(7))
    other = augment(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.dtype == torch.uint8 and first.shape == images.shape


def test_global_rng_is_used_without_a_generator():
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    torch.manual_seed(3)
    first = random_crop_flip(images, 2)
    torch.manual_seed(3)
    assert torch.equal(first, random_crop_flip(images, 2))


def test_no_padding_no_flip_is_identity_and_bad_input_is_refused():
    images = torch.rand(4, 1, 5, 5)
    assert torch.equal(random_crop_flip(images, 0, flip=False), images)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        random_crop_flip(images[0], 1)
    with pytest.raises(ValueError, match="padding"):
        random_crop_flip(images, -1)
    with pytest.raises(ValueError, match="brightness"):
        color_jitter(images, brightness=-0.1)


def test_brightness_factor_range_and_torchvision_blend():
    images = torch.full((4000, 3, 2, 2), 100, dtype=torch.uint8)
    out = color_jitter(images, brightness=0.4, generator=torch.Generator().manual_seed(0))
    factors = out[:, 0, 0, 0].double() / 100
    assert out.dtype == torch.uint8
    assert float(factors.min()) >= 0.6 - 0.01 and float(factors.max()) <= 1.4
    assert abs(float(factors.mean()) - 1.0) < 0.02
    # one image, factor recovered, must equal torchvision's adjust_brightness
    single = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    ours = color_jitter(single, brightness=0.4, generator=torch.Generator().manual_seed(5))
    # our draw order: the order draw (1 number), then the factor
    gen2 = torch.Generator().manual_seed(5)
    torch.rand(1, generator=gen2)
    factor = float(0.6 + 0.8 * torch.rand(1, generator=gen2)[0])
    assert torch.equal(ours[0], TF.adjust_brightness(single[0], factor))


@pytest.mark.parametrize("name, adjust", [("contrast", TF.adjust_contrast),
                                           ("saturation", TF.adjust_saturation)])
def test_contrast_and_saturation_equal_torchvision_on_uint8(name, adjust):
    images = torch.randint(0, 256, (6, 3, 5, 5), dtype=torch.uint8)
    ours = color_jitter(images, **{name: 0.5}, generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(2)
    torch.rand(1, generator=gen)  # the order draw
    factors = 0.5 + 1.0 * torch.rand(6, generator=gen)
    for image, out, factor in zip(images, ours, factors.tolist()):
        assert torch.equal(out, adjust(image, factor))


def test_saturation_matches_torchvision_blend_with_grey():
    image = torch.rand(1, 3, 5, 5)
    gen = torch.Generator().manual_seed(11)
    ours = color_jitter(image, saturation=0.5, generator=gen)
    gen2 = torch.Generator().manual_seed(11)
    torch.rand(1, generator=gen2)
    factor = float(0.5 + 1.0 * torch.rand(1, generator=gen2)[0])
    assert torch.allclose(ours[0], TF.adjust_saturation(image[0], factor), atol=1e-6)


def test_input_normalization_matches_torchvision_for_uint8_and_float():
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    norm = InputNormalization(mean, std)
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    reference = TF.normalize(TF.to_dtype(images, torch.float32, scale=True), list(mean), list(std))
    assert torch.allclose(norm(images), reference, atol=1e-5)
    assert torch.allclose(norm(images.float() / 255), reference, atol=1e-5)
    with pytest.raises(ValueError, match="same length"):
        InputNormalization((0.5,), (0.2, 0.2))


class _FakeStrategy:
    def __init__(self, x):
        self.mbatch = [x, torch.zeros(len(x), dtype=torch.long)]


def test_plugin_augments_the_training_batch_in_place_only():
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    plugin = BatchAugmentPlugin(BatchAugmentation(padding=2, flip=True))
    strategy = _FakeStrategy(images.clone())
    torch.manual_seed(0)
    plugin.before_forward(strategy)
    torch.manual_seed(0)
    assert torch.equal(strategy.mbatch[0], BatchAugmentation(padding=2, flip=True)(images))
    assert not torch.equal(strategy.mbatch[0], images)
    assert not hasattr(plugin, "before_eval_forward") or \
        type(plugin).before_eval_forward is BatchAugmentPlugin.__mro__[1].before_eval_forward


class _Recorder:
    """A batch augmentation that records the size of every batch it sees."""

    def __init__(self):
        self.sizes = []

    def __call__(self, x):
        self.sizes.append(x.shape[0])
        return x + 0.0


def test_strategy_augments_level1_and_level2_batches_but_not_evaluation():
    from synthetic import tiny_benchmark

    from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, resnet32

    bench = tiny_benchmark(num_classes=4, base=2, phases=1, train_per_class=12, test_per_class=4)
    recorder = _Recorder()
    torch.manual_seed(0)
    strategy = AANetsStrategy(
        model=CosineIncrementalNet(resnet32(1)), train_epochs=1, lr_milestones=(), train_mb_size=8,
        eval_mb_size=20, memory_per_class=3, device="cpu", evaluator=None, fusion_lr=1e-3,
        batch_augmentation=recorder)
    for exp in bench.train_stream:
        strategy.train(exp)
    # phase 0: 24 images; phase 1: 24 new + 6 exemplars (level 1, batches of 8); level 2: the
    # balanced set = 6 exemplars + 2 new classes x 3 draws = 12 images (one batch of 20)
    assert recorder.sizes == [8, 8, 8] + [8, 8, 8, 6] + [12]
    strategy.eval(bench.test_stream)
    assert len(recorder.sizes) == 8, "evaluation batches are not augmented"
