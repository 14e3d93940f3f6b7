"""Denoise your own pictures with a trained model.

  python denoise.py --model runs/unet-psnr-mnist/model.keras photo.png [more.png ...] --out DIR
  python denoise.py --model exported/unet-psnr-cbsd432-blind.onnx photo.png --out DIR

The model is a .keras file, or an .onnx one that tools/export.py wrote from it. An .onnx
model runs on onnxruntime instead of Keras and TensorFlow, which are then not imported,
and need not be installed (pip install -r requirements-onnx.txt is enough). Everything
below is the same for both, and so are the pictures, to within 1e-4 before they are
rounded to 8 or 16 bits.

Writes DIR/<name>_denoised.png for each picture, at the picture's own size, channels and
bit depth: 8 bits (any PNG, JPEG or TIFF; a JPEG gives a PNG, so no second lossy
compression, and a palette picture an RGB one) or 16 bits (any PNG, a grey TIFF). Float
and 32-bit pixels, and other colour spaces (CMYK), are refused in one line.

How a model meets a picture of any size:
- a fully convolutional model (every preset of train_conv.py) takes the picture whole,
  padded by reflection to a multiple of 8 so that every down-sampling divides evenly,
  and cropped back after; a picture larger than --tile pixels a side goes through in
  tiles, so that memory stays bounded however large the picture;
- a model with a fixed input size (the dense ones: 28x28) always sees tiles of its size.
Tiles overlap, and their outputs are blended with weights that fall off towards each
tile's edge, so no seam shows where two tiles meet.

`--self-ensemble` denoises each picture in its 8 orientations (turned by quarter turns,
mirrored or not), turns each output back and averages them, for 8 times the time: on
photos, which look alike in every orientation, a gain of a tenth to a quarter of a dB;
on digits or clothes, which have an up and a down, a loss (see "The self-ensemble" below).

The strength knob: a model told the noise level (the unet-level preset of train_conv.py)
takes `--noise-level`, the noise's standard deviation on the [0, 1] scale (25/255 for
sigma 25 of 255). Told the truth, it removes the noise; told more, it smooths more
strongly; told less, it keeps more texture, and more noise. `--noise-level auto` (the
default for such a model) estimates each picture's level (noise.estimate_noise_level)
and prints it. Every other model guesses the level itself, and refuses `--noise-level`
in one line (except with `--add-noise`, where it is the noise added).

Colours: a model trained on grey pictures denoises a colour picture one channel at a
time; a colour model denoises a grey picture as an RGB one whose channels are then
averaged. Either way a note says so. An alpha channel is kept as it was.

For learners: `--add-noise gaussian --noise-level 0.2` first corrupts a clean picture
(and tells a model that takes the level that level), then saves the noisy picture too,
with a figure of the clean, noisy and denoised versions side by side at full resolution,
each above the same enlarged crop, and prints both PSNRs.

Bad input (a missing, empty, truncated, corrupt or non-image file, a picture too small or
absurdly large, an output that cannot be written) gets one line on stderr; the other
pictures are still denoised, and the exit code is 1. No input file is ever written over,
nor an earlier output unless --overwrite, also when two runs write the same name at once.
Ctrl-C or SIGTERM stops it after the picture in progress, with one line; every picture
written by then is whole (a second Ctrl-C stops at once).
"""

import argparse
import math
import os
import signal
import sys
import zipfile
from typing import NamedTuple

import numpy as np
import png
from PIL import Image

import data
import metrics
import noise
import plots
from machinery import files, signals

# A fully convolutional model sees pictures larger than this many pixels a side in tiles.
TILE_SIZE = 512
# Tiles overlap by this fraction of their side; the overlap is where they are blended.
TILE_OVERLAP = 1 / 4
# Tiles denoised in one call of the model (memory grows with it).
TILES_PER_BATCH = 4
# Pictures are padded to a multiple of this for a fully convolutional model.
PAD_MULTIPLE = 8
# Pictures larger than this are refused (the smallest: data.MIN_SIDE, as for training).
MAX_PIXELS = 100_000_000
# The smallest --tile: below it, tiles are mostly overlap, and a picture takes minutes.
MIN_TILE = 32
# The noise that --add-noise draws: seeded, so a demo gives the same numbers every time.
DEMO_NOISE_SEED = noise.TEST_NOISE_SEED
# --noise-level auto: estimate each picture's noise level.
AUTO = "auto"
# The noise whose level a model is told: Gaussian, its standard deviation (unet-level).
TOLD_NOISE = "gaussian-unclipped"
# The eight orientations of --self-ensemble: (quarter turns, mirrored or not).
ORIENTATIONS = [(turns, mirrored) for mirrored in (False, True) for turns in range(4)]


class PictureError(Exception):
    """One picture cannot be denoised; the message says which and why."""


def told_levels():
    """The levels a model may be told, as --help says them."""
    low, high = noise.LEVEL_RANGES[TOLD_NOISE]
    return f"{low:g} to {high:g}"


def level_or_auto(text):
    """argparse type of --noise-level: a level such as 25/255, or "auto"."""
    return AUTO if text == AUTO else noise.level_argument(text)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pictures", nargs="+", metavar="PICTURE",
                        help="PNG, JPEG or TIFF files to denoise (8-bit, 16-bit PNG, or "
                             "16-bit grey TIFF)")
    parser.add_argument("--model", required=True,
                        help="a trained model: a .keras file (from train_conv.py or "
                             "train_dense.py), or an .onnx file (from tools/export.py), which "
                             "runs without Keras and TensorFlow")
    parser.add_argument("--out", default="denoised",
                        help="the folder for the denoised pictures (default: denoised)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write over earlier outputs in --out (never over an input)")
    parser.add_argument("--add-noise", choices=noise.NOISE_KINDS, default=None,
                        help="first corrupt each (clean) picture with this noise, to see what "
                             "the model removes (default: none, the pictures are noisy already)")
    parser.add_argument("--noise-level", type=level_or_auto, default=None,
                        help="how noisy the pictures are: the level a model that takes it "
                             "(unet-level) is told, on the [0, 1] scale (25/255 for sigma 25), "
                             f"{told_levels()}, or 'auto' to estimate it from each picture "
                             "(its default); more than the truth smooths more. With "
                             "--add-noise, the noise added (default: that kind's default, 0.2 "
                             "for gaussian)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="denoise each picture in its 8 orientations (4 quarter turns, "
                             "mirrored or not), turn each output back, and average them: 8 "
                             "times slower; meant for photos, which face any way (measured "
                             "better there: docs/results.md), not for digits or clothes, "
                             "which have an up and a down (default: once)")
    parser.add_argument("--tile", type=int, default=TILE_SIZE,
                        help=f"largest side, in pixels, that a fully convolutional model "
                             f"sees at once; larger pictures go in tiles; a multiple of "
                             f"{PAD_MULTIPLE}, at least {MIN_TILE} (default: {TILE_SIZE})")
    args = parser.parse_args(argv)
    if args.add_noise and args.noise_level == AUTO:
        parser.error("argument --noise-level: with --add-noise, give the level to add, "
                     "not auto (then denoise its noisy picture with --noise-level auto)")
    if args.add_noise:
        args.noise_level = (noise.DEFAULT_LEVELS[args.add_noise] if args.noise_level is None
                            else args.noise_level)
    if args.noise_level not in (None, AUTO):  # added, or told: the same check
        try:
            noise.check_level(args.add_noise or TOLD_NOISE, args.noise_level)
        except ValueError as error:
            parser.error(f"argument --noise-level: {error}")
    if args.tile < MIN_TILE or args.tile % PAD_MULTIPLE:
        parser.error(f"argument --tile: must be a multiple of {PAD_MULTIPLE} and at least "
                     f"{MIN_TILE}, not {args.tile}")
    return args


# ## The model

def load_model(path):
    """Load a trained model, .keras or .onnx, and check that it maps images to images."""
    if not os.path.isfile(path):
        raise PictureError(f"{path}: no such model file")
    model = OnnxModel(path) if path.lower().endswith(".onnx") else load_keras_model(path)
    shape = image_shape(model)
    if not (len(shape) == 4 and tuple(model.output_shape) == shape):
        raise PictureError(f"{path}: not an image denoiser (its input is {shape}, its output "
                           f"{getattr(model, 'output_shape', None)})")
    return model


def load_keras_model(path):
    """A model.keras, loaded with safe mode on.

    Keras (and TensorFlow under it) is imported here, not at the top, so that an .onnx
    model runs without them; the project's modules that define the custom layers, loss
    and metric that a saved model names are imported with it, which registers them.
    """
    if not zipfile.is_zipfile(path):
        raise PictureError(f"{path}: not a .keras model file (one is a zip archive; this "
                           "one is not, or it is cut short)")
    try:
        from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

        import keras

        import conv_models  # noqa: F401  (registers the LevelMap layer of unet-level models)
        import training  # noqa: F401  (registers the psnr metric and loss, and the noise layer)
    except ModuleNotFoundError as error:  # only requirements-onnx.txt is installed
        raise PictureError(f"{path}: a .keras model needs {error.name}: pip install -r "
                           "requirements.txt (or run an exported .onnx model)") from None
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # not a zip, not a Keras model, an unknown layer...
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PictureError(f"{path}: not a Keras model file we can load ({reason})") from None


class ModelInput(NamedTuple):
    """An input of a model: its name, and its shape, None where any size will do."""
    name: str
    shape: tuple


class OnnxModel:
    """A model exported as ONNX (tools/export.py), run by onnxruntime without Keras.

    It answers the three things this script asks of a Keras model: its `inputs` (names
    and shapes), its `output_shape`, and `predict`. So the padding, the tiles, the
    self-ensemble and the noise level below are the same code for both, and give the
    same pictures (within 1e-4: tests/test_denoise_onnx.py).
    """

    def __init__(self, path):
        try:
            import onnxruntime  # here: only an .onnx model needs it
        except ImportError:
            raise PictureError(f"{path}: onnxruntime is not installed: pip install -r "
                               "requirements-onnx.txt") from None
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as error:  # not an ONNX file, cut short, an unknown operator...
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise PictureError(f"{path}: not an ONNX model we can run ({reason})") from None
        # ONNX names a size that varies ("unk__12", or nothing); Keras says None. The
        # pictures' input comes first, as in Keras, whatever it is called; the level last.
        tensors = sorted(self.session.get_inputs(), key=lambda tensor: tensor.name == "noise_level")
        self.inputs = [ModelInput(tensor.name, known_sizes(tensor.shape)) for tensor in tensors]
        self.output_shape = known_sizes(self.session.get_outputs()[0].shape)

    def predict(self, inputs, verbose=0, batch_size=None):
        """The model's output for `inputs`: an array of pictures, or a dict of arrays
        (noise.model_inputs: "noisy", and "noise_level"), `batch_size` pictures at a time
        (all at once if None, one at a time for a model exported for one); `verbose` is
        Keras', and says nothing here. ValueError with onnxruntime's reason if it refuses."""
        pictures = inputs["noisy"] if isinstance(inputs, dict) else inputs
        feed = {self.inputs[0].name: np.asarray(pictures, np.float32)}
        if isinstance(inputs, dict) and "noise_level" in inputs:
            feed["noise_level"] = np.asarray(inputs["noise_level"], np.float32)
        if self.inputs[0].shape[0] == 1:
            batch_size = 1
        batch_size = batch_size or len(pictures)
        try:
            return np.concatenate([
                self.session.run(None, {name: value[start : start + batch_size]
                                        for name, value in feed.items()})[0]
                for start in range(0, len(pictures), batch_size)])
        except Exception as error:  # onnxruntime refuses a size, a type, a rank...
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"onnxruntime: {reason}") from None


def known_sizes(shape):
    """An ONNX shape as Keras writes it: whole numbers kept, a named or unknown size None."""
    return tuple(size if isinstance(size, int) else None for size in shape)


def image_shape(model):
    """The shape of the images a model takes, (None, H, W, C): its first input's; a model
    told the noise level (unet-level) has a second, the level."""
    inputs = getattr(model, "inputs", None) or [None]
    return tuple(getattr(inputs[0], "shape", ()))


# ## Tiles

def tile_starts(length, tile, overlap):
    """Where tiles of `tile` pixels start along a side of `length >= tile` pixels: every
    (tile - overlap) pixels, the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def blend_weights(height, width, overlap):
    """Weights of a tile's pixels: 1 in the middle, falling linearly towards the edges over
    `overlap` pixels but never to 0, so that overlapping tiles fade into each other."""
    def ramp(length):
        distance_to_edge = np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1))
        return np.minimum(distance_to_edge / max(overlap, 1), 1.0).astype(np.float32)
    return np.outer(ramp(height), ramp(width))[..., np.newaxis]


def denoise_with_tiles(model, image, tile_size, level=None):
    """Apply `model` to an (H, W, C) image of any size, tile by tile, and blend the tiles;
    a model told the noise level is told `level` for every tile."""
    height, width = image.shape[:2]
    fixed = image_shape(model)[1:3]
    if None in fixed:  # fully convolutional: any multiple of PAD_MULTIPLE will do
        tile = tuple(min(tile_size, -(-side // PAD_MULTIPLE) * PAD_MULTIPLE)
                     for side in (height, width))
    else:
        tile = fixed
    overlap = int(min(tile) * TILE_OVERLAP)
    # Pad by reflection to at least one tile, so every tile lies inside the padded image.
    padded = np.pad(image, ((0, max(0, tile[0] - height)), (0, max(0, tile[1] - width)), (0, 0)),
                    mode="reflect")
    corners = [(top, left) for top in tile_starts(padded.shape[0], tile[0], overlap)
               for left in tile_starts(padded.shape[1], tile[1], overlap)]
    weights = blend_weights(*tile, overlap)
    total = np.zeros(padded.shape, np.float32)
    weight_sum = np.zeros((*padded.shape[:2], 1), np.float32)
    for first in range(0, len(corners), TILES_PER_BATCH):
        batch = corners[first : first + TILES_PER_BATCH]
        tiles = np.stack([padded[top : top + tile[0], left : left + tile[1]] for top, left in batch])
        inputs = noise.model_inputs(tiles, level, told_the_level=level is not None)
        outputs = model.predict(inputs, verbose=0)
        if outputs.shape != tiles.shape:
            raise ValueError(f"the model turns {tiles.shape[1]}x{tiles.shape[2]}x"
                             f"{tiles.shape[3]} pixels into {'x'.join(map(str, outputs.shape[1:]))}:"
                             " a denoiser must keep the size")
        for (top, left), output in zip(batch, outputs):
            total[top : top + tile[0], left : left + tile[1]] += weights * output
            weight_sum[top : top + tile[0], left : left + tile[1]] += weights
    return (total / weight_sum)[:height, :width]


# ## The self-ensemble
#
# A network is not quite the same function of a picture and of the picture turned or
# mirrored: its filters were learned, not made symmetric, and each orientation meets
# the noise differently. Averaging the 8 outputs (each turned back first) cancels part
# of those errors, with no training at all, at 8 times the cost: the "x8" of EDSR+
# (Lim et al., 2017) and "Seven ways to improve example-based super resolution"
# (Timofte et al., 2016). It only helps where the training pictures look alike in every
# orientation, as photos' patches do; a model of digits has learned that a 6 is not a 9,
# and turned digits mislead it. Written here with NumPy, because the few lines are the lesson.

def orient(images, turns, mirrored):
    """Turn images (..., H, W, C) by `turns` quarter turns, then mirror them left to right."""
    images = np.rot90(images, turns, axes=(-3, -2))
    return np.flip(images, axis=-2) if mirrored else images


def orient_back(images, turns, mirrored):
    """Undo orient(images, turns, mirrored)."""
    images = np.flip(images, axis=-2) if mirrored else images
    return np.rot90(images, -turns, axes=(-3, -2))


def self_ensemble(denoise, images):
    """The mean of denoise(images) over the 8 orientations of `images` (..., H, W, C),
    each output turned back to the pictures' own orientation."""
    outputs = [orient_back(denoise(np.ascontiguousarray(orient(images, *orientation))),
                           *orientation) for orientation in ORIENTATIONS]
    return np.mean(outputs, axis=0)


def denoise_picture(model, image, tile_size=TILE_SIZE, ensemble=False, level=None):
    """Denoise an (H, W, 1 or 3) image whatever the model's channels; clip to [0, 1].

    A model told the noise level (unet-level) is told `level`, which it needs. With
    `ensemble`, each picture is denoised in its 8 orientations (self_ensemble).
    """
    if noise.takes_noise_level(model) != (level is not None):
        raise PictureError("the model must be told the noise level" if level is None else
                           "the model is not told the noise level; leave --noise-level out")

    def apply(picture):
        if ensemble:
            return self_ensemble(
                lambda oriented: denoise_with_tiles(model, oriented, tile_size, level), picture)
        return denoise_with_tiles(model, picture, tile_size, level)

    model_channels, channels = image_shape(model)[-1], image.shape[-1]
    if model_channels == channels:
        denoised = apply(image)
    elif model_channels == 1:  # a grey model: one colour channel at a time
        denoised = np.concatenate([apply(image[..., [channel]]) for channel in range(channels)],
                                  axis=-1)
    elif model_channels == 3 and channels == 1:  # a colour model: grey as RGB, then averaged
        denoised = apply(np.repeat(image, 3, axis=-1)).mean(axis=-1, keepdims=True)
    else:
        raise PictureError(f"the model takes {model_channels} channels, the picture has {channels}")
    return np.clip(denoised, 0.0, 1.0)


# ## Pictures in and out

def read_picture(path):
    """(pixels (H, W, C) in [0, 1], bits), or PictureError with a one-line reason."""
    if os.path.isdir(path):
        raise PictureError(f"{path}: a folder, not a picture")
    if not os.path.isfile(path):
        raise PictureError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise PictureError(f"{path}: the file is empty")
    try:
        with data.open_picture(path) as picture:  # the header only: is the size sane?
            width, height = picture.size
    except Exception as error:
        raise PictureError(f"{path}: not a PNG, JPEG or TIFF picture ({error})") from None
    if min(width, height) < data.MIN_SIDE:
        raise PictureError(f"{path}: {width}x{height} pixels is too small (at least "
                           f"{data.MIN_SIDE}x{data.MIN_SIDE})")
    if width * height > MAX_PIXELS:
        raise PictureError(f"{path}: {width}x{height} pixels is more than the "
                           f"{MAX_PIXELS:,} pixels we accept")
    try:
        return data.read_image(path)
    except data.DatasetError as error:
        raise PictureError(str(error)) from None


def write_picture(path, pixels, bits, overwrite=False):
    """Write (H, W, C) pixels in [0, 1] as an 8- or 16-bit PNG, whole or not at all; over an
    existing file only with `overwrite` (else FileExistsError, even if another process
    made it a moment ago)."""
    integer_type = np.uint16 if bits == 16 else np.uint8
    integers = np.round(np.clip(pixels, 0.0, 1.0) * (2**bits - 1)).astype(integer_type)
    height, width, channels = integers.shape

    def write(temporary):
        if bits == 16:  # Pillow cannot write 16-bit colour
            writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4),
                                bitdepth=16)
            with open(temporary, "wb") as file:
                writer.write(file, integers.reshape(height, width * channels))
        else:
            Image.fromarray(integers[..., 0] if channels == 1 else integers).save(temporary, "PNG")

    (files.replace_atomically if overwrite else files.create_atomically)(path, write)


def output_paths(path, args):
    """Where the outputs of picture `path` go: {"denoised": ..., and with --add-noise "noisy"
    and "side_by_side"}. Refuses paths that are an input, or exist without --overwrite."""
    stem = os.path.splitext(os.path.basename(path))[0]
    kinds = ("denoised", "noisy", "side_by_side") if args.add_noise else ("denoised",)
    paths = {kind: os.path.join(args.out, f"{stem}_{kind}.png") for kind in kinds}
    inputs = {os.path.realpath(picture) for picture in args.pictures}
    for output in paths.values():
        if os.path.realpath(output) in inputs:
            raise PictureError(f"{path}: its output {output} is one of the inputs; "
                               "choose another --out")
        if os.path.islink(output) and not os.path.exists(output) and not args.overwrite:
            raise PictureError(f"{path}: {output} is a symbolic link to "
                               f"{os.readlink(output)}, which does not exist (--overwrite to "
                               "replace the link)")
        if os.path.exists(output) and not args.overwrite:
            raise PictureError(f"{path}: {output} exists already (--overwrite to replace it)")
    return paths


def denoise_file(model, path, args):
    """Denoise one picture file and write its outputs; PictureError if it cannot be done."""
    pixels, bits = read_picture(path)
    paths = output_paths(path, args)
    has_alpha = pixels.shape[-1] in (2, 4)
    colour, alpha = (pixels[..., :-1], pixels[..., -1:]) if has_alpha else (pixels, None)
    model_channels = image_shape(model)[-1]
    if model_channels != colour.shape[-1] and {model_channels, colour.shape[-1]} == {1, 3}:
        print(f"note: {path} has {colour.shape[-1]} colour channel(s), the model "
              f"{model_channels}: " + ("each channel is denoised alone"
              if model_channels == 1 else "denoised as RGB, then averaged to grey"))
    noisy = colour
    if args.add_noise:
        noisy = noise.add_noise(colour, args.add_noise, args.noise_level, DEMO_NOISE_SEED)
    level = level_to_tell(model, noisy, args.noise_level)
    if level is not None and not math.isfinite(level):  # a picture of one flat colour
        raise PictureError(f"{path}: its noise level cannot be estimated (the picture has no "
                           "detail to estimate it from); tell it with --noise-level, such as "
                           "25/255")
    if level is not None and args.noise_level in (None, AUTO):
        print(f"{path}: noise level estimated at {level:.4f} (sigma {level * 255:.1f} of 255); "
              "--noise-level sets it")
    try:
        denoised = denoise_picture(model, noisy, args.tile, args.self_ensemble, level)
    except PictureError as error:
        raise PictureError(f"{path}: {error}") from None
    except ValueError as error:  # a model that changes the size, or cannot take this one
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PictureError(f"{path}: the model fails on a picture of {noisy.shape[1]}x"
                           f"{noisy.shape[0]} pixels ({reason})") from None
    if not np.isfinite(denoised).all():
        raise PictureError(f"{path}: the model's output holds NaN or infinite values; "
                           "nothing was written")

    def with_alpha(image):
        return np.concatenate([image, alpha], axis=-1) if has_alpha else image

    try:
        write_picture(paths["denoised"], with_alpha(denoised), bits, args.overwrite)
        if args.add_noise:
            noisy = np.clip(noisy, 0.0, 1.0)  # unclipped noise leaves [0, 1]; a picture cannot
            write_picture(paths["noisy"], with_alpha(noisy), bits, args.overwrite)
            plots.save_side_by_side(paths["side_by_side"], colour,
                                    {"noisy": noisy, "denoised": denoised})
            plots.close_figures()
    except FileExistsError as error:  # os.link's error names the temporary file first
        raise PictureError(f"{path}: {error.filename2 or error.filename} was written "
                           "meanwhile by another process (--overwrite to replace it)") from None
    except OSError as error:  # a full disk, a folder that became read-only
        raise PictureError(f"{path}: cannot write {error.filename or args.out}: "
                           f"{error.strerror or error}") from None
    if args.add_noise:
        before = metrics.image_quality([colour], [noisy])["psnr"]
        after = metrics.image_quality([colour], [denoised])["psnr"]
        print(f"{path}: PSNR noisy {before:.2f} dB -> denoised {after:.2f} dB")
    print(f"{path} -> {paths['denoised']}")


def level_to_tell(model, noisy, noise_level):
    """The noise level to tell a model that takes it: `noise_level`, or with "auto" (or
    none) the level estimated from the noisy picture; None for a model that guesses it.
    tools/compare.py tells its models the same way."""
    if not noise.takes_noise_level(model):
        return None
    if noise_level in (None, AUTO):
        return noise.estimate_noise_level(noisy)
    return noise_level


def stop_after_the_picture_in_progress():
    """Ctrl-C and SIGTERM: finish the picture in progress, then stop with exit 130 / 143.

    Returns the list in which the signal is noted. Stopping between pictures, rather than
    by an exception raised wherever the signal lands (also inside TensorFlow), leaves
    every picture written whole and no temporary file. A second signal stops at once.
    """
    received = []

    def note(signal_number, frame):
        if received:  # the second time: at once (the file being written is removed)
            sys.exit(128 + received[0])
        received.append(signal_number)
        print(f"\n{signal.Signals(signal_number).name}: stopping after the picture in "
              "progress", file=sys.stderr)

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, note)
    return received


def stop_if_asked(received):
    """Exit 130 / 143 if a stop signal came: every picture written so far is whole."""
    if received:
        print(f"{signal.Signals(received[0]).name}: stopped; every picture written so far "
              "is whole", file=sys.stderr)
        sys.exit(128 + received[0])


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("nothing was written")  # while the model loads
    plots.prepare(show=False)
    try:
        model = load_model(args.model)
    except PictureError as error:
        sys.exit(f"error: {error}")
    stop_signals = stop_after_the_picture_in_progress()  # after Keras: it sets its own
    if args.noise_level is not None and not args.add_noise and not noise.takes_noise_level(model):
        sys.exit(f"error: --noise-level: {args.model} is not told the noise level (it "
                 "guesses it); leave --noise-level out, or use a unet-level model")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:  # a file of that name, a read-only place
        sys.exit(f"error: --out {args.out}: cannot make that folder ({error.strerror})")
    if not os.access(args.out, os.W_OK):
        sys.exit(f"error: --out {args.out}: cannot write in that folder")
    failures = 0
    for path in args.pictures:
        stop_if_asked(stop_signals)
        try:
            denoise_file(model, path, args)
        except PictureError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr)
    stop_if_asked(stop_signals)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
