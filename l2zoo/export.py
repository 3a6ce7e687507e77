"""A run's model for someone without l2zoo: a TensorFlow SavedModel or an ONNX file, written by
Keras' `model.export` (the forward pass only, standalone)."""

from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import numpy as np

from l2zoo import backends
from l2zoo.runs import check_output_dir, model_file

# Format -> (Keras' name for it, the packages it needs beyond l2zoo's, the extra bringing them).
FORMATS = {
    "saved_model": ("tf_saved_model", (), None),
    "onnx": ("onnx", ("tf2onnx",), "onnx"),  # onnxruntime, also in the extra, loads it
}


def check_format(format: str) -> None:
    """One readable error for an unknown format or a missing converter (imports nothing)."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    _, packages, extra = FORMATS[format]
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"format {format!r} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'l2zoo[{extra}]'"
        )


def default_path(run: str | Path, format: str) -> Path:
    """RUN/saved_model or RUN/model.onnx; beside a bare NAME.keras, NAME_saved_model or
    NAME.onnx."""
    file = model_file(run)
    stem = file.parent / ("model" if Path(run).is_dir() else file.stem)
    if format == "saved_model":
        return (
            stem.parent / "saved_model"
            if Path(run).is_dir()
            else stem.with_name(f"{stem.name}_saved_model")
        )
    return stem.with_suffix(".onnx")


def export(
    run: str | Path, format: str = "saved_model", out: str | Path | None = None
) -> tuple[Path, tuple[int, ...]]:
    """Writes the model of `run` (a run folder or a .keras file) in `format` to `out` (default:
    `default_path`), replacing an earlier export only once the new one is whole; returns
    where, and the shape of one input (float32, pixels in [0, 1], as in training)."""
    check_format(format)
    if format not in backends.current().EXPORTS:
        raise ValueError(
            f"format {format!r} is written on the TensorFlow backend (Keras' default); "
            "pass --backend tensorflow"
        )
    out = Path(out) if out is not None else default_path(run, format)
    check_output_dir(out.parent, "output folder")
    _check_replaceable(out, format)
    from l2zoo.inference import load_model

    model = load_model(run)
    model(np.zeros((1, *model.input_shape[1:]), "float32"))  # Keras exports a called model
    if format == "onnx":
        _teach_tf2onnx_erfc()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with warnings.catch_warnings():  # Keras' tf2onnx shim asks NumPy about np.object
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(partial), format=FORMATS[format][0], verbose=False)
    if out.is_dir():
        shutil.rmtree(out)
    partial.replace(out)
    return out, tuple(model.input_shape[1:])


def _check_replaceable(out: Path, format: str) -> None:
    """Refuse to write over anything but an earlier export of the same format."""
    earlier = (
        out.is_dir() and (out / "saved_model.pb").is_file()
        if format == "saved_model"
        else out.is_file() and out.suffix == ".onnx"
    )
    if out.exists() and not earlier:
        raise ValueError(f"{out} exists and is not an earlier {format} export; name another --out")


def _teach_tf2onnx_erfc() -> None:
    """tf2onnx 1.17 has no converter for Erfc, which Keras' exact GELU (the transformer's MLP)
    lowers to on TensorFlow; this one writes erfc(x) as 1 - erf(x)."""
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name("erfc_one"), np.array(1, dtype=dtype))
            complement = ctx.insert_new_node_on_output(
                "Sub",
                node.output[0],
                name=utils.make_name(node.name),
                inputs=[one.output[0], node.output[0]],
            )
            ctx.copy_shape(node.output[0], complement.output[0])
