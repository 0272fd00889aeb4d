"""Shared fixtures. The offline datasets: $AANETS_DATA_ROOT, else ../shared/data."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = ("FashionMNIST", "cifar10-jpeg")  # the data tests read these two sub-folders


def offline_data_root() -> Path:
    """$AANETS_DATA_ROOT when it is set (the folder the harness reads too), else ../shared/data."""
    chosen = os.environ.get("AANETS_DATA_ROOT")
    return Path(chosen).expanduser() if chosen else SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline datasets (FashionMNIST/raw, cifar10-jpeg); skips the test when absent."""
    root = offline_data_root()
    if not all((root / name).is_dir() for name in DATASETS):
        pytest.skip(f"offline datasets not found at {root} (set AANETS_DATA_ROOT to a folder "
                    f"holding {' and '.join(DATASETS)}, or put them in ../shared/data beside the "
                    "checkout)")
    return root


@pytest.fixture(scope="session")
def smoke_digits():
    """``smoke_digits(phases) -> (smoke config, split-digits stream at its sizes)``, each
    stream built once per session (run and checkpoint tests share them)."""
    built = {}

    def get(phases: int):
        if phases not in built:
            from benchmarks.plan.config import load_config
            from benchmarks.streams import StreamSpec, build_stream

            cfg = load_config("smoke")
            built[phases] = cfg, build_stream(StreamSpec(
                "split-digits", phases=phases, download=False,
                train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class))
        return built[phases]

    return get


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread: the suite's tiny batches run faster single-threaded, and with two
    threads on a busy 2-core machine OpenMP spinning slows training by an order of magnitude."""
    import torch

    torch.set_num_threads(1)
