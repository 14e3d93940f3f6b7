"""Choose the camera-noise estimate's settings on half of the real pairs, score it on the other.

`--noise-level auto` (noise.estimate_noise_level) reads the finest wavelet details of a
picture. On a camera's pictures it sees about an eighth of the noise: the camera spreads its
noise between neighbouring pixels, and the finest details hold little of it.
noise.estimate_camera_noise_level also reads the picture averaged over blocks, where such
noise lives on, and scales that estimate. Its two settings, the block's side and the
factor, are chosen here on half of a real-pairs set, where the true spread is known (the
shot minus its reference), and scored on the other half.

The halves are made of scenes, not of pairs: PolyU's 100 pairs are crops of 30 shots, and
crops of one shot share its camera, ISO and noise, so a shot's crops all go to one half.
The scenes, in name order, go in turn to the choosing half and to the scoring half.

- For each block side, the factor that makes the estimate right on average over the
  choosing half (the geometric mean of true / block estimate), rounded to 2 decimals;
- the block side whose estimate is then closest to the truth there (the smallest mean
  |log(estimate / true)|).

Then the scoring half, which chose nothing, scores the choice beside `auto`'s, and beside
the plainest rival, `auto`'s estimate times a factor fitted on the choosing half. Then
textured photos (the first TEXTURED_COUNT of TEXTURED_SET) with white Gaussian noise at a
few levels, from none up, show what the camera estimate gives where there is no camera:
where fine texture is strong beside the noise, it reads the texture as noise too.

With --model (a model told the noise level), one more choice: how many times the camera
estimate to tell it (denoise.py --noise-level camera tells noise.CAMERA_LEVEL_FACTOR times
it). Each factor of FACTORS denoises the choosing
half through denoise.py's own functions (denoiser.denoise_picture, rounded to 8 bits and
scored as tools/real_pairs.py scores), the best mean PSNR chooses, and the scoring half
scores the choice beside the model told `auto`'s estimate.

  python -m tools.noise_estimator --model models/unet-level-cbsd432.keras --out runs/noise-estimator

Writes into --out: results.md (the tables) and results.json (each pair's numbers).
"""

import argparse
import os
import sys

import numpy as np

import data
import denoiser
import noise
from machinery import arguments, files, signals
from tools import real_pairs

# The block sides to choose from.
BLOCKS = (2, 3, 4, 5, 6, 8)
# The textured photos of the last table, and the white noise added to them: sigma on the
# 0-255 scale (0: none), drawn with the seed of each photo's place in the list.
TEXTURED_SET = "cbsd68"
TEXTURED_COUNT = 20
WHITE_SIGMAS = (0, 5, 15, 25, 50)
# The factors to choose from: how many times the camera estimate a model is told.
FACTORS = (1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.noise_estimator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", choices=data.REAL_PAIRS, default="polyu100",
                        help="the real pairs to choose on and score on (default: %(default)s)")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="use the first N pairs only (default: all)")
    parser.add_argument("--textured-limit", type=arguments.positive_int, default=TEXTURED_COUNT,
                        help=f"how many {TEXTURED_SET} photos get white noise (default: "
                             f"%(default)s)")
    parser.add_argument("--model", default=None,
                        help="a model told the noise level (.keras or .onnx), to choose how "
                             "many times the camera estimate to tell it (default: none, the "
                             "estimate alone)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose real-noise/<Set>/ holds the pairs and images/ the "
                             f"photo sets (default: ${data.DATA_DIR_VARIABLE} if set, else "
                             f"download them)")
    parser.add_argument("--out", required=True,
                        help="the folder for results.md and results.json; it must not hold "
                             "them yet")
    args = parser.parse_args(argv)
    arguments.refuse_an_out_that_holds(parser, args.out, ("results.md", "results.json"))
    return args


def off_by(estimates, truths):
    """How far estimates are from the truth, as the mean of |log(estimate / true)| (0.2: about
    20% off, too high or too low alike)."""
    return float(np.mean(np.abs(np.log(np.asarray(estimates) / np.asarray(truths)))))


def fit_factor(estimates, truths):
    """The factor that makes `estimates` right on average: the geometric mean of true /
    estimate (estimates that are NaN, from a picture too flat to read, have no say), to 2
    decimals."""
    estimates, truths = np.asarray(estimates), np.asarray(truths)
    read = np.isfinite(estimates)
    return round(float(np.exp(np.mean(np.log(truths[read] / estimates[read])))), 2)


def choose(noisy, true):
    """For each block side, the factor fitted on `noisy` (the choosing half) and how far the
    camera estimate then is from the `true` spreads; and the side chosen, the one least far."""
    rows = []
    for block in BLOCKS:
        factor = fit_factor([noise.estimate_noise_level(noise.block_means(picture, block))
                             for picture in noisy], true)
        estimates = [noise.estimate_camera_noise_level(picture, block, factor)
                     for picture in noisy]
        rows.append({"block": block, "factor": factor, "off_by": off_by(estimates, true)})
    return rows, min(rows, key=lambda row: row["off_by"])


def summary(estimates, truths):
    """The estimate / true ratios of some pictures: their mean, lowest, highest, how far off
    (off_by), and the share within 25% of the truth."""
    ratios = np.asarray(estimates) / np.asarray(truths)
    return {"mean_ratio": float(np.mean(ratios)), "lowest": float(np.min(ratios)),
            "highest": float(np.max(ratios)), "off_by": off_by(estimates, truths),
            "within_25": float(np.mean(np.abs(ratios - 1) <= 0.25))}


def white_noise_rows(photos, chosen, scale):
    """On textured photos with white Gaussian noise at each of WHITE_SIGMAS: the noise's
    true spread, auto's estimate, `scale` times it, and the camera estimate, each the mean
    over the photos, on the 0-255 scale."""
    rows = []
    for sigma in WHITE_SIGMAS:
        noisy = [noise.add_noise(photo, "gaussian", sigma / 255, seed=index) if sigma else photo
                 for index, photo in enumerate(photos)]
        rows.append({"sigma": sigma,
                     "true": 255 * float(np.mean([np.std(picture - photo)
                                                  for picture, photo in zip(noisy, photos)])),
                     "auto": 255 * float(np.mean([noise.estimate_noise_level(picture)
                                                  for picture in noisy])),
                     "scaled_auto": 255 * scale * float(np.mean([
                         noise.estimate_noise_level(picture) for picture in noisy])),
                     "camera": 255 * float(np.mean([noise.estimate_camera_noise_level(
                         picture, chosen["block"], chosen["factor"]) for picture in noisy]))})
    return rows


def told_denoiser(model, level_of):
    """Denoise as denoise.py does, telling `model` the level `level_of`(picture)."""
    def denoise(noisy):
        return denoiser.denoise_picture(model, noisy, ensemble=False, level=level_of(noisy))
    return denoise


def choose_and_score_factor(model, choosing, scoring, chosen):
    """The factor to tell `model` times the camera estimate (with the `chosen` settings):
    each of FACTORS scored on the `choosing` pairs, the best mean PSNR kept; then, on the
    `scoring` pairs, the noisy shots, the model told `auto`'s estimate, and told the factor
    times the camera estimate (real_pairs.score's rows)."""
    def camera_times(factor):
        return lambda picture: factor * noise.estimate_camera_noise_level(
            picture, chosen["block"], chosen["factor"])
    rows = [{"factor": factor, "psnr": real_pairs.score(
        f"told {factor:g} x the camera estimate", told_denoiser(model, camera_times(factor)),
        choosing)["psnr"]} for factor in FACTORS]
    best = max(rows, key=lambda row: row["psnr"])["factor"]
    scored = [real_pairs.score("noisy", lambda noisy: noisy, scoring),
              real_pairs.score("told auto's estimate",
                               told_denoiser(model, noise.estimate_noise_level), scoring),
              real_pairs.score(f"told {best:g} x the camera estimate",
                               told_denoiser(model, camera_times(best)), scoring)]
    return rows, best, scored


def markdown(result):
    """results.md: the choice on one half, its score on the other, and textured photos."""
    chosen = result["chosen"]
    lines = [f"{result['pairs']}: {result['count']} real pairs, crops of {result['scenes']} "
             f"scenes; the true spread is the standard deviation of shot minus reference. "
             f"Chosen on {len(result['choosing'])} pairs (every other scene, from the first):",
             "", "| block side | factor | mean \\|log(estimate / true)\\| |", "|---|---|---|"]
    lines += [f"| {row['block']} | {row['factor']:.2f} | {row['off_by']:.3f} |"
              for row in result["choices"]]
    lines += ["", f"Chosen: blocks of {chosen['block']}x{chosen['block']}, factor "
              f"{chosen['factor']:.2f}.", "",
              f"Scored on the other {len(result['scoring'])} pairs (estimate / true):", "",
              "| estimate | mean | lowest | highest | mean \\|log\\| | within 25% |",
              "|---|---|---|---|---|---|"]
    for name, key in (("auto (finest details)", "auto"),
                      (f"auto times {result['scale']:.2f} (fitted on the same half)",
                       "scaled_auto"), ("camera (chosen above)", "camera")):
        row = result["scored"][key]
        lines.append(f"| {name} | {row['mean_ratio']:.2f} | {row['lowest']:.2f} | "
                     f"{row['highest']:.2f} | {row['off_by']:.3f} | {row['within_25']:.0%} |")
    lines += ["", f"Textured photos, the first {result['textured']} of {TEXTURED_SET}, with white "
              "Gaussian noise (clipped); spreads as standard deviations of 255, means over the "
              "photos:", "",
              f"| sigma added | true spread | auto | auto times {result['scale']:.2f} | camera |",
              "|---|---|---|---|---|"]
    lines += [f"| {row['sigma']} | {row['true']:.2f} | {row['auto']:.2f} | "
              f"{row['scaled_auto']:.2f} | {row['camera']:.2f} |" for row in result["white"]]
    if "told" in result:
        told = result["told"]
        lines += ["", f"{told['model']}, told a factor times the camera estimate; mean PSNR "
                  "(dB) over the choosing pairs:", "",
                  "| factor | " + " | ".join(f"{row['factor']:g}" for row in told["choosing"])
                  + " |", "|---|" + "---|" * len(told["choosing"]),
                  "| PSNR | " + " | ".join(f"{row['psnr']:.2f}" for row in told["choosing"])
                  + " |", "", f"Chosen: {told['factor']:g}. Scored on the other pairs:", "",
                  "| method | PSNR (dB) | SSIM |", "|---|---|---|"]
        lines += [f"| {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} |"
                  for row in told["scored"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("no results written")
    try:
        paths = data.real_pairs(args.pairs, args.data_dir, args.limit)
        pairs = real_pairs.read_pairs(paths)
        photos = data.load_folder(TEXTURED_SET, 3, args.textured_limit, args.data_dir)
        model = denoiser.load_model(args.model) if args.model else None
    except (data.DatasetError, denoiser.PictureError) as error:
        sys.exit(f"error: {error}")
    if model is not None and not noise.takes_noise_level(model):
        sys.exit(f"error: --model: {args.model} is not told the noise level (it guesses it); "
                 "give a unet-level model")
    choosing, scoring = data.real_pair_halves([noisy for noisy, _ in paths])
    if not scoring:
        sys.exit("error: choosing on one half of the scenes and scoring on the other needs 2 "
                 "scenes or more: give a larger --limit")
    flat = [os.path.basename(paths[index][0]) for index, (noisy, _) in enumerate(pairs)
            if not np.isfinite(noise.estimate_noise_level(noisy))]
    if flat:
        sys.exit(f"error: {', '.join(flat)}: too little detail to estimate the noise from")
    noisy = [picture for picture, _ in pairs]
    true = np.array([np.std(picture - clean) for picture, clean in pairs])
    choices, chosen = choose([noisy[index] for index in choosing], true[choosing])
    # The plainest rival: auto's estimate times a factor fitted on the same half.
    scale = fit_factor([noise.estimate_noise_level(noisy[index]) for index in choosing],
                       true[choosing])
    scored = [noisy[index] for index in scoring]
    auto_scored = [noise.estimate_noise_level(picture) for picture in scored]
    result = {"pairs": args.pairs, "count": len(pairs),
              "scenes": len({data.real_pair_scene(path) for path, _ in paths}),
              "choosing": choosing, "scoring": scoring, "choices": choices, "chosen": chosen,
              "scale": scale,
              "scored": {"auto": summary(auto_scored, true[scoring]),
                         "scaled_auto": summary(scale * np.array(auto_scored), true[scoring]),
                         "camera": summary([noise.estimate_camera_noise_level(
                             p, chosen["block"], chosen["factor"]) for p in scored],
                             true[scoring])},
              "textured": len(photos), "white": white_noise_rows(photos, chosen, scale),
              "files": [os.path.basename(path) for path, _ in paths]}
    if model is not None:
        rows, factor, scored_rows = choose_and_score_factor(
            model, [pairs[index] for index in choosing], [pairs[index] for index in scoring],
            chosen)
        result["told"] = {"model": os.path.basename(args.model), "choosing": rows,
                          "factor": factor, "scored": scored_rows}
    os.makedirs(args.out, exist_ok=True)
    files.write_json(os.path.join(args.out, "results.json"), result)
    table = markdown(result)
    files.write_text(os.path.join(args.out, "results.md"), table)
    print(table + f"wrote results.md and results.json in {args.out}")


if __name__ == "__main__":
    main()
