"""`cli.py describe` and the one-line error contract, run in-process with CliRunner."""

import re

import pytest
from click.testing import CliRunner

from cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _phase_sizes(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^phase \d+ \((\d+) class", output, flags=re.M)]


def test_describe_cifar100_ten_phases(tmp_path):
    result = _run("describe", "--benchmark", "split-cifar100", "--phases", "10",
                  "--data-root", str(tmp_path / "absent"))
    assert result.exit_code == 0, result.output
    assert _phase_sizes(result.stdout) == [50] + [5] * 10
    assert "class order: 68, 56, 78, 8, 23, 84, 90," in result.stdout
    assert re.search(r"^phase 0 \(50 classes, labels 0-49\): 68 road, 56 palm_tree", result.stdout,
                     flags=re.M)
    assert not (tmp_path / "absent").exists()


def test_describe_base_classes_and_seed():
    result = _run("describe", "--benchmark", "split-fmnist", "--phases", "3",
                  "--base-classes", "4", "--class-order-seed", "0")
    assert result.exit_code == 0, result.output
    assert _phase_sizes(result.stdout) == [4, 2, 2, 2]
    assert "Trouser" in result.stdout or "Sandal" in result.stdout


def test_describe_split_folder_lists_class_folders(shared_data):
    result = _run("describe", "--benchmark", "split-folder", "--phases", "5",
                  "--data-root", str(shared_data / "cifar10-jpeg"))
    assert result.exit_code == 0, result.output
    assert _phase_sizes(result.stdout) == [5, 1, 1, 1, 1, 1]
    assert "airplane" in result.stdout and "truck" in result.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--benchmark", "split-cifar1000"], "valid benchmarks: split-cifar100"),
        (["--benchmark", "split-cifar100", "--phases", "7"], "valid phase counts: 1, 2, 5, 10"),
        (["--benchmark", "split-folder", "--data-root", "/nonexistent/aanets-tree"],
         "/nonexistent/aanets-tree"),
    ],
    ids=["unknown-benchmark", "bad-phase-count", "missing-data"],
)
def test_user_errors_are_one_line_exit_2(args, expected):
    result = _run("describe", *args)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # not an uncaught UserError
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0]
    assert "Traceback" not in result.output
