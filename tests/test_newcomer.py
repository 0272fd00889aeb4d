"""A newcomer's first commands: the dry run says where the data is and how long it will take,
a failed compare leaves nothing behind, --preset auto picks by device."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from benchmarks.plan.request import CompareRequest
from cli import cli


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_dry_run_says_where_the_data_is_and_estimates_the_time(tmp_path):
    result = _invoke("compare", "--benchmark", "split-fmnist", "--phases", "5", "--methods",
                     "lucir,aanets-lucir", "--preset", "smoke", "--data-root", str(tmp_path),
                     "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"data: MISSING at {tmp_path / 'FashionMNIST/raw'}" in result.output
    assert "point --data-root or $AANETS_DATA_ROOT" in result.output
    assert "Estimated training time here: about" in result.output and "an estimate" in result.output
    assert "est. time / run" in result.output
    (tmp_path / "FashionMNIST/raw").mkdir(parents=True)
    found = _invoke("compare", "--benchmark", "split-fmnist", "--phases", "5", "--methods",
                    "lucir", "--preset", "smoke", "--data-root", str(tmp_path), "--dry-run")
    assert f"data: found at {tmp_path / 'FashionMNIST/raw'}" in found.output
    assert "bundled" in _invoke("compare", "--benchmark", "split-digits", "--phases", "5",
                                "--methods", "naive", "--dry-run").output


def test_a_compare_that_fails_on_its_data_leaves_no_folder_behind(tmp_path):
    from PIL import Image

    tree = tmp_path / "tree"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(3):
                path = tree / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(path)
    (tree / "train/a/bad.png").write_bytes(b"not an image")
    out = tmp_path / "runs" / "deep" / "out"
    result = _invoke("compare", "--benchmark", "split-folder", "--phases", "1", "--methods",
                     "naive", "--preset", "smoke", "--data-root", str(tree), "--out", str(out))
    assert result.exit_code == 2 and "bad.png" in result.stderr, result.output
    assert not (tmp_path / "runs").exists()  # every folder it made is gone again


@pytest.mark.parametrize("device, preset", [("cpu", "cpu"), ("cuda", "paper")])
def test_preset_auto_is_paper_on_cuda_and_cpu_elsewhere(device, preset):
    request = CompareRequest(benchmark="split-digits", phases=5, device=device)
    assert request.preset == preset and request.preset_was_auto
    assert CompareRequest(benchmark="split-digits", preset="smoke").preset_was_auto is False


def test_the_quick_start_says_which_preset_auto_chose(tmp_path):
    result = _invoke("compare", "--benchmark", "split-digits", "--phases", "5", "--methods",
                     "naive", "--device", "cpu", "--dry-run")
    assert result.output.startswith("--preset auto: cpu (a REDUCED setting for CPUs")
    assert "runs/split-digits-p5-cpu" in result.output
