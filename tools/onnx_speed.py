"""How long does denoise.py take on a large photo, with a .keras model or with its ONNX
export? Seconds, and how far apart their pictures are.

For each model: export it (tools/export.py), make a noisy photo of SIZE x SIZE pixels (the
first photo of BSD68 for a grey model, of CBSD68 for a colour one, enlarged, with Gaussian
noise of sigma 25), then run, as a user would, in a fresh process each time:

  python denoise.py --model MODEL.keras noisy.png --out OUT/keras
  python denoise.py --model MODEL.onnx  noisy.png --out OUT/onnx

Each command is timed whole (Python starting, imports, loading the model, reading, tiles,
writing), --repeats times, and its fastest time is kept: the other runs were slowed by
something else. The same commands on the photo shrunk to 64x64 say how much of that
time is starting, before any denoising. The .keras model runs on Keras' backend
(KERAS_BACKEND; TensorFlow unless set), the .onnx one on onnxruntime's CPU provider.
Writes results.md (the table) into --out.

  python -m tools.onnx_speed --out runs/onnx-speed
"""

import argparse
import importlib.metadata
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

import data
import denoiser
import noise
from machinery import files, signals
from tools import export
from tools.benchmark import machine_description

# The script timed, wherever this tool is started from.
DENOISE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "denoise.py")
# Each kind of model meets the first photo of the test set of its channels.
PHOTO_SETS = {1: "bsd68", 3: "cbsd68"}
# The noise of the large photo: sigma 25 of 255, what the models were trained around.
NOISE_LEVEL = 25 / 255
NOISE_SEED = 0
# What starting costs (Python, the imports, loading the model) is measured by the same
# command on the photo shrunk to this many pixels a side, where denoising takes no time.
START_SIZE = 64


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.onnx_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", metavar="MODEL",
                        default=["models/unet-level-train400.keras",
                                 "models/unet-level-cbsd432.keras"],
                        help="the .keras models to time (default: the two told-the-level models "
                             "of models/)")
    parser.add_argument("--size", type=int, default=2000,
                        help="the side of the square photo, in pixels (default: 2000)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="how many times each command runs; the fastest counts (default: 2)")
    parser.add_argument("--data-dir", default=None,
                        help="a folder whose images/ holds BSD68 and CBSD68 (default: "
                             "$DENOISE_DATA_DIR, else the Keras cache, downloaded there)")
    parser.add_argument("--out", required=True,
                        help="the folder for the ONNX models, the photos, the outputs and "
                             "results.md")
    args = parser.parse_args(argv)
    if args.size < data.MIN_SIDE or args.repeats < 1:
        parser.error(f"--size must be at least {data.MIN_SIDE}, and --repeats at least 1")
    return args


def large_noisy_photo(channels, size, path, data_dir):
    """Write the first photo of the test set for `channels`, resized to size x size, with
    Gaussian noise of sigma 25, at `path`; return where it comes from."""
    folder = data.photo_set_folder(PHOTO_SETS[channels], data_dir)
    first = sorted(name for name in os.listdir(folder) if not name.startswith("."))[0]
    pixels, _ = data.read_image(os.path.join(folder, first))
    image = Image.fromarray(np.round(pixels * 255).astype(np.uint8).squeeze(-1) if channels == 1
                            else np.round(pixels * 255).astype(np.uint8))
    enlarged = np.asarray(image.resize((size, size), Image.BICUBIC), np.float32) / 255
    enlarged = enlarged.reshape(size, size, channels)
    noisy = noise.add_noise(enlarged, "gaussian-unclipped", NOISE_LEVEL, NOISE_SEED)
    denoiser.write_picture(path, noisy, bits=8, overwrite=True)
    return f"{first} of {PHOTO_SETS[channels]}"


def fastest_run(command, repeats):
    """The fewest seconds `command` took in `repeats` runs; SystemExit if it fails."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr.strip()}")
    return min(seconds)


def largest_difference(first, second):
    """The largest difference between two 8-bit pictures, in levels of 255."""
    return int(np.max(np.abs(np.asarray(Image.open(first), np.int16)
                             - np.asarray(Image.open(second), np.int16))))


def channels_of_each(paths, data_dir):
    """{path: its channels} of every model, once each has loaded and the photo set that it
    meets is here (downloaded if need be): a broken model or missing photos stop the tool
    before minutes of timing, not after."""
    for path in paths:
        if not path.lower().endswith(".keras"):
            raise denoiser.PictureError(f"{path}: not a .keras model; this tool times a .keras "
                                        "model against the .onnx it exports from it")
    channels = {path: denoiser.image_shape(denoiser.load_model(path))[-1] for path in paths}
    for path, count in channels.items():
        if count not in PHOTO_SETS:
            raise denoiser.PictureError(f"{path}: takes {count} channels; this tool times "
                                        "grey (1) and colour (3) models")
        data.photo_set_folder(PHOTO_SETS[count], data_dir)
    return channels


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("nothing is measured until every model has run")
    try:
        channels_of = channels_of_each(args.models, args.data_dir)
    except (denoiser.PictureError, data.DatasetError) as error:
        sys.exit(f"error: {error}")
    export.make_folder(args.out)
    rows = []
    for path, channels in channels_of.items():
        name = os.path.basename(path).removesuffix(".keras")
        try:
            export.export(path, args.out, overwrite=True)
        except denoiser.PictureError as error:  # not a .keras model, a full disk
            sys.exit(f"error: {error}")
        photos = {size: os.path.join(args.out, f"noisy-{name}-{size}.png")
                  for size in (args.size, START_SIZE)}
        try:
            for size, photo in photos.items():
                source = large_noisy_photo(channels, size, photo, args.data_dir)
        except OSError as error:  # a full disk, a folder that became read-only
            sys.exit(f"error: cannot write {error.filename or args.out}: "
                     f"{error.strerror or error}")
        seconds = {}
        for runtime, model in (("keras", path), ("onnx", os.path.join(args.out, f"{name}.onnx"))):
            for size, photo in photos.items():
                command = [sys.executable, DENOISE, "--model", model, photo, "--overwrite",
                           "--out", os.path.join(args.out, runtime)]
                seconds[runtime, size] = fastest_run(command, args.repeats)
                print(f"{name}, {runtime}, {size}x{size}: {seconds[runtime, size]:.1f} s")
        difference = largest_difference(
            *(os.path.join(args.out, runtime, f"noisy-{name}-{args.size}_denoised.png")
              for runtime in ("keras", "onnx")))
        rows.append(f"| {name} | {source}, {args.size}x{args.size}, {channels} channel(s) | "
                    f"{seconds['keras', args.size]:.1f} | {seconds['keras', START_SIZE]:.1f} | "
                    f"{seconds['onnx', args.size]:.1f} | {seconds['onnx', START_SIZE]:.1f} | "
                    f"{seconds['keras', args.size] / seconds['onnx', args.size]:.1f} | "
                    f"{difference} |")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    table = "\n".join([
        f"machine: {machine_description()}",
        "versions: " + ", ".join(f"{package} {importlib.metadata.version(package)}"
                                 for package in (backend, "keras", "onnxruntime")),
        f"command: python -m tools.onnx_speed {' '.join(argv if argv is not None else sys.argv[1:])}",
        "",
        f"| model | noisy photo (sigma 25) | .keras on {backend} (s) | of which starting "
        f"(s) | .onnx on onnxruntime (s) | of which starting (s) | times faster | largest "
        "pixel difference (steps of 1/255) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])

    def write(temporary):
        with open(temporary, "w") as file:
            file.write(table + "\n")

    try:
        files.replace_atomically(os.path.join(args.out, "results.md"), write)
    except OSError as error:
        sys.exit(f"error: cannot write {os.path.join(args.out, 'results.md')}: "
                 f"{error.strerror or error}")
    print(table)


if __name__ == "__main__":
    main()
