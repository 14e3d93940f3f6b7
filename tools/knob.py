"""The strength knob: what a denoiser told the noise level does when it is told a wrong one.

  python -m tools.knob --model models/unet-level-train400.keras --dataset bsd68 --channels 1 \\
      --out runs/knob        # writes runs/knob/knob.png and knob.json

A model told the noise level (the unet-level preset, trained by train_photos.py) takes it as a
second input. Here the test photos get one fixed noisy copy at each of --true-levels (the
same copy tools/compare.py scores), and the model denoises each copy told every level of
--told-levels in turn. knob.png draws the mean PSNR against the level it was told, one
curve per true level, with a ring where it was told the truth, and a cross where it was
told each picture's own estimate, as `--noise-level auto` does (noise.estimate_noise_level),
drawn at the mean estimate.

What to look for: each curve peaks near its true level. Told less, the model leaves noise
in; told more, it smooths texture away, and more slowly: a level a little too high costs
less than one a little too low. The lesson docs/knob.md shows this figure; docs/ is made
by tools/make_docs.py.
"""

import argparse
import os
import sys

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import numpy as np

import data
import denoiser
import metrics
import noise
import plots
from machinery import arguments, files, runs, signals

# The true noise levels of the test copies (sigma of 255): tools/compare.py's photo levels.
TRUE_LEVELS = ("15/255", "25/255", "50/255")
# The levels the model is told, from a fifth of the lowest truth to 1.5 times the highest.
TOLD_LEVELS = tuple(f"{sigma}/255" for sigma in (3, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 75))
# Photos scored, the first of the set: each is denoised once per told and true level.
PHOTO_LIMIT = 8


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.knob", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="a model.keras told the noise level (train_photos.py --model unet-level)")
    parser.add_argument("--dataset", required=True,
                        help="a photo set (" + ", ".join(data.PHOTO_SETS) + ") or a folder of "
                             "PNG/JPEG test pictures")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1,
                        help="1 = grey, 3 = colour: the model's (default: 1)")
    parser.add_argument("--limit", type=arguments.positive_int, default=PHOTO_LIMIT,
                        help=f"score the first N pictures only (default: {PHOTO_LIMIT})")
    parser.add_argument("--true-levels", type=noise.level_argument, nargs="+",
                        default=[noise.level_argument(level) for level in TRUE_LEVELS],
                        metavar="LEVEL", help="the Gaussian noise levels of the test copies, "
                        f"unclipped (default: {' '.join(TRUE_LEVELS)})")
    parser.add_argument("--told-levels", type=noise.level_argument, nargs="+",
                        default=[noise.level_argument(level) for level in TOLD_LEVELS],
                        metavar="LEVEL", help="the levels the model is told, in turn, "
                        f"besides the true ones (default: {' '.join(TOLD_LEVELS)})")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with photo sets in images/<Set>/ (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download)")
    parser.add_argument("--out", default=os.path.join(runs.RUNS_FOLDER, "knob"),
                        help="the folder for knob.png and knob.json (default: runs/knob)")
    args = parser.parse_args(argv)
    for level in args.true_levels + args.told_levels:
        try:
            noise.check_level(denoiser.TOLD_NOISE, level)
        except ValueError as error:
            parser.error(f"argument --true-levels/--told-levels: {error}")
    return args


def psnr_against_told_level(model, clean, true_level, told_levels):
    """On one fixed noisy copy of `clean` at `true_level`: the model's mean PSNR told each
    of `told_levels`, and told each picture's estimated level (as --noise-level auto),
    with the mean of those estimates."""
    noisy = noise.fixed_noisy_copy(clean, "gaussian-unclipped", true_level)

    def mean_psnr(levels):
        denoised = [denoiser.denoise_picture(model, image, level=level)
                    for image, level in zip(noisy, levels)]
        return metrics.image_quality(clean, denoised)["psnr"]

    psnrs = []
    for told in told_levels:
        psnrs.append(mean_psnr([told] * len(noisy)))
        print(f"  true sigma {true_level * 255:.1f}, told {told * 255:.1f}: {psnrs[-1]:.2f} dB")
    estimates = [noise.estimate_noise_level(image) for image in noisy]
    auto = {"estimated_level": float(np.mean(estimates)), "psnr": mean_psnr(estimates)}
    print(f"  true sigma {true_level * 255:.1f}, told each picture's estimate (mean "
          f"{auto['estimated_level'] * 255:.1f}): {auto['psnr']:.2f} dB")
    return psnrs, auto


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line(f"nothing of this run was written into {args.out}")
    plots.prepare(show=False)
    try:
        model = denoiser.load_model(args.model)
        clean = data.load_folder(args.dataset, args.channels, limit=args.limit,
                                 data_dir=args.data_dir)
    except (denoiser.PictureError, data.DatasetError) as error:
        sys.exit(f"error: {error}")
    if not noise.takes_noise_level(model):
        sys.exit(f"error: --model: {args.model} is not told the noise level (it has no "
                 "noise_level input): train one with train_photos.py --model unet-level")
    os.makedirs(args.out, exist_ok=True)
    told_levels = sorted(set(args.told_levels) | set(args.true_levels))  # the truth, too
    curves, autos = {}, {}
    for true_level in args.true_levels:
        curves[true_level], autos[true_level] = psnr_against_told_level(
            model, clean, true_level, told_levels)
    plots.save_knob(os.path.join(args.out, "knob.png"), told_levels, curves, autos,
                    f"{os.path.basename(args.model)} on {len(clean)} pictures of "
                    f"{os.path.basename(os.path.normpath(args.dataset))}")
    files.write_json(os.path.join(args.out, "knob.json"), {
        "model": args.model, "dataset": args.dataset, "pictures": len(clean),
        "told_levels": told_levels,
        "curves": [{"true_level": level, "psnr": curves[level], "auto": autos[level]}
                   for level in args.true_levels]})
    print(f"wrote knob.png and knob.json in {args.out}")


if __name__ == "__main__":
    main()
