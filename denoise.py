"""Denoise your own pictures with a trained model.

  python denoise.py --model models/unet-psnr-cbsd432-blind.keras photo.png [more.png ...] --out DIR
  python denoise.py --model exported/unet-psnr-cbsd432-blind.onnx photo.png --out DIR

The model is a .keras file, or an .onnx one that tools/export.py wrote from it. An .onnx
model runs on onnxruntime instead of Keras and TensorFlow, which are then not imported,
and need not be installed (pip install -r requirements-onnx.txt is enough). Everything
below is the same for both, and so are the pictures, to within 1e-4 before they are
rounded to 8 or 16 bits.

Writes DIR/<name>_denoised.png for each picture, at the picture's own size, channels and
bit depth: 8 bits (any PNG, JPEG or TIFF; a JPEG gives a PNG, so no second lossy
compression, and a palette picture an RGB one) or 16 bits (any PNG, a grey TIFF); upright as
a viewer shows it (a phone stores a portrait photo sideways, with an EXIF tag that says how
to turn it; the PNG written has no such tag, so its pixels are turned). Float and 32-bit
pixels, and other colour spaces (CMYK), are refused in one line. Of a picture
of several frames (a GIF, a TIFF of several pages), only the first is denoised, and a
note says so.

How a model meets a picture of any size:
- a fully convolutional model (most presets of conv_models.py) takes the picture whole,
  padded by reflection to a multiple of 8 so that every down-sampling divides evenly,
  and cropped back after; a picture larger than --tile pixels a side (at most 2048)
  goes through in tiles, so that memory stays bounded however large the picture: it
  then holds only the tiles and one float32 copy of the picture, into which they are
  blended;
- a model with a fixed input size (the dense ones: 28x28) always sees tiles of its size;
  one larger than 2048 pixels a side is refused.
Tiles overlap, and their outputs are blended with weights that fall off towards each
tile's edge, so no seam shows where two tiles meet. A picture that takes longer than
10 seconds says on stderr, every 10 seconds, how many tiles are done and about how long
the rest will take.

`--self-ensemble` denoises each picture in its 8 orientations (turned by quarter turns,
mirrored or not), turns each output back and averages them, for 8 times the time: on
photos, which look alike in every orientation, a gain of about a tenth of a dB (measured on
colour photos and on real camera pictures, one run each: docs/results.md and
docs/results-real-noise.md); not meant for digits or clothes, which have an up and a down
(not measured there; see "The self-ensemble" in denoiser.py).

The strength knob: a model told the noise level (the unet-level preset of train_photos.py)
takes `--noise-level`, the noise's standard deviation on the [0, 1] scale (25/255 for
sigma 25 of 255). Told the truth, it removes the noise; told more, it smooths more
strongly; told less, it keeps more texture, and more noise. `--noise-level auto` (the
default for such a model) estimates each picture's level (noise.estimate_noise_level)
and prints it. For a full-size photo from a camera, `--noise-level camera` estimates the
camera's noise instead, which `auto` sees only an eighth of (noise.estimate_camera_noise_level),
and tells the model 3.5 times it (noise.CAMERA_LEVEL_FACTOR): on real camera pictures, the way
to use models/unet-level-cbsd432.keras (docs/camera-noise.md; measured on photos from five
cameras, not on phones). models/unet-level-cbsd432-camera.keras, the same model taught
simulated camera noise, is for `camera` alone (told `auto`'s estimate, it left those real
pictures as noisy as they were), and scores lower on them. On a small or shrunk photo
whose fine texture outweighs its noise, that estimate reads the texture as noise and says
too much. Every other model guesses the level itself, and refuses `--noise-level` in one
line (except with `--add-noise`, where it is the noise added).

Colours: a model trained on grey pictures denoises a colour picture one channel at a
time; a colour model denoises a grey picture as an RGB one whose channels are then
averaged. Either way a note says so. An alpha channel is kept as it was.

For learners: `--add-noise gaussian --noise-level 0.2` first corrupts a clean picture
(and tells a model that takes the level that level; of a noise whose level is not its
standard deviation, it tells the estimate: `camera` for camera noise, whose level is an ISO,
`auto` for Poisson or salt-and-pepper noise), then saves the noisy picture too,
with a figure of the clean, noisy and denoised versions side by side at full resolution,
each above the same enlarged crop, and prints both PSNRs.

Bad input (a missing, empty, truncated, corrupt or non-image file, a picture too small or
absurdly large, an output that cannot be written) gets one line on stderr; the other
pictures are still denoised, and the exit code is 1. No input file is ever written over,
nor an earlier output unless --overwrite, also when two runs write the same name at once.
A hostile model is refused in one line before it is loaded: an .onnx whose weights are
to be read from outside its folder, a .keras that unzips to far more than a model does
(a zip bomb). Ctrl-C or SIGTERM stops it after the picture in progress, with one line;
every picture written by then is whole (a second Ctrl-C or SIGTERM stops it at once, also
in the middle of an .onnx model that would run for ever).
"""

# How a trained model meets a picture of any size (loading it safely, the tiles, the
# self-ensemble, the noise level, .keras or .onnx) is denoiser.py's, which the tools
# import too; this file is its command line: the flags, the files, the stop signals.

import argparse
import math
import os
import signal
import sys

import numpy as np

import denoiser
import metrics
import noise
import plots
from denoiser import PictureError
from machinery import signals

# The smallest --tile: below it, tiles are mostly overlap, and a picture takes minutes.
MIN_TILE = 32
# The noise that --add-noise draws: seeded, so a demo gives the same numbers every time.
DEMO_NOISE_SEED = noise.TEST_NOISE_SEED


def told_levels():
    """The levels a model may be told, as --help says them."""
    low, high = noise.NOISES[denoiser.TOLD_NOISE].level_range
    return f"{low:g} to {high:g}"


def told_the_model(args):
    """What a model told the noise level is told: --noise-level; but with --add-noise of a
    kind whose level is not the noise's standard deviation (camera noise's ISO, Poisson's
    photon count), the estimate that kind names (noise.Noise.told: camera, or auto)."""
    if args.add_noise:
        return noise.noise_kind(args.add_noise).told or args.noise_level
    return args.noise_level


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pictures", nargs="+", metavar="PICTURE",
                        help="PNG, JPEG or TIFF files to denoise (8-bit, 16-bit PNG, or "
                             "16-bit grey TIFF)")
    parser.add_argument("--model", required=True,
                        help="a trained model: a .keras file (from a training script, "
                             "train_*.py), or an .onnx file (from tools/export.py), which "
                             "runs without Keras and TensorFlow. For photos from a camera: "
                             "models/unet-level-cbsd432.keras with --noise-level camera, the "
                             "best measured on real camera noise (docs/camera-noise.md)")
    parser.add_argument("--out", default="denoised",
                        help="the folder for the denoised pictures (default: denoised)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write over earlier outputs in --out (never over an input)")
    parser.add_argument("--add-noise", type=noise.kind_argument, default=None, metavar="KIND",
                        help="first corrupt each (clean) picture with this noise, to see what "
                             "the model removes: " + noise.kind_help() + " (default: none, the "
                             "pictures are noisy already)")
    parser.add_argument("--noise-level", type=denoiser.level_or_auto, default=None,
                        help="how noisy the pictures are: the level a model that takes it "
                             "(unet-level) is told, on the [0, 1] scale (25/255 for sigma 25), "
                             f"{told_levels()}, or 'auto' to estimate it from each picture "
                             "(its default), or 'camera' for full-size photos from a camera "
                             f"(told {noise.CAMERA_LEVEL_FACTOR:g} times the camera noise's "
                             "estimate); more than the truth smooths more. With --add-noise, "
                             "the noise added, in that kind's own measure: for camera noise an "
                             f"ISO, and the model is told {noise.CAMERA_LEVEL_FACTOR:g} "
                             "times the camera estimate (auto's estimate for Poisson or "
                             "salt-and-pepper noise) (default: that kind's default, 0.2 for "
                             "gaussian, ISO 1600 for camera)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="denoise each picture in its 8 orientations (4 quarter turns, "
                             "mirrored or not), turn each output back, and average them: 8 "
                             "times slower; meant for photos, which face any way (measured "
                             "better there: docs/results.md), not for digits or clothes, "
                             "which have an up and a down (default: once)")
    parser.add_argument("--tile", type=tile_size, default=denoiser.TILE_SIZE,
                        help=f"largest side, in pixels, that a fully convolutional model "
                             f"sees at once; larger pictures go in tiles; a multiple of "
                             f"{denoiser.PAD_MULTIPLE}, {MIN_TILE} to {denoiser.MAX_TILE} "
                             f"(default: {denoiser.TILE_SIZE})")
    args = parser.parse_args(argv)
    if args.add_noise and args.noise_level in noise.ESTIMATES:
        parser.error(f"argument --noise-level: with --add-noise, give the level to add, "
                     f"not {args.noise_level} (then denoise its noisy picture with "
                     f"--noise-level auto)")
    if args.add_noise:
        args.noise_level = (noise.noise_kind(args.add_noise).default_level
                            if args.noise_level is None else args.noise_level)
    if args.noise_level not in (None, *noise.ESTIMATES):  # added, or told: one check
        try:
            noise.check_level(args.add_noise or denoiser.TOLD_NOISE, args.noise_level)
        except ValueError as error:
            parser.error(f"argument --noise-level: {error}")
    return args


def tile_size(text):
    """argparse type of --tile: a multiple of PAD_MULTIPLE from MIN_TILE to MAX_TILE."""
    try:
        size = int(text)
    except ValueError:
        size = None
    multiple, largest = denoiser.PAD_MULTIPLE, denoiser.MAX_TILE
    if size is None or size % multiple or not MIN_TILE <= size <= largest:
        raise argparse.ArgumentTypeError(f"must be a multiple of {multiple} from "
                                         f"{MIN_TILE} to {largest}, not {text}")
    return size


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
    pixels, bits = denoiser.read_picture(path)
    paths = output_paths(path, args)
    has_alpha = pixels.shape[-1] in (2, 4)
    colour, alpha = (pixels[..., :-1], pixels[..., -1:]) if has_alpha else (pixels, None)
    model_channels = denoiser.image_shape(model)[-1]
    if model_channels != colour.shape[-1] and {model_channels, colour.shape[-1]} == {1, 3}:
        print(f"note: {path} has {colour.shape[-1]} colour channel(s), the model "
              f"{model_channels}: " + ("each channel is denoised alone"
              if model_channels == 1 else "denoised as RGB, then averaged to grey"))
    noisy = colour
    if args.add_noise:
        noisy = noise.add_noise(colour, args.add_noise, args.noise_level, DEMO_NOISE_SEED)
    told = told_the_model(args)
    level = denoiser.level_to_tell(model, noisy, told)
    # How to tell it a level of one's own: --noise-level, or, where that is the noise added
    # (an ISO, a photon count), a second run on the noisy picture this one saves.
    by_hand = ("denoise its saved noisy picture with --noise-level" if args.add_noise
               else "--noise-level")
    if level is not None and not math.isfinite(level):  # flat, or almost all one value
        raise PictureError(f"{path}: its noise level cannot be estimated (the picture has no "
                           f"detail to estimate it from); tell it with {by_hand}, such as "
                           "25/255")
    if level is not None and told == noise.CAMERA:
        estimate = level / noise.CAMERA_LEVEL_FACTOR
        print(f"{path}: camera noise estimated at sigma {estimate * 255:.1f} of 255; the model "
              f"is told {noise.CAMERA_LEVEL_FACTOR:g} times it, {level:.4f} (sigma "
              f"{level * 255:.1f}); to tell it a number, {by_hand}")
    elif level is not None and told in (None, noise.AUTO):
        print(f"{path}: noise level estimated at {level:.4f} (sigma {level * 255:.1f} of 255); "
              f"to tell it a number, {by_hand}")
    try:
        denoised = denoiser.denoise_picture(model, noisy, args.tile, args.self_ensemble, level,
                                            path)
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
        denoiser.write_picture(paths["denoised"], with_alpha(denoised), bits, args.overwrite)
        if args.add_noise:
            noisy = np.clip(noisy, 0.0, 1.0)  # unclipped noise leaves [0, 1]; a picture cannot
            denoiser.write_picture(paths["noisy"], with_alpha(noisy), bits, args.overwrite)
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


def stop_after_the_picture_in_progress():
    """Ctrl-C and SIGTERM: finish the picture in progress, then stop with exit 130 / 143.

    Returns the list in which the signal is noted. Stopping between pictures, rather than
    by an exception raised wherever the signal lands (also inside TensorFlow), leaves
    every picture written whole and no temporary file. A second signal stops at once.
    """
    received = []

    def note(signal_number, frame):
        if received:  # the second time: at once (the file being written is removed)
            print(f"{signal.Signals(signal_number).name}: stopped at once; the picture in "
                  "progress is not written", file=sys.stderr, flush=True)
            sys.exit(128 + received[0])
        received.append(signal_number)
        print(f"\n{signal.Signals(signal_number).name}: stopping after the picture in "
              "progress", file=sys.stderr)

    for signal_number in signals.STOP_SIGNALS:
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
        model = denoiser.load_model(args.model)
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
