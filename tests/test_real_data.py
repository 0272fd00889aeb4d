"""AANets end to end on real offline data: Fashion-MNIST from ../shared/data, B4 + 2 phases."""

import pytest
import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin

from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, build_backbone, nme_accuracy_metrics
from aanets_avalanche.augment import InputNormalization
from benchmarks.streams import StreamSpec, build_stream

CNN = "Top1_Acc_Stream/eval_phase/test_stream/Task000"
NME = "Top1_NME_Acc_Stream/eval_phase/test_stream/Task000"


@pytest.mark.parametrize("flavour", ["lucir"])
def test_three_phase_aanets_on_fashion_mnist_beats_chance_widely(shared_data, flavour):
    built = build_stream(StreamSpec("split-fmnist", phases=2, base_classes=4, data_root=str(shared_data),
                                    train_per_class=100, test_per_class=50, download=False))
    torch.manual_seed(0)
    strategy = AANetsStrategy(
        model=CosineIncrementalNet(build_backbone(built.backbone, built.input_shape[0],
                                                  input_norm=InputNormalization(*built.normalization))),
        batch_augmentation=built.augmentation, flavour=flavour, train_epochs=6, lr_milestones=(5,), train_mb_size=32, memory_per_class=10,
        fusion_lr=1e-3, device="cpu",
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), nme_accuracy_metrics(stream=True)),
    )
    rows = []
    for phase, experience in enumerate(built.benchmark.train_stream):
        strategy.train(experience)
        metrics = strategy.eval(built.benchmark.test_stream[: phase + 1])
        seen = sum(len(c) for c in built.phase_classes[: phase + 1])
        rows.append((seen, metrics[CNN], metrics[NME], strategy.aggregation_weights()))
        strategy.train_epochs, strategy.lr_milestones = 3, [2]  # shorter incremental phases
    assert [r[0] for r in rows] == [4, 7, 10]
    for seen, cnn, nme, _ in rows:
        chance = 1 / seen
        assert cnn >= 2 * chance and nme >= 2 * chance, rows
    assert rows[0][3] is None
    for weights in (rows[1][3], rows[2][3]):
        assert len(weights) == 3 and all(0.3 < a < 0.7 for a in weights)
    assert rows[2][3] != [0.5, 0.5, 0.5], "level 2 never updated the aggregation weights"
