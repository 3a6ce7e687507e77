"""Where regularization matters, it shows: on noisy MNIST the shipped `l2_noisy` and
`dropout_noisy` each beat `none` with a paired 95% interval above zero, significant after
Holm's correction."""

import pytest

from l2zoo.comparison import compare

pytestmark = pytest.mark.slow  # subprocesses or many trainings: `pytest -m 'not slow'` skips


def test_l2_and_dropout_beat_none_on_noisy_labels(mnist_dir):
    # 1,000 images with 40% of their labels replaced: without regularization the MLP learns
    # the noise; at the strengths chosen on noisy MNIST (l2 scaled to these 900 training
    # examples by its reference size) both regularizers resist it: +15 and +19 points here.
    results = compare(
        "mlp",
        ["none", "l2_noisy", "dropout_noisy"],
        train_size=1000,
        label_noise=0.4,
        epochs=20,
        seeds=(0, 1, 2),
        data_dir=mnist_dir,
        progress=lambda line: None,
    )
    gains = {d["preset"]: d for d in results["differences"] if d["metric"] == "test_accuracy"}
    for preset in ("l2_noisy", "dropout_noisy"):
        assert gains[preset]["low"] > 0, gains[preset]  # the whole interval above zero
        assert gains[preset]["significant"]  # after Holm over the table's 6 comparisons
