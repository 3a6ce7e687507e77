"""The learners' notebook runs top to bottom (its cells assert the math they show)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # subprocesses or many trainings: `pytest -m 'not slow'` skips

TOUR = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def test_the_tour_notebook_runs_top_to_bottom_for_a_reader_who_sets_nothing(mnist_dir, monkeypatch):
    monkeypatch.delenv("L2ZOO_DATA_DIR", raising=False)  # the kernel inherits this process's
    notebook = nbformat.read(TOUR, as_version=4)
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(TOUR.parent)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)
