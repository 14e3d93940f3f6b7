"""Export trained models to ONNX, to run them outside Keras: with onnxruntime, for example,
in Python or in a browser.

  pip install -r requirements-export.txt     # tf2onnx, onnx and onnxruntime
  python -m tools.export models/unet-level-train400.keras --out exported
  python -m tools.export models/*.keras --out exported     # every ready-trained model

Writes OUT/<name>.onnx for each model, with Keras' own `model.export(..., format="onnx")`,
which hands the model's TensorFlow graph to tf2onnx. That route exists on the TensorFlow
backend only, so this tool always runs on TensorFlow, whatever the environment variable
KERAS_BACKEND says (a model saved on any backend loads on any other).

Then it checks each exported model: onnxruntime and Keras denoise the same pictures, made by
the tool itself (a smooth pattern with Gaussian noise, at two sizes), and it prints the
largest difference between their outputs. Above 1e-4 (on the 0-1 pixel scale) the export is
refused: the file is not written, and the exit code is 1. It also says what the exported
model takes: its inputs by name (`noisy`, and `noise_level` for a model told the level), and
the picture sizes. A fully convolutional model (most presets of train_conv.py) takes any
height and width that are multiples of 8: pad a picture up to such a size, as denoise.py
does. A model with a fixed input size (`small`, `unet-dense`, the dense models) takes that
size only.
"""

import argparse
import os
import sys
import warnings

# Keras' ONNX export goes through TensorFlow's graph: TensorFlow, whatever the user's backend.
os.environ["KERAS_BACKEND"] = "tensorflow"

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import keras
import numpy as np

import denoiser
import noise
from machinery import files, signals

# The largest difference between the ONNX and the Keras outputs that is accepted (pixels on
# the 0-1 scale; a difference of 1e-4 is 0.03 of a level of 255).
TOLERANCE = 1e-4
# The sizes of the check pictures of a fully convolutional model: a square and a wide one.
CHECK_SIZES = ((64, 64), (40, 96))
# The noise of the check pictures (sigma 25 of 255), which a model told the level is told.
CHECK_LEVEL = 25 / 255


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="trained .keras models (from train_conv.py, train_dense.py, or "
                             "models/)")
    parser.add_argument("--out", required=True,
                        help="the folder for the .onnx files (made if missing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace .onnx files that are already there")
    args = parser.parse_args(argv)
    names = [os.path.basename(path).removesuffix(".keras") for path in args.models]
    if len(set(names)) < len(names):
        parser.error("two models have the same file name: give models of different names")
    return args


def check_pictures(shape):
    """Noisy pictures to check an export on, for a model whose input shape is `shape`
    (None, H, W, C): a smooth pattern with Gaussian noise, at the model's fixed size or at
    each of CHECK_SIZES."""
    sizes = [shape[1:3]] if None not in shape[1:3] else CHECK_SIZES
    pictures = []
    for height, width in sizes:
        rows, columns = np.meshgrid(np.linspace(0, 3, height), np.linspace(0, 5, width),
                                    indexing="ij")
        pattern = 0.5 + 0.4 * np.sin(rows) * np.cos(columns)
        picture = np.repeat(pattern[np.newaxis, ..., np.newaxis], shape[3], axis=-1)
        pictures.append(noise.add_noise(picture.astype(np.float32), "gaussian-unclipped",
                                        CHECK_LEVEL, seed=0))
    return pictures


def sizes_taken(model):
    """What pictures the exported model takes, in words."""
    shape = denoiser.image_shape(model)
    channels = "grey (1 channel)" if shape[3] == 1 else f"{shape[3]} channels"
    inputs = ("`noisy` (N, H, W, C) and `noise_level` (N, 1), the noise's standard deviation "
              "on the 0-1 scale" if noise.takes_noise_level(model) else "`noisy` (N, H, W, C)")
    if None in shape[1:3]:
        size = f"any height and width that are multiples of {denoiser.PAD_MULTIPLE}"
    else:
        size = f"{shape[1]}x{shape[2]} pixels only"
    return f"inputs {inputs}; {channels}, {size}, pixels from 0 to 1"


def export(path, out, overwrite):
    """Export the model at `path` into `out`, check it, and say what it takes; raise
    denoiser.PictureError (a model that cannot be loaded, or whose export differs)."""
    if not path.endswith(".keras"):
        raise denoiser.PictureError(f"{path}: not a .keras model (the export starts from one)")
    model = denoiser.load_model(path)
    target = os.path.join(out, os.path.basename(path).removesuffix(".keras") + ".onnx")
    already_there = f"{target} is already there; add --overwrite to replace it"
    if os.path.exists(target) and not overwrite:  # before the export's work
        raise denoiser.PictureError(already_there)
    pictures = check_pictures(denoiser.image_shape(model))
    differences = []

    def write_and_check(temporary):
        outputs = write_onnx(model, pictures, temporary)
        for ours, keras_output in outputs:  # compared whole: NumPy would broadcast (1, ...)
            if ours.shape != keras_output.shape:
                raise denoiser.PictureError(
                    f"{path}: the ONNX model's outputs are {ours.shape}, Keras' "
                    f"{keras_output.shape}; not written")
        differences.append(max(float(np.max(np.abs(ours - keras_output)))
                               for ours, keras_output in outputs))
        if differences[0] > TOLERANCE:
            raise denoiser.PictureError(
                f"{path}: the ONNX model's output differs from Keras' by up to "
                f"{differences[0]:.2g} (more than {TOLERANCE:g}); not written")

    # Written whole, and only if it passed; without --overwrite, never over a file, also one
    # that another process wrote meanwhile.
    write = files.replace_atomically if overwrite else files.create_atomically
    try:
        write(target, write_and_check)
    except FileExistsError:
        raise denoiser.PictureError(already_there) from None
    except OSError as error:  # a full disk, a read-only folder: no partial file is left
        raise denoiser.PictureError(f"{target}: could not write it ({error.strerror or error}); "
                                   "not written") from None
    print(f"{path} -> {target}: largest difference from Keras {differences[0]:.1e}; "
          f"{sizes_taken(model)}")


def write_onnx(model, pictures, path):
    """Write `model` as ONNX at `path`; return its output and Keras' for each of `pictures`."""
    told_the_level = noise.takes_noise_level(model)
    inputs = [noise.model_inputs(picture, CHECK_LEVEL, told_the_level) for picture in pictures]
    # Keras' outputs first: Keras exports only a model that has been called.
    expected = [np.asarray(model(batch, training=False)) for batch in inputs]
    with warnings.catch_warnings():  # tf2onnx's own NumPy deprecation warnings
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        model.export(path, format="onnx", verbose=False)
    # What denoise.py runs an .onnx model with; its rank as tf2onnx wrote it, then as Keras'.
    rank = denoiser.OnnxModel(path).predict(inputs[0]).ndim
    match_output_shape(path, model.output_shape, rank)
    onnx_model = denoiser.OnnxModel(path)
    return [(onnx_model.predict(batch), keras_output)
            for batch, keras_output in zip(inputs, expected)]


def match_output_shape(path, shape, rank):
    """Make the one output of the ONNX file at `path`, whose outputs have `rank` axes, give
    and declare Keras' output `shape` (None as a named size), which denoise.py reads to tell
    an image denoiser.

    tf2onnx does not always write the same graph: now and then (in CI, and once in about
    fifteen exports of the same model here) its output carried one axis more, of size 1, in
    front: (1, N, H, W, 1) for Keras' (N, H, W, 1), and denoise.py refused the model. Such
    leading axes are taken off by a Squeeze added at the graph's end. The outputs are then
    checked against Keras', shapes included, so an axis of another size is refused there.
    """
    import onnx  # installed with tf2onnx (requirements-export.txt)

    onnx_model = onnx.load(path)
    graph = onnx_model.graph
    output = graph.output[0]
    extra = rank - len(shape)
    if extra > 0:
        inner = f"{output.name}_with_{extra}_more_axes"
        for node in graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
        axes = onnx.numpy_helper.from_array(np.arange(extra, dtype=np.int64), f"{inner}_axes")
        graph.initializer.append(axes)  # Squeeze takes its axes as an input since opset 13
        graph.node.append(onnx.helper.make_node("Squeeze", [inner, axes.name], [output.name]))
    declared = output.type.tensor_type.shape
    declared.ClearField("dim")
    for axis, size in enumerate(shape):
        if size is None:
            declared.dim.add().dim_param = f"output_size_{axis}"
        else:
            declared.dim.add().dim_value = size
    onnx.save(onnx_model, path)


def make_folder(out):
    """Make the folder --out (if missing), or exit with one line that says why it cannot be."""
    if os.path.exists(out) and not os.path.isdir(out):
        sys.exit(f"error: --out {out}: a file, not a folder: name a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:  # a file on its path, a read-only place
        sys.exit(f"error: --out {out}: cannot make that folder ({error.strerror or error})")


def main(argv=None):
    args = parse_arguments(argv)
    if keras.backend.backend() != "tensorflow":  # Keras was imported before this module set it
        sys.exit("error: the ONNX export runs on TensorFlow only: run it as "
                 "KERAS_BACKEND=tensorflow python -m tools.export ...")
    signals.stop_in_one_line("every model exported before it is whole; none is half written")
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        sys.exit(f"error: {error.name} is not installed: pip install -r requirements-export.txt")
    make_folder(args.out)
    failures = 0
    for path in args.models:
        try:
            export(path, args.out, args.overwrite)
        except denoiser.PictureError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
