"""The speed report's weighing of counted FLOPs by the paper protocol's images (section e):
pure arithmetic over `compare --dry-run`'s image counts, checked against counts derived here
by hand from the paper preset's rules."""

from __future__ import annotations

import math

import pytest

from benchmarks.speed import paper_protocol_ratios


def hand_counts(n: int) -> list[tuple[int, int]]:
    """(level-1, level-2) images per epoch of phases 1..n of CIFAR-100 B50 + n phases under the
    paper preset: 500 images per class, 2000 exemplars in all (ceil(2000 / old) per old class),
    all of them in the balanced set with 20 draws per new class."""
    new = 50 // n
    rows = []
    for phase in range(1, n + 1):
        old = 50 + (phase - 1) * new
        memory = old * math.ceil(2000 / old)
        rows.append((new * 500 + memory, memory + new * 20))
    return rows


@pytest.mark.parametrize("phase", [1, 2, 3])
def test_paper_protocol_ratios_weigh_the_dry_run_images(phase):
    lucir, aanets1, aanets2 = 0.5, 1.1, 0.45  # FLOPs per image; any values do
    rows = paper_protocol_ratios(phase, lucir, aanets1, aanets2)
    assert [n for n, *_ in rows] == [5, 10, 25]
    for n, covered, ratio, share in rows:
        counts = hand_counts(n)[:1] if phase == 1 else hand_counts(n)[1:]  # later phases: 2..n
        level1 = sum(c[0] for c in counts)
        level2 = sum(c[1] for c in counts)
        assert covered == ("phase 1" if phase == 1 else f"phases 2-{n}")
        assert share == pytest.approx(level2 / level1)
        assert ratio == pytest.approx((aanets1 * level1 + aanets2 * level2) / (lucir * level1))


def test_without_level2_the_ratio_is_the_level1_ratio():
    for _, _, ratio, _ in paper_protocol_ratios(2, 1.0, 2.0, 0.0):
        assert ratio == pytest.approx(2.0)


def test_the_setting_named_is_the_paper_presets():
    from benchmarks.speed import paper_protocol_setting

    assert paper_protocol_setting() == "2000 exemplars in all, 20 level-2 draws per new class"


def test_input_only_prints_the_input_path_and_trains_nothing():
    from click.testing import CliRunner

    from benchmarks.speed import main

    result = CliRunner().invoke(main, ["--input-only", "--device", "cpu", "--augment-images", "256",
                                       "--jpeg-images", "3"])
    assert result.exit_code == 0, result.output
    assert "batched path:" in result.output
    assert "decode + RandomResizedCrop(224):" in result.output and "workers (--num-workers)" in result.output
    assert "(b) training" not in result.output
