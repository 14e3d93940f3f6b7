"""Score denoisers on real camera noise: pictures a camera took, with clean references.

The noise of the other benchmarks is made by this project (noise.py). Here it is real: each
pair of a real-pairs set (data.REAL_PAIRS, such as `polyu100`) is one shot of a scene and
the mean of many shots of it from a tripod, the clean reference. Every noisy shot goes
through the functions denoise.py calls on a user's picture (denoiser.read_picture,
level_to_tell, denoise_picture), and its output is rounded to 8 bits as denoise.py writes
it; then PSNR and SSIM against the reference (8-bit RGB, the whole picture), averaged over
the pairs. The noisy shots themselves are the first row: the floor to clear.

Here the noise itself is known (shot minus reference), so the tool also measures what
`--noise-level auto` sees: for each pair the noise's true spread (its standard deviation)
beside noise.estimate_noise_level's estimate of it from the shot alone.

A model told the noise level is told `--noise-level` (default: `auto`, each picture's own
estimate, as denoise.py does; `camera` tells it noise.CAMERA_LEVEL_FACTOR times the
camera estimate). With --bm3d, the classical BM3D (the optional bm3d package) is scored too,
told each picture's camera estimate (noise.estimate_camera_noise_level: the estimated spread
of its noise). The pairs are for evaluation and for choosing settings, never for training.

  python -m tools.real_pairs --models models/unet-psnr-cbsd432-blind.keras --out runs/real

Writes into --out: results.md (the table), results.json (each pair's scores too) and
samples.png (the first pair's noisy shot and each method's output beside the reference, at
full resolution, its most detailed 192x192 window and an enlarged crop of it).
"""

import argparse
import os
import sys
import time

import numpy as np

import data
import denoiser
import metrics
import noise
import plots
from machinery import arguments, files, signals
from tools import classical


# --half: the halves of data.real_pair_halves, in its order.
HALVES = ("choosing", "scoring")


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.real_pairs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[], metavar="MODEL",
                        help="trained models (.keras or .onnx) to score (default: none, the "
                             "noisy shots alone)")
    parser.add_argument("--pairs", choices=data.REAL_PAIRS, default="polyu100",
                        help="the real pairs to score on (default: %(default)s; python data.py "
                             "--list says where they come from and their licence)")
    parser.add_argument("--noise-level", default=noise.AUTO, type=denoiser.level_or_auto,
                        help="the level told a model that takes one: a number such as 10/255, "
                             "auto (each picture's estimate) or camera (as denoise.py "
                             "--noise-level camera tells it) (default: auto)")
    parser.add_argument("--bm3d", action="store_true",
                        help="also score BM3D (pip install bm3d), told each picture's camera "
                             "estimate itself (no factor is chosen for BM3D); tens of seconds "
                             "a picture on 2 CPU cores")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average each model over the 8 orientations of every picture, as "
                             "denoise.py --self-ensemble does")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="score the first N pairs only (default: all)")
    parser.add_argument("--half", choices=HALVES, default=None,
                        help="score one half of the pairs only, whole scenes each: 'choosing', "
                             "on which tools/noise_estimator.py chooses the camera estimate's "
                             "settings, or 'scoring', which chose nothing (default: every pair)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose real-noise/<Set>/ holds the pairs (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download them)")
    parser.add_argument("--out", required=True,
                        help="the folder for results.md, results.json and samples.png; it "
                             "must not hold them yet")
    args = parser.parse_args(argv)
    if args.bm3d and classical.bm3d is None:
        parser.error(f"argument --bm3d: bm3d is {classical.BM3D_MISSING}")
    arguments.refuse_an_out_that_holds(parser, args.out, ("results.md", "results.json", "samples.png"))
    return args


def pair_paths(name, data_dir, limit, half):
    """The (noisy, clean) paths of the first `limit` pairs of the set `name`, or of their
    `half` (one of HALVES, whole scenes each; None: all of them). data.DatasetError for a
    half with no pair."""
    paths = data.real_pairs(name, data_dir, limit)
    if half is None:
        return paths
    chosen = data.real_pair_halves([noisy for noisy, _ in paths])[HALVES.index(half)]
    if not chosen:
        raise data.DatasetError(f"the {half} half of the first {len(paths)} pairs is empty "
                                "(they are of one scene): give a larger --limit")
    return [paths[index] for index in chosen]


def read_pairs(paths):
    """The (noisy, clean) pictures of each pair of `paths`, read as denoise.py reads a picture."""
    return [(denoiser.read_picture(noisy)[0], denoiser.read_picture(clean)[0])
            for noisy, clean in paths]


def as_written(picture):
    """`picture` as denoise.py writes it: rounded to 8-bit integers, back in [0, 1]."""
    return denoiser.to_integers(np.array(picture, np.float32), 8).astype(np.float32) / 255


def score(name, denoise, pairs):
    """The mean PSNR and SSIM of `denoise` (noisy picture -> picture) over `pairs` of
    ((noisy, clean) pictures), each pair's scores, and the seconds per picture."""
    return scores_of(name, *denoised(denoise, pairs), pairs)


def denoised(denoise, pairs):
    """`denoise` applied to the noisy picture of each pair, as denoise.py writes it, and
    the seconds a picture took."""
    started = time.perf_counter()
    outputs = [as_written(denoise(noisy)) for noisy, _ in pairs]
    return outputs, (time.perf_counter() - started) / len(pairs)


def scores_of(name, outputs, seconds, pairs):
    """The row of `name`, whose `outputs` of `pairs` took `seconds` a picture: its mean PSNR
    and SSIM against the clean pictures, and each pair's."""
    each = [metrics.image_quality([clean], [output]) for (_, clean), output in zip(pairs, outputs)]
    mean = {key: float(np.mean([scores[key] for scores in each])) for key in ("psnr", "ssim")}
    print(f"{name}: PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f} "
          f"({seconds:.2f} s a picture)", flush=True)
    return {"method": name, **mean, "seconds_per_picture": round(seconds, 3),
            "pairs": [{key: round(value, 4) for key, value in scores.items()} for scores in each]}


def noise_spreads(pairs):
    """For each pair, the true spread of its noise (the standard deviation of shot minus
    reference, on the [0, 1] scale) and the estimate `--noise-level auto` makes of it."""
    return [{"true": float(np.std(noisy - clean)), "estimated": noise.estimate_noise_level(noisy)}
            for noisy, clean in pairs]


def model_denoiser(model, args):
    """Denoise a noisy picture as denoise.py does: told its level where the model takes one."""
    def denoise(noisy):
        level = denoiser.level_to_tell(model, noisy, args.noise_level)
        return denoiser.denoise_picture(model, noisy, ensemble=args.self_ensemble, level=level)
    return denoise


def bm3d_denoiser(noisy):
    """BM3D, told the spread of the picture's noise that the camera estimate gives; a
    picture with too little detail to estimate from is left as it is."""
    level = noise.estimate_camera_noise_level(noisy)
    return classical.block_matching_3d(noisy, level) if np.isfinite(level) else noisy


def markdown_table(rows, spreads, args, count):
    """The results as a Markdown table, with what was scored and how, and the noise's
    spread beside its estimate."""
    half = f", the {args.half} half (whole scenes)" if args.half else ""
    lines = [f"{args.pairs}{half}: {count} real noisy pictures against their clean references; "
             "8-bit RGB, the whole picture, mean over the pairs",
             "", "| method | PSNR (dB) | SSIM | seconds a picture |", "|---|---|---|---|"]
    lines += [f"| {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
              f"{row['seconds_per_picture']:.2f} |" for row in rows]
    true = [255 * spread["true"] for spread in spreads]
    estimated = [255 * spread["estimated"] for spread in spreads]
    ratios = [guess / truth for guess, truth in zip(estimated, true)]
    lines += ["", f"The noise (shot minus reference), as a standard deviation of 255: mean "
              f"{np.mean(true):.2f} (from {min(true):.2f} to {max(true):.2f}); `--noise-level "
              f"auto` estimates a mean {np.mean(estimated):.2f} (from {min(estimated):.2f} to "
              f"{max(estimated):.2f}), {np.mean(ratios):.2f} times the true spread on average."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("no results written")
    plots.prepare(show=False)
    try:
        paths = pair_paths(args.pairs, args.data_dir, args.limit, args.half)
        pairs = read_pairs(paths)
        models = [(path, denoiser.load_model(path)) for path in args.models]
    except (data.DatasetError, denoiser.PictureError) as error:
        sys.exit(f"error: {error}")
    methods = [("noisy", lambda noisy: noisy)]
    methods += [(os.path.basename(path) + (" x8" if args.self_ensemble else ""),
                 model_denoiser(model, args)) for path, model in models]
    if args.bm3d:
        methods.append(("BM3D, told the camera estimate", bm3d_denoiser))
    rows, firsts = [], {}  # each method's row, and its output for the first pair, to show
    for name, denoise in methods:
        outputs, seconds = denoised(denoise, pairs)
        rows.append(scores_of(name, outputs, seconds, pairs))
        firsts[name] = outputs[0]
    os.makedirs(args.out, exist_ok=True)
    plots.save_side_by_side(os.path.join(args.out, "samples.png"), pairs[0][1], firsts,
                            columns=3, clean_name="reference (the burst's mean)",
                            largest=plots.SHOWN_SIDE)
    spreads = noise_spreads(pairs)
    files.write_json(os.path.join(args.out, "results.json"),
                     {"pairs": args.pairs, "half": args.half,
                      "noise_level": str(args.noise_level),
                      "files": [os.path.basename(noisy) for noisy, _ in paths], "rows": rows,
                      "noise_spreads": spreads})
    table = markdown_table(rows, spreads, args, len(pairs))
    files.write_text(os.path.join(args.out, "results.md"), table)
    print(f"wrote results.md, results.json and samples.png in {args.out}")


if __name__ == "__main__":
    main()
