"""A trained denoiser applied to a picture of any size: the library under denoise.py.

A trained model takes pictures of the sizes it was built for: a U-Net any height and
width that are multiples of 8, a dense model 28x28 pixels and no other. This module is
what lies between such a model and your picture, whatever its size, channels and bit
depth. denoise.py is its command line; tools/compare.py, knob.py, export.py, onnx_speed.py
and try_it.py import it too, so that they all denoise the same way:

- load_model: a .keras or an .onnx model (tools/export.py), loaded safely, a hostile
  file refused before it is read, and checked to map pictures to pictures. An .onnx
  model runs on onnxruntime (OnnxModel): this module imports Keras and TensorFlow only
  to load a .keras model, so an .onnx one runs without them (requirements-onnx.txt);
- denoise_picture: one (H, W, C) picture, in [0, 1]: cut into overlapping tiles that
  the model takes, denoised and blended back without seams (denoise_with_tiles),
  averaged over its 8 orientations if asked (self_ensemble), a grey model given a
  colour picture one channel at a time; a model told the noise level is told it
  (level_to_tell: the level given, or one estimated from the picture);
- read_picture, write_picture: a PNG, JPEG or TIFF in, an 8- or 16-bit PNG out, whole
  or not at all.

What cannot be done with one picture or one model raises PictureError, whose message
says which and why in one line, for the caller to print.
"""

import mmap
import os
import sys
import threading
import time
import warnings
import zipfile
from typing import NamedTuple

import numpy as np
import png
from PIL import Image

import data
import noise
from machinery import files

# A fully convolutional model sees pictures larger than this many pixels a side in tiles.
TILE_SIZE = 512
# Tiles overlap by this fraction of their side; the overlap is where they are blended.
TILE_OVERLAP = 1 / 4
# Tiles denoised in one call of the model: as many as hold this many pixels (four tiles
# of TILE_SIZE), and at least one; the model's memory grows with it.
BATCH_PIXELS = 4 * TILE_SIZE**2
# Pictures are padded to a multiple of this for a fully convolutional model.
PAD_MULTIPLE = 8
# Pictures larger than this are refused (the smallest: data.MIN_SIDE, as for training).
MAX_PIXELS = 100_000_000
# The largest tile (denoise.py's --tile), and the largest side of a model's fixed input:
# one tile of it takes half a GB in each of a U-Net's first layers (4000 made TensorFlow
# abort, out of memory).
MAX_TILE = 2048
# A .keras file (a zip) is refused before Keras reads it if it unzips to more than this
# (the largest model in models/ unzips to 2 MB: Keras stores its members uncompressed)...
MAX_KERAS_UNZIPPED = 2**30
# ... or to more than this many times its own size, 1 MB at least: a "zip bomb", such as
# a 2 GB member of zeros in a 2 MB file, which Keras would unpack into memory.
MAX_KERAS_RATIO = 100
# A long picture says how far it has come on stderr, every this many seconds.
PROGRESS_SECONDS = 10
# Rows of a picture turned into integers at once, as it is written.
ROWS_AT_ONCE = 64
# onnxruntime's log severity that lets only fatal errors through (0 is verbose, 3 error).
ONNXRUNTIME_FATAL = 4
# The main thread looks up from onnxruntime this often, to answer a stop signal, and
# waits this long at most for a stopped run to end.
STOP_CHECK_SECONDS = 0.1
STOP_GRACE_SECONDS = 2
# The noise whose level a model is told: Gaussian, its standard deviation (unet-level).
TOLD_NOISE = "gaussian-unclipped"


class PictureError(Exception):
    """One picture cannot be denoised; the message says which and why."""


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
    if any(side is not None and side > MAX_TILE for side in shape[1:3]):
        raise PictureError(f"{path}: its fixed input of {shape[2]}x{shape[1]} pixels is larger "
                           f"than the {MAX_TILE}x{MAX_TILE} we accept (each tile would take "
                           "GBs)")
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
    check_unzipped_size(path)
    try:
        from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

        import keras

        import conv_models  # noqa: F401  (registers the LevelMap layer of unet-level models)
        import training  # noqa: F401  (registers the psnr metric and loss, and the noise layer)
    except ModuleNotFoundError as error:  # only requirements-onnx.txt is installed
        raise PictureError(f"{path}: a .keras model needs {error.name}: pip install -r "
                           "requirements.txt (or run an exported .onnx model)") from None
    try:
        with warnings.catch_warnings():  # a damaged file's warnings would come before our line
            warnings.simplefilter("ignore")
            return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # not a zip, not a Keras model, an unknown layer...
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PictureError(f"{path}: not a Keras model file we can load ({reason})") from None


def check_unzipped_size(path):
    """Refuse a .keras zip whose members unzip to more than MAX_KERAS_UNZIPPED bytes, or to
    more than MAX_KERAS_RATIO times the file's size (1 MB at least), before Keras unpacks
    them into memory. The sizes are those the zip's directory declares, which Python's
    zipfile never reads past."""
    try:
        with zipfile.ZipFile(path) as archive:
            unzipped = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise PictureError(f"{path}: not a .keras model file we can read ({error})") from None
    limit = min(MAX_KERAS_UNZIPPED, MAX_KERAS_RATIO * max(os.path.getsize(path), 2**20))
    if unzipped > limit:
        raise PictureError(f"{path}: unzips to {unzipped:,} bytes, more than the {limit:,} we "
                           "accept for a file of its size (a zip bomb?)")


class ModelInput(NamedTuple):
    """An input of a model: its name, and its shape, None where any size will do."""
    name: str
    shape: tuple


class OnnxModel:
    """A model exported as ONNX (tools/export.py), run by onnxruntime without Keras.

    It answers the three things this module asks of a Keras model: its `inputs` (names
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
        check_external_data(path)
        # onnxruntime's own log lines (a failed load, a stopped run) would come before, or
        # instead of, our one line: only fatal ones are let through.
        onnxruntime.set_default_logger_severity(ONNXRUNTIME_FATAL)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = ONNXRUNTIME_FATAL
        self.run_options = onnxruntime.RunOptions
        try:
            self.session = onnxruntime.InferenceSession(path, options,
                                                        providers=["CPUExecutionProvider"])
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
                self.run_stoppably({name: value[start : start + batch_size]
                                    for name, value in feed.items()})
                for start in range(0, len(pictures), batch_size)])
        except Exception as error:  # onnxruntime refuses a size, a type, a rank...
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"onnxruntime: {reason}") from None

    def run_stoppably(self, feed):
        """The model's first output for `feed`, computed in a worker thread while this one
        waits, so that a stop signal is still answered at once.

        Python runs signal handlers in the main thread only, between its own steps; a
        session.run called there holds it in C++ for as long as the model runs, which for
        a hostile model's Loop is for ever, and neither Ctrl-C nor SIGTERM got through.
        When the wait ends in an exception (the second signal's SystemExit), the run is
        told to stop, which onnxruntime does between two of its steps, and the exception
        goes on once it has: a process that exits while onnxruntime still runs aborts.
        One step that runs on and on is not waited for beyond STOP_GRACE_SECONDS.
        The wait is on an Event, not on Thread.join, which a signal's exception can leave
        believing that the thread has ended (Python 3.11 and 3.12).
        """
        options = self.run_options()
        options.log_severity_level = ONNXRUNTIME_FATAL
        result = {}
        finished = threading.Event()

        def run():
            try:
                result["outputs"] = self.session.run(None, feed, options)
            except Exception as error:  # raised again in the main thread, below
                result["error"] = error
            finally:
                finished.set()

        threading.Thread(target=run, daemon=True).start()
        try:
            while not finished.wait(STOP_CHECK_SECONDS):  # a signal's handler runs in here
                pass
        except BaseException as stop:
            options.terminate = True
            if not finished.wait(STOP_GRACE_SECONDS):
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(stop.code if isinstance(stop, SystemExit) else 1)
            raise
        if "error" in result:
            raise result["error"]
        return result["outputs"][0]


# ## External data of an ONNX model

# Where ONNX keeps tensors, from onnx.proto: for each kind of message, the fields (by
# number) that hold messages that may hold a tensor, and their kind. A tensor's field 13
# is its external data: entries of a key (field 1) and a value (field 2).
ONNX_MESSAGE_FIELDS = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse tensor"},
    "node": {5: "attribute"},
    "function": {7: "node", 11: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse tensor",
                  23: "sparse tensor"},
    "sparse tensor": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}


def check_external_data(path):
    """Refuse, in one line, an .onnx model that names a file outside its own folder as its
    external data: an absolute path, "..", or a link that resolves outside.

    An .onnx file may keep its weights in other files, each named by a path ("location")
    relative to the model's folder, which onnxruntime reads as it loads the model; a
    hostile one could so read any file this user can. onnxruntime refuses such paths
    itself from 1.24 on (the floor of requirements-onnx.txt), older ones did not, and one
    may still be installed: so every location is checked here first. The file is read by a small protobuf reader of our own rather
    than by the onnx package, which requirements-onnx.txt does not install: one check,
    the same wherever a model is loaded (with onnx or without), which the tests then test.
    """
    folder = os.path.dirname(os.path.abspath(path))
    real_folder = os.path.realpath(folder)
    for location in external_data_locations(path):
        name = os.fsdecode(location)
        outside = ("\0" in name or os.path.isabs(name) or ".." in name.split("/") or
                   os.path.commonpath([os.path.realpath(os.path.join(folder, name)),
                                       real_folder]) != real_folder)
        if outside:
            raise PictureError(f"{path}: its weights are to be read from {name!r}, outside "
                               "the model's folder; refused")


def external_data_locations(path):
    """The "location" of every external-data entry of every tensor in an .onnx file, as
    bytes (the file is mapped, not read into memory)."""
    if os.path.getsize(path) == 0:  # nothing to map; onnxruntime says what is wrong
        return []
    try:
        with open(path, "rb") as file, \
                mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            return list(locations_in(buffer))
    except ValueError as error:  # not protobuf, or cut short
        raise PictureError(f"{path}: not an ONNX model we can run ({error})") from None
    except OSError as error:
        raise PictureError(f"{path}: cannot read it ({error.strerror or error})") from None


def locations_in(buffer):
    """Walk an ONNX model in `buffer`, message by message, and yield each external-data
    location. A stack, not recursion: a hostile model may nest graphs ever deeper."""
    to_read = [("model", 0, len(buffer))]
    while to_read:
        kind, start, end = to_read.pop()
        fields = protobuf_fields(buffer, start, end)
        if kind == "entry":  # a key and a value; as in protobuf, the last of each counts
            strings = {number: bytes(buffer[first:last]) for number, (first, last) in fields
                       if number in (1, 2)}
            if strings.get(1) == b"location":
                yield strings.get(2, b"")
            continue
        to_read += [(ONNX_MESSAGE_FIELDS[kind][number], *span) for number, span in fields
                    if number in ONNX_MESSAGE_FIELDS[kind]]


def protobuf_fields(buffer, start, end):
    """The fields of the protobuf message in buffer[start:end] that are messages, strings
    or bytes, each as (field number, (start, end) of its content); the others are skipped.
    ValueError if the message is not well formed."""
    fields = []
    position = start
    while position < end:
        key, position = read_varint(buffer, position, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:  # a whole number
            position = read_varint(buffer, position, end)[1]
        elif wire_type == 1 or wire_type == 5:  # 8 or 4 bytes
            position += 8 if wire_type == 1 else 4
        elif wire_type == 2:  # a length, then that many bytes
            length, position = read_varint(buffer, position, end)
            fields.append((number, (position, position + length)))
            position += length
        else:  # groups, which ONNX never uses, or nonsense
            raise ValueError(f"protobuf wire type {wire_type} at byte {position}")
    if position != end:
        raise ValueError(f"a message runs past its end at byte {end}")
    return fields


def read_varint(buffer, position, end):
    """The protobuf variable-length whole number at `position`, and where the next field
    starts: 7 bits a byte, the lowest first, while the top bit is set."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= end:
            break
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise ValueError(f"a number cut short at byte {position}")


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


def denoise_with_tiles(model, image, tile_size, level=None, progress=None):
    """Apply `model` to an (H, W, C) image of any size, tile by tile, and blend the tiles;
    a model told the noise level is told `level` for every tile. Besides the tiles, the
    memory it takes is the blended sums of the (padded) image, one float32 copy of it.
    `progress` (a Progress) hears of every batch of tiles done."""
    height, width = image.shape[:2]
    fixed = image_shape(model)[1:3]
    if None in fixed:  # fully convolutional: any multiple of PAD_MULTIPLE will do
        tile = tuple(min(tile_size, -(-side // PAD_MULTIPLE) * PAD_MULTIPLE)
                     for side in (height, width))
    else:
        tile = fixed
    overlap = int(min(tile) * TILE_OVERLAP)
    # Pad by reflection to at least one tile, so every tile lies inside the padded image
    # (a copy, made only where a side is shorter than a tile).
    padding = ((0, max(0, tile[0] - height)), (0, max(0, tile[1] - width)), (0, 0))
    padded = np.pad(image, padding, mode="reflect") if np.any(padding) else image
    corners = [(top, left) for top in tile_starts(padded.shape[0], tile[0], overlap)
               for left in tile_starts(padded.shape[1], tile[1], overlap)]
    weights = blend_weights(*tile, overlap)
    total = np.zeros(padded.shape, np.float32)
    weight_sum = np.zeros((*padded.shape[:2], 1), np.float32)
    tiles_per_batch = max(1, BATCH_PIXELS // (tile[0] * tile[1]))
    for first in range(0, len(corners), tiles_per_batch):
        batch = corners[first : first + tiles_per_batch]
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
        if progress:
            progress.tiles_done(first + len(batch), len(corners))
    total /= weight_sum  # in place: no second copy of the image
    return total[:height, :width]


class Progress:
    """Says on stderr how far a long picture has come, every PROGRESS_SECONDS: the tiles
    done and about how long the rest will take (a 100-megapixel photo takes minutes).
    A picture done sooner says nothing.

    The picture is denoised in `passes` (the 8 orientations of the self-ensemble, each
    colour channel for a grey model), each in tiles; denoise_with_tiles reports each
    batch of tiles of each pass, and the time left is the time so far scaled up.
    """

    def __init__(self, name, passes):
        self.name, self.passes, self.passes_begun = name, passes, 0
        self.started = self.last_said = time.monotonic()

    def begin_pass(self):
        self.passes_begun += 1

    def tiles_done(self, done, tiles):
        """`done` of the `tiles` of the pass in progress are denoised."""
        now = time.monotonic()
        fraction = (self.passes_begun - 1 + done / tiles) / self.passes
        if now - self.last_said < PROGRESS_SECONDS or fraction == 1:
            return
        self.last_said = now
        left = (now - self.started) * (1 - fraction) / fraction
        of_passes = f", pass {self.passes_begun} of {self.passes}" if self.passes > 1 else ""
        print(f"{self.name}: {done} of {tiles} tiles done{of_passes} ({fraction:.0%}), "
              f"about {duration(left)} left", file=sys.stderr, flush=True)


def duration(seconds):
    """Seconds as a person says them: "40 s", "7 min", "1 h 5 min"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} s"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


# ## The self-ensemble
#
# A network is not quite the same function of a picture and of the picture turned or
# mirrored: its filters were learned, not made symmetric, and each orientation meets
# the noise differently. Averaging the 8 outputs (each turned back first) cancels part
# of those errors, with no training at all, at 8 times the cost: the "x8" of EDSR+
# (Lim et al., 2017) and "Seven ways to improve example-based super resolution"
# (Timofte et al., 2016). It only helps where the training pictures look alike in every
# orientation, as photos' patches do; a model of digits has learned that a 6 is not a 9,
# and turned digits mislead it. The 8 orientations are noise.orient's, the same that
# turn and mirror training crops (training.py's flip_rotate); written with NumPy, because the few
# lines are the lesson.

def self_ensemble(denoise, images):
    """The mean of denoise(images) over the 8 orientations of `images` (..., H, W, C),
    each output turned back to the pictures' own orientation. A running sum, so that
    one output at a time is kept besides it, not all 8."""
    total = None
    for orientation in range(noise.ORIENTATIONS):
        turned = np.ascontiguousarray(noise.orient(images, orientation))
        output = noise.orient_back(denoise(turned), orientation)
        if total is None:
            total = np.array(output, np.float32)  # a copy of its own to add the others to
        else:
            total += output
    total /= noise.ORIENTATIONS
    return total


def denoise_picture(model, image, tile_size=TILE_SIZE, ensemble=False, level=None,
                    name=None):
    """Denoise an (H, W, 1 or 3) image whatever the model's channels; clip to [0, 1].

    A model told the noise level (unet-level) is told `level`, which it needs. With
    `ensemble`, each picture is denoised in its 8 orientations (self_ensemble). A picture
    given a `name` says how far it has come on stderr if it takes long (Progress).
    """
    if noise.takes_noise_level(model) != (level is not None):
        raise PictureError("the model must be told the noise level" if level is None else
                           "the model is not told the noise level; leave --noise-level out")
    model_channels, channels = image_shape(model)[-1], image.shape[-1]
    passes = (noise.ORIENTATIONS if ensemble else 1) * (channels if model_channels == 1 else 1)
    progress = Progress(name, passes) if name else None

    def once(picture):
        if progress:
            progress.begin_pass()
        return denoise_with_tiles(model, picture, tile_size, level, progress)

    def apply(picture):
        return self_ensemble(once, picture) if ensemble else once(picture)

    if model_channels == channels:
        denoised = apply(image)
    elif model_channels == 1:  # a grey model: one colour channel at a time
        denoised = np.concatenate([apply(image[..., [channel]]) for channel in range(channels)],
                                  axis=-1)
    elif model_channels == 3 and channels == 1:  # a colour model: grey as RGB, then averaged
        denoised = apply(np.repeat(image, 3, axis=-1)).mean(axis=-1, keepdims=True)
    else:
        raise PictureError(f"the model takes {model_channels} channels, the picture has {channels}")
    return np.clip(denoised, 0.0, 1.0, out=denoised)


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
            frames = getattr(picture, "n_frames", 1)  # a GIF's, an animated PNG's, a TIFF's pages
    except Exception as error:
        raise PictureError(f"{path}: not a PNG, JPEG or TIFF picture ({error})") from None
    if min(width, height) < data.MIN_SIDE:
        raise PictureError(f"{path}: {width}x{height} pixels is too small (at least "
                           f"{data.MIN_SIDE}x{data.MIN_SIDE})")
    if width * height > MAX_PIXELS:
        raise PictureError(f"{path}: {width}x{height} pixels is more than the "
                           f"{MAX_PIXELS:,} pixels we accept")
    try:
        pixels, bits = data.read_image(path)
    except data.DatasetError as error:
        raise PictureError(str(error)) from None
    if frames > 1:
        print(f"note: {path} has {frames} frames; only the first is denoised")
    return pixels, bits


def write_picture(path, pixels, bits, overwrite=False):
    """Write (H, W, C) pixels in [0, 1] as an 8- or 16-bit PNG, whole or not at all; over an
    existing file only with `overwrite` (else FileExistsError, even if another process
    made it a moment ago)."""
    integers = to_integers(pixels, bits)
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


def to_integers(pixels, bits):
    """(H, W, C) pixels in [0, 1] as 8- or 16-bit integers, rounded; a band of rows at a
    time, so that no float copy of a large picture is made on the way."""
    integers = np.empty(pixels.shape, np.uint16 if bits == 16 else np.uint8)
    for top in range(0, len(pixels), ROWS_AT_ONCE):
        band = np.clip(pixels[top : top + ROWS_AT_ONCE], 0.0, 1.0)
        band *= 2**bits - 1
        integers[top : top + ROWS_AT_ONCE] = np.round(band, out=band)
    return integers


# ## The noise level a model is told

def level_or_auto(text):
    """argparse type of --noise-level (denoise.py, tools/real_pairs.py): a level such as
    25/255, "auto" or "camera"."""
    return text if text in noise.ESTIMATES else noise.level_argument(text)


def level_to_tell(model, noisy, noise_level):
    """The noise level to tell a model that takes it: `noise_level`; with "auto" (or
    none) the level estimated from the noisy picture; with "camera" noise.CAMERA_LEVEL_FACTOR
    times the camera noise's estimated spread. None for a model that guesses it.
    tools/compare.py tells its models the same way."""
    if not noise.takes_noise_level(model):
        return None
    if noise_level in (None, noise.AUTO):
        return noise.estimate_noise_level(noisy)
    if noise_level == noise.CAMERA:
        return noise.CAMERA_LEVEL_FACTOR * noise.estimate_camera_noise_level(noisy)
    return noise_level

