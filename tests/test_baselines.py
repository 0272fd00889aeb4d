"""Avalanche baselines: configured as the reference configurations, or the difference stated."""

from types import SimpleNamespace

import torch
from click.testing import CliRunner

from benchmarks.methods import list_methods
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
