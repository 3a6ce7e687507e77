"""Shared fixtures: the local dataset copies, never downloaded."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_python(code, *args, cwd, env=None, timeout=420):
    """Run `code` in a fresh interpreter from `cwd` (so the installed l2zoo is imported), with
    `env` added to the environment (a Keras backend, TF_CONFIG, XLA flags)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def data_root() -> Path:
    """$L2ZOO_DATA_DIR (a root of one folder per dataset), else ../shared/data."""
    return Path(os.environ.get("L2ZOO_DATA_DIR") or REPO.parent / "shared" / "data")


def dataset_dir(name: str) -> Path:
    folder = data_root() / name
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        message = f"{name} IDX files not found in {folder}; set L2ZOO_DATA_DIR to their root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return dataset_dir("mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    return dataset_dir("fashion_mnist")


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """{'train': (images, labels), 'test': (images, labels)} as uint8 arrays."""
    from l2zoo.sources import load_idx_folder

    return load_idx_folder(mnist_dir)
