"""Shared fixtures: the local dataset copies, never downloaded."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*argv, cwd=None, env=None, timeout=420):
    """`python *argv` in a fresh interpreter (`-c CODE ARGS`, `-m l2zoo ...` or a script), from
    `cwd` (a temporary folder: the installed l2zoo is imported), with `env` added to the
    environment (a Keras backend, TF_CONFIG, XLA flags)."""
    argv = [str(arg) for arg in argv]
    if argv[:1] == ["-c"]:
        argv[1] = textwrap.dedent(argv[1])
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def data_root() -> Path:
    """$L2ZOO_DATA_DIR (a root of one folder per dataset), else ../shared/data."""
    return Path(os.environ.get("L2ZOO_DATA_DIR") or REPO.parent / "shared" / "data")


# The processes the tests start (the study, the notebook's kernel, the command line) find the
# datasets beside the checkout too, with nothing set; L2ZOO_DATA_DIR still wins.
if data_root().is_dir():
    os.environ.setdefault("L2ZOO_DATA_DIR", str(data_root()))


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
