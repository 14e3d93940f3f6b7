"""Does a model told the noise level use one level for each pixel? Measured on real camera noise.

A camera's noise grows with the light, and differs from the darks to the mid-tones
(docs/camera-noise.md), so one level for a whole picture is wrong for most of its pixels.
FFDNet and CBDNet tell their networks a map, a level for each pixel. unet-level-cbsd432
learned one level a picture, which its LevelMap layer spreads into a constant map;
conv_models.told_a_map tells the same weights a map of the picture's size instead. Does the
model make use of one? On real pairs, where the noise itself is known (shot minus
reference), the model is told, for each picture, each of these times
noise.CAMERA_LEVEL_FACTOR (the factor chosen for the camera estimate: python -m
tools.noise_estimator):

- the camera estimate, one number for the picture (what denoise.py --noise-level camera
  tells);
- the noise's true spread, one number (better than any estimate of one number can be);
- the noise's true spread in each band of brightness, a map: each pixel is told the spread
  of the noise over the pixels about as bright as it (the reference's brightness, averaged
  over BRIGHTNESS_BLOCK x BRIGHTNESS_BLOCK pixels, cut into --bands bands of as many pixels
  each).

If the true map scores no better than the true spread told as one number, this model does
not use a map, and a model that should must learn from maps. The references are read to
measure, never to choose a setting; the pairs are scored as tools/real_pairs.py scores them
(8-bit RGB, the whole picture, mean over the pairs).

  python -m tools.noise_map --out runs/noise-map

Writes into --out: results.md (the table) and results.json (each pair's scores too).
"""

import argparse
import os
import sys
import time

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import numpy as np
from scipy import ndimage

import conv_models
import data
import denoiser
import noise
from machinery import arguments, files, signals
from tools import real_pairs

# The brightness each pixel is banded by: the reference's, averaged over this many pixels a
# side (so that the bands follow the scene's light, not single pixels).
BRIGHTNESS_BLOCK = 8


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.noise_map", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join("models", "unet-level-cbsd432.keras"),
                        help="a .keras model told the noise level, in colour (default: "
                             "%(default)s)")
    parser.add_argument("--bands", type=arguments.positive_int, default=8,
                        help="how many bands of brightness the true map has (default: "
                             "%(default)s)")
    parser.add_argument("--half", choices=real_pairs.HALVES, default="scoring",
                        help="the half of the pairs to measure on, whole scenes each "
                             "(default: %(default)s, which chose nothing)")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="read the first N pairs only, then take the half (default: all)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose real-noise/<Set>/ holds the pairs (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download them)")
    parser.add_argument("--out", required=True,
                        help="the folder for results.md and results.json; it must not hold "
                             "them yet")
    args = parser.parse_args(argv)
    arguments.refuse_an_out_that_holds(parser, args.out, ("results.md", "results.json"))
    return args


def load_told_model(path):
    """The model at `path`, told the level, as told_a_map makes it: a map for a level."""
    model = denoiser.load_model(path)
    if not path.lower().endswith(".keras") or not noise.takes_noise_level(model):
        raise denoiser.PictureError(f"{path}: not a .keras model told the noise level (such "
                                    "as models/unet-level-cbsd432.keras)")
    if denoiser.image_shape(model)[-1] != 3:
        raise denoiser.PictureError(f"{path}: the real pairs are in colour; this model is not")
    return conv_models.told_a_map(model)


def brightness_bands(clean, bands):
    """The band of brightness of each pixel of `clean`: 0 (darkest) to bands - 1, each band
    holding about as many pixels."""
    brightness = ndimage.uniform_filter(clean.mean(axis=-1), BRIGHTNESS_BLOCK, mode="reflect")
    edges = np.quantile(brightness, np.linspace(0, 1, bands + 1)[1:-1])
    return np.digitize(brightness, edges)


def true_spread_map(noisy, clean, bands):
    """Each pixel's level: the spread (standard deviation) of the noise over the pixels of
    its band of brightness, in every channel."""
    band = brightness_bands(clean, bands)
    noise_only = noisy - clean
    spreads = np.array([noise_only[band == index].std() if np.any(band == index) else 0.0
                        for index in range(bands)])
    return spreads[band]


def levels_told(noisy, clean, args):
    """What each row tells the model, as a map of the picture's height and width."""
    everywhere = np.ones(noisy.shape[:2])
    return {
        "told the camera estimate, one number":
            everywhere * noise.estimate_camera_noise_level(noisy),
        "told the true spread, one number": everywhere * float(np.std(noisy - clean)),
        f"told the true spread of each of {args.bands} bands of brightness, a map":
            true_spread_map(noisy, clean, args.bands),
    }


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("no results written")
    try:
        pairs = real_pairs.read_pairs(real_pairs.pair_paths("polyu100", args.data_dir,
                                                            args.limit, args.half))
        model = load_told_model(args.model)
    except (data.DatasetError, denoiser.PictureError) as error:
        sys.exit(f"error: {error}")
    factor = noise.CAMERA_LEVEL_FACTOR
    outputs, seconds = {}, {}
    for noisy, clean in pairs:
        for name, level_map in levels_told(noisy, clean, args).items():
            started = time.perf_counter()
            told = (factor * level_map)[None, ..., None].astype(np.float32)
            output = model.predict([noisy[None], told], verbose=0)[0]
            outputs.setdefault(name, []).append(real_pairs.as_written(output))
            seconds[name] = seconds.get(name, 0) + time.perf_counter() - started
    rows = [real_pairs.scores_of("noisy", [real_pairs.as_written(noisy) for noisy, _ in pairs],
                                 0.0, pairs)]
    rows += [real_pairs.scores_of(f"{name}, times {factor:g}", outputs[name],
                                  seconds[name] / len(pairs), pairs) for name in outputs]
    table = (f"{os.path.basename(args.model)} told a level for each pixel "
             f"(conv_models.told_a_map), on the {args.half} half of polyu100 "
             f"({len(pairs)} pairs); 8-bit RGB, the whole picture, mean over the pairs\n\n"
             "| told | PSNR (dB) | SSIM |\n|---|---|---|\n"
             + "".join(f"| {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} |\n"
                       for row in rows))
    os.makedirs(args.out, exist_ok=True)
    files.write_json(os.path.join(args.out, "results.json"),
                     {"model": args.model, "half": args.half, "bands": args.bands,
                      "factor": factor, "rows": rows})
    files.write_text(os.path.join(args.out, "results.md"), table)
    print("\n" + table + f"\nwrote results.md and results.json in {args.out}")


if __name__ == "__main__":
    main()
