"""Shared fixtures: the local MNIST copy, never downloaded."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST IDX folder: $L2ZOO_DATA_DIR, else ../shared/data/mnist beside the checkout."""
    folder = Path(os.environ.get("L2ZOO_DATA_DIR") or REPO.parent / "shared" / "data" / "mnist")
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        message = f"MNIST IDX files not found in {folder}; set L2ZOO_DATA_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """{'train': (images, labels), 'test': (images, labels)} as uint8 arrays."""
    from l2zoo.data import load_idx_folder

    return load_idx_folder(mnist_dir)
