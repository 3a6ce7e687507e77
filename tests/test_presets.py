"""Presets: shipped files, user files, overrides, the Keras objects they make, bad input."""

import tomllib

import keras
import numpy as np
import pytest
from conftest import REPO

from l2zoo import Preset, build_transformer, list_presets, load_preset
from l2zoo.models import suits
from l2zoo.presets import REGULARIZERS


def test_every_preset_file_ships_with_the_package_and_loads():
    # Run against a non-editable install (as .ci/run does) this proves the files are packaged.
    files = sorted(path.stem for path in (REPO / "presets").glob("*.toml"))
    assert list_presets() == files
    assert {
        "none",
        "l1",
        "l2",
        "elasticnet",
        "dropout",
        "batchnorm",
        "l2_dropout",
        "l2_batchnorm",
        "l2_dropout_batchnorm",
        "elasticnet_dropout_batchnorm",
        "adamw",
    } <= set(files)
    for name in files:
        preset = load_preset(name)
        assert preset.name == name and preset.description
        stated = name.split("_")[0]
        assert preset.regularizer_kind == (stated if stated in REGULARIZERS else "none")


def test_every_preset_file_states_only_what_differs_from_the_defaults():
    defaults = Preset().to_dict()
    for path in sorted((REPO / "presets").glob("*.toml")):
        stated = tomllib.loads(path.read_text())
        assert "description" in stated
        same = [
            key for key, value in stated.items() if key != "description" and value == defaults[key]
        ]
        assert not same, f"{path.name} restates defaults: {same}"


def test_a_users_file_loads_the_same_way_as_a_shipped_one(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('description = "my l2"\nl2 = 3e-4\ndropout = 0.1\n')
    preset = load_preset(path)
    assert (preset.name, preset.regularizer_kind, preset.l2, preset.dropout) == (
        "mine",
        "l2",
        3e-4,
        0.1,
    )
    assert load_preset(str(path)) == preset


def test_preset_round_trips_through_its_dict_and_its_toml(tmp_path):
    for name in list_presets():
        preset = load_preset(name, description='quoted "words" and a \\ backslash')
        assert Preset.from_dict(preset.to_dict()) == preset
        (tmp_path / f"{name}.toml").write_text(preset.to_toml())
        assert load_preset(tmp_path / f"{name}.toml") == preset


def test_overrides_change_only_what_they_name():
    base = load_preset("l2_dropout_batchnorm")
    changed = base.replace(l2=3e-4, dropout=0.2)
    assert (changed.l2, changed.dropout, changed.batchnorm) == (3e-4, 0.2, True)
    assert load_preset("l2_dropout_batchnorm", l2=3e-4, dropout=0.2) == changed
    # The penalty kind follows the strengths: adding l2 to 'none' gives L2, to 'l1' ElasticNet.
    assert load_preset("none", l2=1e-4).regularizer_kind == "l2"
    assert load_preset("l1", l2=1e-4).regularizer_kind == "elasticnet"
    assert load_preset("l2", l2=0).regularizer() is None


def test_regularizer_objects_carry_the_preset_strengths():
    l1, l2 = load_preset("l1").regularizer(), load_preset("l2").regularizer()
    shipped = {name: load_preset(name) for name in ("l1", "l2")}
    assert isinstance(l1, keras.regularizers.L1)
    assert l1.get_config() == {"l1": pytest.approx(shipped["l1"].l1)}
    assert isinstance(l2, keras.regularizers.L2)
    assert l2.get_config() == {"l2": pytest.approx(shipped["l2"].l2)}
    both = load_preset("elasticnet", l1=5e-6, l2=5e-5).regularizer()
    assert isinstance(both, keras.regularizers.L1L2)
    assert both.get_config() == {"l1": pytest.approx(5e-6), "l2": pytest.approx(5e-5)}
    w = np.array([[1.0, -2.0], [0.5, 0.0]], "float32")
    assert float(both(w)) == pytest.approx(5e-6 * 3.5 + 5e-5 * 5.25)
    assert load_preset("l2").regularizer("bias") is None  # kernels only unless asked
    assert load_preset("l2", apply_to=["kernel", "bias"]).regularizer("bias") is not None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: load_preset("l3"),
            r"unknown preset 'l3'; valid presets: adamw, adamw_noisy, .*l2",
        ),
        (lambda: load_preset("l2", l2=-1e-4), r"l2 must be a finite number >= 0; got -0.0001"),
        (lambda: load_preset("l2", dropout=1.0), r"dropout must be in \[0, 1\); got 1.0"),
        (
            lambda: load_preset("l2", dropout=-0.1),
            r"dropout must be a finite number >= 0; got -0.1",
        ),
        (lambda: load_preset("l2", l2="big"), r"l2 must be a number; got 'big'"),
        (lambda: load_preset("l2", apply_to=["weights"]), r"apply_to must be a non-empty list"),
        (lambda: load_preset("l2", optimizer="rmsprop"), r"optimizer must be one of \['adam'"),
        (lambda: load_preset("l2", l3=1e-4), r"unknown field\(s\) \['l3'\]; valid fields: .*'l2'"),
        (
            lambda: load_preset("l2", translate=1.0),
            r"translate must be a fraction of the image side in \[0, 1\); got 1.0",
        ),
        (
            lambda: load_preset("l2", rotate=0.6),
            r"rotate must be a fraction .* \[0, 0.5\]; got 0.6",
        ),
        (lambda: load_preset("l2", zoom=1.0), r"zoom must be a fraction .* \[0, 1\); got 1.0"),
        (
            lambda: load_preset("l2", elastic=-0.1),
            r"elastic must be a finite number >= 0; got -0.1",
        ),
        (lambda: load_preset("l2", schedule="step"), r"schedule must be one of \['constant', 'c"),
        (
            lambda: load_preset("l2", schedule="cosine").make_optimizer(),
            r"schedule 'cosine' needs decay_steps, .*; got None",
        ),
        (
            lambda: load_preset("l2", momentum=0.9),
            r"momentum must be 0 with optimizer 'adam' \(momentum is SGD's\); got 0.9",
        ),
        (
            lambda: load_preset("l2", optimizer="sgd", nesterov=True),
            r"nesterov must be .* true only with momentum > 0; got True",
        ),
        (
            lambda: load_preset("nowhere/mine.toml"),
            r"preset file 'nowhere/mine.toml' does not exist",
        ),
    ],
)
def test_bad_input_raises_one_readable_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "l2 = 1e-4\nstrength = 3\n",
            r"unknown key\(s\) \['strength'\]; valid keys: .*'regularizer'",
        ),
        (
            'regularizer = "l2"\nl1 = 1e-5\nl2 = 1e-4\n',
            r"regularizer = 'l2' does not match .*'elasticnet'",
        ),
        (
            'regularizer = "l3"\n',
            r"regularizer must be one of \['none', 'l1', 'l2', 'elasticnet'\]",
        ),
        ("l2 = \n", r"preset file '.*bad.toml' is not valid TOML"),
    ],
)
def test_bad_preset_file_raises_one_readable_error(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_preset(tmp_path / "bad.toml")


def test_decoupled_decay_skips_biases_norms_and_position_embeddings_also_after_loading(tmp_path):
    # SGD with lr 1 and decay 0.1 on a zero loss: each decayed weight is multiplied by 0.9 exactly.
    preset = load_preset("batchnorm", optimizer="sgd", learning_rate=1.0, weight_decay=0.1)
    model = build_transformer((8, 8, 1), 3, preset, patch_size=4, dim=8, depth=1, num_heads=2)
    model.save(tmp_path / "vit.keras")
    model = keras.saving.load_model(tmp_path / "vit.keras")
    model.compile(preset.make_optimizer(), loss=lambda y, p: 0.0 * keras.ops.sum(p))
    before = {v.path: v.numpy() for v in model.trainable_variables}
    model.train_on_batch(np.ones((2, 8, 8, 1), "float32"), np.zeros((2,)))
    names = set()
    for variable in model.trainable_variables:
        factor = 0.9 if variable.name == "kernel" else 1.0
        np.testing.assert_allclose(variable.numpy(), factor * before[variable.path], rtol=1e-6)
        names.add(variable.name)
    assert names == {"kernel", "bias", "gamma", "beta", "position_embedding"}


def test_cosine_schedule_decays_the_learning_rate_from_its_value_to_zero_over_the_run():
    optimizer = load_preset("l2", schedule="cosine", learning_rate=0.1).make_optimizer(200)
    # 0.1 * (1 + cos(pi * step / 200)) / 2: 0.1, 0.05, 0.0146 (3/4 of the way), 0 at the end.
    for step, expected in ((0, 0.1), (100, 0.05), (150, 0.1 * (1 - 0.5**0.5) / 2), (200, 0.0)):
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == pytest.approx(expected, abs=1e-7)
    assert float(load_preset("l2").make_optimizer(200).learning_rate) == pytest.approx(1e-3)


def test_sgd_momentum_and_nesterov_reach_keras_sgd():
    preset = load_preset("l2", optimizer="sgd", learning_rate=0.1, momentum=0.9, nesterov=True)
    optimizer = preset.make_optimizer()
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert (optimizer.momentum, optimizer.nesterov) == (0.9, True)
    assert load_preset("l2", optimizer="sgd").make_optimizer().momentum == 0.0


def test_every_preset_field_is_a_command_line_option_that_round_trips():
    import dataclasses

    from l2zoo.cli import parser
    from l2zoo.commands import training_overrides

    argv = ["train"]
    expected = {}
    for field in dataclasses.fields(Preset):
        if field.name in ("name", "description"):
            continue
        flag = "--" + field.name.replace("_", "-")
        value = getattr(load_preset("l2_sgd"), field.name)
        if isinstance(value, bool):
            argv.append(flag if not value else f"--no-{flag[2:]}")
            expected[field.name] = not value
        elif isinstance(value, tuple):
            argv += [flag, "kernel,bias"]
            expected[field.name] = ["kernel", "bias"]
        elif isinstance(value, str):
            argv += [flag, "adamw" if field.name == "optimizer" else "cosine"]
            expected[field.name] = argv[-1]
        elif isinstance(value, int):  # a count: early_stopping's patience
            argv += [flag, "3"]
            expected[field.name] = 3
        else:
            argv += [flag, "0.25"]
            expected[field.name] = 0.25
    assert training_overrides(parser().parse_args(argv)) == expected


def test_presets_know_their_family_and_save_to_a_file_that_loads_back(tmp_path):
    from l2zoo.models import build_model

    for_cnn = {name for name in list_presets() if suits(name, "cnn")}
    assert "cnn_best" in for_cnn and "mlp_best" not in for_cnn
    assert for_cnn - {"cnn_best"} == {p for p in list_presets() if suits(p, "mlp")} - {"mlp_best"}
    with pytest.warns(UserWarning, match="'cnn_best' was tuned for the cnn family, not for mlp"):
        build_model("mlp", (28, 28), 10, "cnn_best")
    saved = load_preset("l2", dropout=0.25).save(tmp_path / "mine.toml")
    assert (
        load_preset(saved).to_dict()
        == load_preset("l2", dropout=0.25).replace(name="mine").to_dict()
    )


@pytest.mark.slow
def test_a_listing_piped_into_a_reader_that_leaves_early_ends_quietly():
    import subprocess
    import sys

    # `true` exits before l2zoo starts writing: every write meets a closed pipe.
    done = subprocess.run(
        f"{sys.executable} -m l2zoo presets | true; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr == "" and done.stdout.strip() == "1"
