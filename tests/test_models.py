"""Model factories: every family under every preset, regularizers on every kernel, save/load."""

import json

import keras
import numpy as np
import pytest
from conftest import run

import l2zoo
from l2zoo import build_mlp, build_model, list_presets, load_preset
from l2zoo.models import list_families

# Kernel-bearing layers, counted by hand from each family's defaults:
# mlp: 2 hidden Dense + head; cnn: 2 Conv + head; transformer: patch embedding +
# 4 blocks x (query, key, value, output projections + 2 MLP Dense) + head.
KERNEL_LAYERS = {"mlp": 3, "cnn": 3, "transformer": 1 + 4 * 6 + 1}


def hand_penalty(model, preset):
    """l1 * sum|w| + l2 * sum w^2 over the kernels, in float64 NumPy."""
    kernels = [v.numpy().astype("float64") for v in model.trainable_weights if v.name == "kernel"]
    return sum(preset.l1 * np.abs(w).sum() + preset.l2 * np.square(w).sum() for w in kernels)


@pytest.mark.parametrize("preset_name", list_presets())
@pytest.mark.parametrize("family", list_families())
@pytest.mark.parametrize(("input_shape", "num_classes"), [((28, 28, 1), 10), ((10,), 3)])
def test_every_family_builds_under_every_preset_with_every_kernel_regularized(
    family, preset_name, input_shape, num_classes
):
    if family == "transformer" and len(input_shape) == 1:
        with pytest.raises(ValueError, match=r"must be an image \(height, width\[, channels\]\)"):
            build_model(family, input_shape, num_classes, preset_name)
        return
    preset = load_preset(preset_name)
    model = build_model(family, input_shape, num_classes, preset_name)
    assert isinstance(model, keras.Model) and model.output_shape == (None, num_classes)
    kernels = [v for v in model.trainable_weights if v.name == "kernel"]
    assert len(kernels) == KERNEL_LAYERS[family]
    regularized = [v for v in model.trainable_weights if v.regularizer is not None]
    expected = kernels if preset.regularizer_kind != "none" else []
    assert [v.path for v in regularized] == [v.path for v in expected]
    assert len(model.losses) == len(expected)
    total = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert total == pytest.approx(hand_penalty(model, preset), rel=1e-5)
    layer_types = {type(layer).__name__ for layer in model.layers}
    assert ("Dropout" in layer_types) == (preset.dropout > 0)
    assert ("BatchNormalization" in layer_types) == preset.batchnorm


def test_placement_of_dropout_and_batchnorm_follows_the_docstrings():
    kinds = [type(layer).__name__ for layer in build_mlp(preset="l2_dropout_batchnorm").layers]
    hidden = ["Dense", "BatchNormalization", "Activation", "Dropout"]
    assert kinds == ["InputLayer", "Flatten", *hidden, *hidden, "Dense"]
    kinds = [
        type(layer).__name__ for layer in build_model("cnn", preset="l2_dropout_batchnorm").layers
    ]
    stage = ["Conv2D", "BatchNormalization", "Activation", "MaxPooling2D"]
    assert kinds == ["InputLayer", *stage, *stage, "Flatten", "Dropout", "Dense"]
    model = build_model(
        "cnn", preset="l2_dropout_batchnorm", kernel_size=5, padding="valid", units=(16,)
    )
    assert [type(layer).__name__ for layer in model.layers] == [
        *kinds[:-1],
        *hidden,
        "Dense",
    ]
    # 28 -> 24 (5x5 valid) -> 12 (pool) -> 8 -> 4: 4 * 4 * 64 features into the hidden Dense
    assert model.get_layer(index=len(kinds) - 1).kernel.shape == (4 * 4 * 64, 16)
    model = build_model("cnn", kernel_size=(5, 3), convs=(1, 2), padding="valid")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (3, 3)), (64, (3, 3))]
    # 28 -> 24 (5x5) -> 12 (pool) -> 10 (3x3) -> 8 (3x3) -> 4 (pool), as with one 5x5
    assert model.get_layer("classifier").kernel.shape == (4 * 4 * 64, 10)


def test_a_conv_stem_halves_the_image_before_the_patches_are_cut():
    model = build_model(
        "transformer",
        (28, 28),
        10,
        "l2_batchnorm",
        stem=(8, 16, 32),
        patch_size=1,
        dim=8,
        depth=1,
        num_heads=2,
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (8, (3, 3), (2, 2)),
        (16, (3, 3), (2, 2)),
        (32, (3, 3), (2, 2)),
        (8, (1, 1), (1, 1)),
    ]
    # 28 -> 14 -> 7 -> 4 (stride 2, padding same), then 1x1 patches: 16 tokens of 8
    assert model.get_layer("patch_embedding").output.shape == (None, 4, 4, 8)
    embedding = next(layer for layer in model.layers if type(layer).__name__ == "PositionEmbedding")
    assert embedding.output.shape == (None, 16, 8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[2:11] == ["Conv2D", "BatchNormalization", "Activation"] * 3
    assert [model.get_layer(f"stem_conv_{i}").filters for i in (1, 2, 3)] == [8, 16, 32]
    assert {layer.activation.__name__ for layer in model.layers[4:11:3]} == {"relu"}
    assert all(conv.kernel.regularizer is not None for conv in convs)
    with pytest.raises(ValueError, match=r"after the stem \(14x14\) are multiples of patch_size=4"):
        build_model("transformer", stem=8, patch_size=4)
    with pytest.raises(ValueError, match=r"must be an image .* after the stem \(392\)"):
        build_model("transformer", (784,), 10, stem=8)


def test_apply_to_reaches_biases_norms_and_position_embeddings_when_asked():
    preset = load_preset("l2_batchnorm", apply_to=["kernel", "bias", "norm", "embedding"])
    model = build_model("transformer", (8, 8), 3, preset, patch_size=4, dim=8, depth=1, num_heads=2)
    assert all(v.regularizer is not None for v in model.trainable_weights)
    every = sum(np.square(v.numpy().astype("float64")).sum() for v in model.trainable_weights)
    total = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert total == pytest.approx(preset.l2 * every, rel=1e-5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: build_model("resnet"),
            r"unknown model 'resnet'; valid models: cnn, mlp, transformer",
        ),
        (lambda: build_mlp((28, 28), num_classes=1), r"num_classes must be an integer >= 2; got 1"),
        (lambda: build_mlp((0, 28)), r"input_shape must be a non-empty tuple of positive integers"),
        (lambda: build_mlp("28x28"), r"input_shape must be .*; got '28x28'"),
        (lambda: build_model("cnn", (4, 4, 4, 1)), r"build_cnn: input_shape must be \(features,\)"),
        (
            lambda: build_model("transformer", (30, 30, 1)),
            r"multiples of patch_size=7; got \(30, 30, 1\)",
        ),
        (lambda: build_model("transformer", dim=10), r"dim=10 must be a multiple of num_heads=4"),
        (lambda: build_model("transformer", stem=(8, 0)), r"stem must be positive integers"),
        (
            lambda: build_model("cnn", padding="causal"),
            r"padding must be 'same' or 'valid'; got 'causal'",
        ),
        (lambda: build_mlp(units=(64, 0)), r"units must be positive integers .*; got \(64, 0\)"),
        (
            lambda: build_model("cnn", convs=(1, 2, 1)),
            r"convs must be one int or one per entry of filters \(2\); got \(1, 2, 1\)",
        ),
        (lambda: build_mlp(preset="l2", dropout=1.5), r"dropout must be in \[0, 1\); got 1.5"),
        (lambda: build_mlp(preset="l2", l1=-1.0), r"l1 must be a finite number >= 0; got -1.0"),
        (
            lambda: build_model("cnn", kernel_size=99),
            r"kernel_size 99 is larger than the input's side 28 \(input shape \(28, 28, 1\)\)",
        ),
    ],
)
def test_bad_input_raises_one_readable_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("family", list_families())
def test_save_and_load_keep_config_regularizers_and_predictions(family, tmp_path):
    keras.utils.set_random_seed(0)
    preset = load_preset("elasticnet_dropout_batchnorm", apply_to=["kernel", "norm", "embedding"])
    model = build_model(family, (28, 28, 1), 10, preset)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    as_json = lambda m: json.loads(json.dumps(m.get_config()))  # noqa: E731 (tuples become lists)
    assert as_json(loaded) == as_json(model)
    regularizers = [(v.path, v.regularizer and v.regularizer.get_config()) for v in model.weights]
    assert [
        (v.path, v.regularizer and v.regularizer.get_config()) for v in loaded.weights
    ] == regularizers
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype="float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


BACKEND_CHECK = """
import sys
import keras, numpy as np
from l2zoo import build_model, load_preset
assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
groups = ["kernel", "bias", "norm", "embedding"]
preset = load_preset("elasticnet_dropout_batchnorm", apply_to=groups)
for family in ("mlp", "cnn", "transformer"):
    model = build_model(family, (28, 28, 1), 10, preset)
    weights = [np.asarray(v.numpy(), "float64") for v in model.trainable_weights]
    expected = sum(preset.l1 * np.abs(w).sum() + preset.l2 * np.square(w).sum() for w in weights)
    total = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert abs(total - expected) <= 1e-5 * expected, (family, total, expected)
    assert model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0).shape == (2, 10)
    print(family, "ok", round(total, 6))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_family_builds_and_regularizes_on_another_backend(backend, tmp_path):
    env = {"KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    done = run("-c", BACKEND_CHECK, backend, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["mlp", "ok"],
        ["cnn", "ok"],
        ["transformer", "ok"],
    ]


def test_mlp_under_l2_learns_mnist(mnist):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist["train"], mnist["test"]
    model = build_mlp((28, 28, 1), 10, "l2")
    model.compile(
        optimizer=load_preset("l2").make_optimizer(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train[:2000, ..., None] / 255.0, y_train[:2000], batch_size=32, epochs=2, verbose=0)
    _, accuracy = model.evaluate(x_test[:1000, ..., None] / 255.0, y_test[:1000], verbose=0)
    # The shipped l2 (7e-3, chosen on noisy labels) is strong for clean data: 2,000 images x 2
    # epochs give 82.8% and 83.9% for seeds 0 and 1 (6 epochs: 83.5%, 85.3%), where l2 1e-4
    # gave 85-89%. The bar sits under seed 0's 82.8%, far above chance (10%).
    assert accuracy > 0.8


@pytest.mark.parametrize(
    ("family", "input_shape", "axes"),
    [
        ("mlp", (8,), (0,)),
        ("cnn", (8, 8, 1), (0, 1, 2)),
        ("cnn", (8,), (0, 1)),
    ],
)
def test_max_norm_caps_the_incoming_norm_of_every_unit(family, input_shape, axes):
    # A huge SGD step pushes every unit past the cap; MaxNorm must bring each back to it.
    preset = load_preset("none", max_norm=0.5, optimizer="sgd", learning_rate=10.0)
    model = build_model(
        family,
        input_shape,
        3,
        preset,
        **({"units": (16,)} if family == "mlp" else {"filters": (4,)}),
    )
    model.compile(optimizer=preset.make_optimizer(), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.train_on_batch(
        rng.normal(size=(16, *input_shape)).astype("float32"), rng.integers(0, 3, 16)
    )
    for variable in (v for v in model.trainable_weights if v.name == "kernel"):
        kernel = variable.numpy()
        norms = np.sqrt(np.square(kernel).sum(axis=axes if kernel.ndim > 2 else 0))
        assert norms.max() <= 0.5 + 1e-5 and norms.max() > 0.49, (variable.path, norms.max())


@pytest.mark.parametrize("family", list_families())
@pytest.mark.parametrize("other", ["dropout", "l2", "l2_dropout"])
def test_the_same_seed_gives_the_same_initial_weights_under_every_preset(family, other):
    # The claim behind paired differences: seed by seed, presets of a family start alike.
    def initial(preset):
        keras.utils.set_random_seed(7)
        return build_model(family, (28, 28, 1), 10, preset).get_weights()

    baseline, regularized = initial("none"), initial(other)
    assert len(baseline) == len(regularized)
    for expected, found in zip(baseline, regularized, strict=True):
        np.testing.assert_array_equal(found, expected)
    keras.utils.set_random_seed(8)
    assert not np.array_equal(
        build_model(family, (28, 28, 1), 10, other).get_weights()[0], baseline[0]
    )


def test_a_named_variant_is_its_family_at_the_rows_sizes_under_its_preset():
    from l2zoo.models import default_preset, variant

    # The parameter counts of the README's results rows.
    assert build_model("cnn_reference", (28, 28, 1), 10, "cnn_best").count_params() == 322_474
    assert build_model("cnn_fashion", (28, 28, 1), 10, "cnn_best").count_params() == 806_314
    preset, changes = default_preset("transformer_fashion")  # the stem's batch norms among them
    vit = build_model("transformer_fashion", (28, 28, 1), 10, load_preset(preset, **changes))
    assert vit.count_params() == 237_546
    assert build_model(
        "cnn_fashion", (28, 28, 1), 10, "none", filters=(8, 16, 16)
    ).count_params() < (
        100_000  # an argument overrides the variant's size
    )
    assert variant("cnn").sizes == {} and default_preset("cnn") == ("l2", {})
    assert default_preset("cnn_fashion") == (
        "cnn_best",
        {
            "translate": 0.0,
            "rotate": 0.0,
            "flip": True,
            "random_erasing": 0.25,
            "label_smoothing": 0.1,
        },
    )
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28)).astype("float32"), rng.integers(0, 10, 64)
    net, result = l2zoo.train("cnn_fashion", data=(x, y), epochs=1, batch_size=32, verbose=0)
    assert net.count_params() == 806_314 and result["config"]["model"] == "cnn_fashion"
    assert result["preset"]["name"] == "cnn_best" and result["preset"]["flip"] is True
    assert (result["preset"]["translate"], result["preset"]["rotate"]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="unknown model 'cnn_huge'; valid models: cnn, mlp"):
        build_model("cnn_huge", (28, 28, 1), 10)


SAVE_EVERY_FAMILY = """
import numpy as np
import l2zoo

x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
np.save("x.npy", x)
sizes = {"mlp": {}, "cnn": {"filters": (4,)}, "transformer": {"patch_size": 4, "dim": 8}}
for family, args in sizes.items():
    model = l2zoo.build_model(family, (8, 8, 1), 3, "l2_dropout", **args)
    model.save(f"{family}.keras")
    np.save(f"{family}.npy", model.predict(x, verbose=0))
"""

LOAD_IN_PLAIN_KERAS = """
import numpy as np
import l2zoo  # nothing else of l2zoo is touched
import tensorflow  # which looks for Keras first (a probe, not its import)
import keras

x = np.load("x.npy")
for family in ("mlp", "cnn", "transformer"):
    model = keras.models.load_model(f"{family}.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(f"{family}.npy"), atol=1e-6)
    print(family, type(model).__name__)
"""


@pytest.mark.slow
def test_plain_keras_loads_every_family_after_import_l2zoo_and_prints_no_start_up_lines(
    tmp_path,
):
    saved = run("-c", SAVE_EVERY_FAMILY, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr[-3000:]
    loaded = run("-c", LOAD_IN_PLAIN_KERAS, cwd=tmp_path, env={"L2ZOO_VERBOSE": "0"})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["mlp", "Functional", "cnn", "Functional"] + [
        "transformer",
        "Functional",
    ]
    assert loaded.stderr == ""  # TensorFlow's start-up lines and CUDA probes filtered


EXPORT_EVERY_FAMILY = """
import numpy as np
import l2zoo
from l2zoo.export import export

x = np.load("x.npy")
sizes = {"mlp": {}, "cnn": {"filters": (4,)}, "transformer": {"patch_size": 4, "dim": 8}}
for family, args in sizes.items():
    model = l2zoo.build_model(family, (8, 8, 1), 3, "l2", **args)
    model.save(f"{family}.keras")
    np.save(f"{family}-expected.npy", model.predict(x, verbose=0))
    for format in ("saved_model", "onnx"):
        export(f"{family}.keras", format)
"""

WITHOUT_L2ZOO = """
import sys
sys.modules["l2zoo"] = None  # a colleague's process: `import l2zoo` fails
import numpy as np
import onnxruntime
import tensorflow as tf

try:
    import l2zoo
except ImportError:
    pass
else:
    raise SystemExit("l2zoo imported")
x = np.load("x.npy")
for family in ("mlp", "cnn", "transformer"):
    expected = np.load(f"{family}-expected.npy")
    session = onnxruntime.InferenceSession(f"{family}.onnx")
    onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
    saved = tf.saved_model.load(f"{family}_saved_model")  # held: its variables live in it
    served = saved.serve(x).numpy()
    print(family, np.abs(onnx - expected).max(), np.abs(served - expected).max())
"""


@pytest.mark.slow
def test_exported_models_predict_as_keras_does_in_a_process_without_l2zoo(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((5, 8, 8, 1)).astype("float32"))
    exported = run("-c", EXPORT_EVERY_FAMILY, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    checked = run("-c", WITHOUT_L2ZOO, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr[-3000:]
    for line in checked.stdout.splitlines():
        family, onnx, served = line.split()
        assert float(onnx) < 1e-5 and float(served) < 1e-5, line
    assert len(checked.stdout.splitlines()) == 3


def test_export_names_a_missing_converter_and_never_writes_over_other_files(
    monkeypatch, capsys, tmp_path
):
    import importlib.util

    from l2zoo.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a)
    )
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 2
    assert capsys.readouterr().err == (
        "l2zoo: error: format 'onnx' needs tf2onnx, which is not installed: "
        "pip install 'l2zoo[onnx]'\n"
    )
    monkeypatch.undo()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["export", str(tmp_path / "run.keras"), "--out", str(tmp_path / "mine")]) == 2
    assert "is not an earlier saved_model export" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
