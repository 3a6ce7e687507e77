"""The regularization study runs end to end in its quick setting and writes its page."""

import pytest
from conftest import REPO, run

pytestmark = pytest.mark.slow  # subprocesses or many trainings: `pytest -m 'not slow'` skips


def test_the_quick_study_writes_its_page_tables_and_figures(tmp_path):
    done = run(
        REPO / "examples" / "regularization_study.py", "--quick", "--out",
        tmp_path / "regularization", cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "regularization.md").read_text()
    for heading in (
        "## 300 training images, clean labels",
        "## 300 training images, 40% of the labels replaced",
        "### adam_l2: learning_rate x l2",
        "## Where a regularizer did not beat `none`",
    ):
        assert heading in page
    assert page.count("| preset - none | seeds | test_accuracy |") == 2
    assert "`l2zoo compare --model mlp --presets none,l2,dropout" in page
    figures = ("small/differences.png", "noisy/memorization.png", "adam_l2/heatmap.png")
    for figure in figures:
        assert f"](regularization/{figure})" in page
        assert (tmp_path / "regularization" / figure).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "regularization" / "small" / "runs").exists()  # models left out
    assert "Best cell, chosen on validation accuracy" in page
