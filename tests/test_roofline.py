"""FLOPs counted from layer shapes equal the hand counts; the peak is a matmul's rate."""

import keras
import pytest

import l2zoo
from l2zoo.roofline import dense_ceiling, flops_per_example, layer_flops, peak_flops


def test_the_seed_network_costs_its_hand_count():
    seed = l2zoo.build_mlp((28, 28, 1), 10, "none", units=(128,))
    assert flops_per_example(seed) == 2 * (784 * 128 + 128 * 10) * 3  # multiply-adds x 2, x 3
    assert flops_per_example(seed, training=False) == 2 * (784 * 128 + 128 * 10)


def test_convolutions_and_attention_cost_their_hand_counts():
    cnn = l2zoo.build_cnn((28, 28, 1), 10, "none")  # 3x3 'same', 32 then 64 filters, pooled
    conv = 2 * (28 * 28 * 32 * 9 * 1 + 14 * 14 * 64 * 9 * 32)
    assert flops_per_example(cnn, training=False) == conv + 2 * 7 * 7 * 64 * 10
    vit = l2zoo.build_transformer((28, 28, 1), 10, "none")  # 16 tokens of 64, 4 heads of 16
    patches = 2 * 16 * 64 * 7 * 7
    attention = 2 * (4 * 16 * 64 * 64 + 4 * 16 * 16 * (16 + 16))  # q, k, v, out; scores, sum
    mlp = 2 * 2 * 16 * 64 * 128
    assert flops_per_example(vit, training=False) == patches + 4 * (attention + mlp) + 2 * 64 * 10
    einsum = keras.layers.EinsumDense("btd,dhk->bthk", output_shape=(5, 4, 8))
    net = keras.Sequential([keras.Input((5, 6)), einsum])
    assert layer_flops(net.layers[0]) == 2 * 5 * 4 * 8 * 6


def test_the_peak_is_the_rate_of_a_timed_matmul(monkeypatch):
    times = iter([0.0, 1.0, 10.0, 12.0])  # two products: 1 s (the best), then 2 s
    monkeypatch.setattr("l2zoo.roofline.time.perf_counter", lambda: next(times))
    assert peak_flops(size=100, repeats=2) == 2 * 100**3 / 1.0


def test_a_dense_stacks_ceiling_is_the_time_of_its_products_alone(monkeypatch):
    seconds = []
    monkeypatch.setattr(
        "l2zoo.roofline.matmul_seconds", lambda m, k, n: seconds.append((m, k, n)) or 1e-6
    )
    seed = l2zoo.build_mlp((28, 28, 1), 10, "none", units=(128,))
    assert dense_ceiling(seed, 64) == pytest.approx(64 / 5e-6)  # 5 products of 1 microsecond
    assert seconds == [
        (64, 784, 128),  # forward
        (784, 64, 128),  # weight gradient; the first layer needs no input gradient
        (64, 128, 10),
        (128, 64, 10),
        (64, 10, 128),  # the second layer's input gradient
    ]


def test_auto_precision_is_bfloat16_only_for_convolutions_where_the_cpu_computes_it(
    monkeypatch,
):
    from l2zoo import backends, roofline
    from l2zoo.training import resolve_precision

    def on(model, *flags, gpu=False):
        monkeypatch.setattr(roofline, "cpu_flags", lambda: set(flags))
        monkeypatch.setattr(backends.current(), "has_gpu", lambda: gpu)
        return resolve_precision("auto", model)

    assert on("cnn", "avx512f", "amx_bf16") == "mixed"  # 2.0x measured
    assert on("cnn_reference", "avx512f", "avx512_bf16") == "mixed"  # a CNN variant: 1.5x
    assert on("mlp", "avx512_bf16", "amx_bf16") == "float32"  # 0.7x
    assert on("transformer", "avx512_bf16") == "float32"  # 0.76x
    assert on("cnn", "avx2") == "float32"  # emulated
    assert on("cnn", "avx512_bf16", gpu=True) == "float32"  # GPUs not measured: as asked
    assert resolve_precision("mixed", "mlp") == "mixed"
    assert resolve_precision("float32", "cnn") == "float32"
    with pytest.raises(
        ValueError, match="precision must be one of auto, float32, mixed; got 'half'"
    ):
        resolve_precision("half", "cnn")
