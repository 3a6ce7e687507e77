"""The benchmark's arithmetic: warm-up dropped, medians and ratios (no timing is asserted)."""

import itertools
import sys

import pytest

from l2zoo.bench import measure, zoo_runner


def test_measure_drops_the_warm_up_round_and_compares_medians():
    calls = []

    def contender(name, speeds, peaks):
        epochs = iter(zip(speeds, peaks, strict=True))

        def one_epoch():
            calls.append(name)
            return next(epochs)

        return one_epoch

    fast = contender("fast", [5, 50, 70, 60], [900, 300, 500, 400])  # warm-up's peak dropped
    fast.flops = 1000  # per example: the row gives the FLOP/s its median achieves
    reference = contender("reference", [1, 10, 30, 20], [None] * 4)  # memory unknown
    rows = measure({"reference": reference, "fast": fast}, rounds=3)
    assert calls == list(itertools.chain.from_iterable([["reference", "fast"]] * 4))  # in turn
    assert rows == [
        {
            "contender": "reference",
            "samples_per_second": 20,
            "min": 10,
            "max": 30,
            "ratio_to_reference": 1.0,
            "flops_per_sample": None,
            "flops_per_second": None,
            "peak_memory": None,
        },
        {
            "contender": "fast",
            "samples_per_second": 60,
            "min": 50,
            "max": 70,
            "ratio_to_reference": 3.0,
            "flops_per_sample": 1000,
            "flops_per_second": 60_000,
            "peak_memory": 500,
        },
    ]


def test_zoo_runner_trains_a_recommended_preset_as_train_does(mnist_dir):
    # mlp_best: a cosine schedule (needs the run's steps) and shifted images (in the pipeline).
    one_epoch = zoo_runner("mlp", "mlp_best", mnist_dir, 64, train_size=640, epochs=2, units=16)
    (speed, peak), (again, _) = one_epoch(), one_epoch()
    assert speed > 0 and again > 0 and peak > 100 * 2**20  # Keras and its backend are resident
    optimizer = one_epoch.model.optimizer
    assert int(optimizer.iterations) == 2 * 640 // 64  # two epochs of 640 images, batch 64
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # cosine's end


@pytest.mark.slow
def test_bench_times_every_contender_on_every_backend_side_by_side(mnist_dir):
    from l2zoo.bench import bench, faster_backends

    backends = ("tensorflow", "jax", "torch")
    rows = bench(mnist_dir, rounds=1, train_size=640, backends=backends)
    names = [row["contender"] for row in rows]
    assert names == [
        f"{name} [{backend}]"
        for name in ("keras model.fit (default)", "l2zoo mlp 784-128-10 l2")
        for backend in backends
    ]
    assert all(row["samples_per_second"] > 0 for row in rows)
    verdicts = faster_backends(rows)
    assert [name for name, _, _ in verdicts] == [
        "keras model.fit (default)",
        "l2zoo mlp 784-128-10 l2",
    ]
    assert all(backend in backends and ratio >= 1 for _, backend, ratio in verdicts)


def test_a_pytorch_loop_is_timed_by_the_last_epoch_it_prints():
    from l2zoo.bench import _command_runner

    big = (
        "import time; held = b'x' * 300_000_000; time.sleep(0.3);"
        "print('epoch 0: 1,000 samples/s'); print('epoch 1: 2,500.5 samples/s')"
    )
    speed, peak = _command_runner(f'{sys.executable} -c "{big}"')()
    assert speed == 2500.5 and peak > 300e6  # the whole process's peak
    small = "print('torch epochs=2 samples/s=74000 test_acc=0.97')"
    speed, peak = _command_runner(f'{sys.executable} -c "{small}"')()
    assert speed == 74000 and peak < 100e6  # this process's own, not the largest child's so far


def test_peak_resident_memory_is_reset_between_epochs():
    from l2zoo.bench import peak_resident

    held = b"x" * 200_000_000
    before = peak_resident()
    del held
    after = peak_resident(reset=True)
    assert before - after > 190e6  # the freed bytes no longer count
    held = b"x" * 100_000_000
    assert peak_resident() - after > 95e6 and held
