"""Choose the camera-noise estimate's two settings on half of the real pairs, score it on the other.

`--noise-level auto` (noise.estimate_noise_level) reads the finest wavelet details of a
picture. On a camera's pictures it sees about an eighth of the noise: the camera spreads its
noise between neighbouring pixels, and the finest details hold little of it.
noise.estimate_camera_noise_level also reads the picture averaged over blocks, where such
noise lives on, and scales that estimate. Its two settings, the block's side and the
factor, are chosen here on the even pairs of a real-pairs set (counting from 0 in name
order: the 1st, 3rd, 5th...), where the true spread is known (the shot minus its reference):

- for each block side, the factor that makes the estimate right on average over the even
  pairs (the geometric mean of true / estimate);
- the block side whose estimate is then closest to the truth over the even pairs (the
  smallest mean |log(estimate / true)|).

Then the odd pairs, which chose nothing, score the choice beside `auto`'s. Then the
references of the odd pairs get white Gaussian noise at a few levels (sigma on the 0-255
scale), to show what the camera estimate gives there beside `auto`.

With --model (a model told the noise level, trained on white Gaussian noise), one more
choice: how many times the camera estimate to tell it (denoise.py --noise-level camera
tells denoiser.CAMERA_LEVEL_FACTOR times it). Each factor of FACTORS denoises the even
pairs (as tools/real_pairs.py does, through denoise.py's functions), the best mean PSNR
chooses, and the odd pairs score the choice beside the model told `auto`'s estimate.

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
# The white noise of the last table: sigma on the 0-255 scale, and the seed of its draws.
WHITE_SIGMAS = (5, 15, 25, 50)
WHITE_SEED = 0
# The factors to choose from: how many times the camera estimate a model is told.
FACTORS = (1, 1.5, 2, 2.5, 3, 3.5, 4, 5)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.noise_estimator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", choices=data.REAL_PAIRS, default="polyu100",
                        help="the real pairs to choose on and score on (default: %(default)s)")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="use the first N pairs only (default: all)")
    parser.add_argument("--model", default=None,
                        help="a model told the noise level (.keras or .onnx), to choose how "
                             "many times the camera estimate to tell it (default: none, the "
                             "estimate alone)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose real-noise/<Set>/ holds the pairs (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download them)")
    parser.add_argument("--out", required=True,
                        help="the folder for results.md and results.json; it must not hold "
                             "them yet")
    args = parser.parse_args(argv)
    for name in ("results.md", "results.json"):
        if os.path.exists(os.path.join(args.out, name)):
            parser.error(f"argument --out: {args.out} holds {name} already: choose another")
    return args


def off_by(estimates, truths):
    """How far estimates are from the truth, as the mean of |log(estimate / true)| (0.2: about
    20% off, too high or too low alike)."""
    return float(np.mean(np.abs(np.log(np.asarray(estimates) / np.asarray(truths)))))


def choose(noisy, true, even):
    """For each block side, the factor fitted on the `even` pairs and how far the estimate
    then is from the truth there; and the side chosen, the one least far."""
    fine = np.array([noise.estimate_noise_level(picture) for picture in noisy])
    rows = []
    for block in BLOCKS:
        coarse = np.array([noise.estimate_noise_level(noise.block_means(picture, block))
                           for picture in noisy])
        factor = float(np.exp(np.mean(np.log(true[even] / coarse[even]))))
        estimates = np.maximum(fine, factor * coarse)
        rows.append({"block": block, "factor": round(factor, 2),
                     "off_by_even": off_by(estimates[even], true[even])})
    return rows, min(rows, key=lambda row: row["off_by_even"])


def summary(estimates, truths):
    """The estimate / true ratios of some pictures: their mean, lowest, highest, how far off
    (off_by), and the share within 25% of the truth."""
    ratios = np.asarray(estimates) / np.asarray(truths)
    return {"mean_ratio": float(np.mean(ratios)), "lowest": float(np.min(ratios)),
            "highest": float(np.max(ratios)), "off_by": off_by(estimates, truths),
            "within_25": float(np.mean(np.abs(ratios - 1) <= 0.25))}


def white_noise_rows(clean_pictures, chosen):
    """On the clean pictures with white Gaussian noise: both estimates against the truth, and
    the share of pictures where the camera estimate is `auto`'s own."""
    rng = np.random.default_rng(WHITE_SEED)
    rows = []
    for sigma in WHITE_SIGMAS:
        noisy = [np.clip(clean + rng.normal(0, sigma / 255, clean.shape), 0, 1)
                 for clean in clean_pictures]
        truths = [np.std(picture - clean) for picture, clean in zip(noisy, clean_pictures)]
        auto = [noise.estimate_noise_level(picture) for picture in noisy]
        camera = [noise.estimate_camera_noise_level(picture, chosen["block"], chosen["factor"])
                  for picture in noisy]
        rows.append({"sigma": sigma, "auto": summary(auto, truths),
                     "camera": summary(camera, truths),
                     "same": float(np.mean(np.array(auto) == np.array(camera)))})
    return rows


def told_denoiser(model, estimate, factor):
    """Denoise as denoise.py does, telling `model` `factor` times `estimate`(picture)."""
    def denoise(noisy):
        return denoiser.denoise_picture(model, noisy, ensemble=False,
                                        level=factor * estimate(noisy))
    return denoise


def choose_factor(model, pairs, chosen):
    """The mean PSNR on `pairs` (the even ones) of `model` told each factor of FACTORS times
    the camera estimate (with the `chosen` settings), and the best factor."""
    def camera_estimate(picture):
        return noise.estimate_camera_noise_level(picture, chosen["block"], chosen["factor"])
    rows = [{"factor": factor, "psnr": real_pairs.score(
        f"told {factor:g} x the camera estimate", told_denoiser(model, camera_estimate, factor),
        pairs)["psnr"]} for factor in FACTORS]
    return rows, max(rows, key=lambda row: row["psnr"])["factor"]


def score_factor(model, pairs, chosen, factor):
    """On `pairs` (the odd ones): the noisy shots, `model` told `auto`'s estimate, and told
    `factor` times the camera estimate: each real_pairs.score's row."""
    def camera_estimate(picture):
        return noise.estimate_camera_noise_level(picture, chosen["block"], chosen["factor"])
    return [real_pairs.score("noisy", lambda noisy: noisy, pairs),
            real_pairs.score("told auto's estimate",
                             told_denoiser(model, noise.estimate_noise_level, 1), pairs),
            real_pairs.score(f"told {factor:g} x the camera estimate",
                             told_denoiser(model, camera_estimate, factor), pairs)]


def model_markdown(told):
    """The factor's choice on the even pairs, and its score on the odd."""
    lines = ["", f"{told['model']}, told a factor times the camera estimate; mean PSNR (dB) "
             "over the even pairs:", "", "| factor | " + " | ".join(
                 f"{row['factor']:g}" for row in told["even"]) + " |",
             "|---|" + "---|" * len(told["even"]),
             "| PSNR | " + " | ".join(f"{row['psnr']:.2f}" for row in told["even"]) + " |",
             "", f"Chosen: {told['factor']:g} (denoiser.py uses "
             f"{denoiser.CAMERA_LEVEL_FACTOR:g}). Scored on the odd pairs:", "",
             "| method | PSNR (dB) | SSIM |", "|---|---|---|"]
    lines += [f"| {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} |"
              for row in told["odd"]]
    return lines


def markdown(result):
    """results.md: the choice on the even pairs, the score on the odd, and white noise."""
    chosen = result["chosen"]
    lines = [f"{result['pairs']}: {result['count']} real pairs; the true spread is the standard "
             "deviation of shot minus reference. Chosen on the even pairs:", "",
             "| block side | factor | mean \\|log(estimate / true)\\|, even pairs |",
             "|---|---|---|"]
    lines += [f"| {row['block']} | {row['factor']:.2f} | {row['off_by_even']:.3f} |"
              for row in result["choices"]]
    lines += ["", f"Chosen: blocks of {chosen['block']}x{chosen['block']}, factor "
              f"{chosen['factor']:.2f} (noise.py uses {noise.CAMERA_NOISE_BLOCK}x"
              f"{noise.CAMERA_NOISE_BLOCK} and {noise.CAMERA_NOISE_FACTOR:.2f}).", "",
              "Scored on the odd pairs (estimate / true):", "",
              "| estimate | mean | lowest | highest | mean \\|log\\| | within 25% |",
              "|---|---|---|---|---|---|"]
    for name, key in (("auto (finest details)", "auto"), ("camera (chosen above)", "camera")):
        row = result["odd"][key]
        lines.append(f"| {name} | {row['mean_ratio']:.2f} | {row['lowest']:.2f} | "
                     f"{row['highest']:.2f} | {row['off_by']:.3f} | {row['within_25']:.0%} |")
    lines += ["", "White Gaussian noise on the odd pairs' references (estimate / true, mean "
              "over the pictures):", "",
              "| sigma (of 255) | auto | camera | pictures where camera = auto |",
              "|---|---|---|---|"]
    lines += [f"| {row['sigma']} | {row['auto']['mean_ratio']:.2f} | "
              f"{row['camera']['mean_ratio']:.2f} | {row['same']:.0%} |"
              for row in result["white"]]
    if "told" in result:
        lines += model_markdown(result["told"])
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line("no results written")
    try:
        paths = data.real_pairs(args.pairs, args.data_dir, args.limit)
        pairs = [(denoiser.read_picture(noisy)[0], denoiser.read_picture(clean)[0])
                 for noisy, clean in paths]
        model = denoiser.load_model(args.model) if args.model else None
    except (data.DatasetError, denoiser.PictureError) as error:
        sys.exit(f"error: {error}")
    if model is not None and not noise.takes_noise_level(model):
        sys.exit(f"error: --model: {args.model} is not told the noise level (it guesses it); "
                 "give a unet-level model")
    if len(pairs) < 2:
        sys.exit("error: choosing on the even pairs and scoring on the odd needs 2 pairs or more")
    noisy = [picture for picture, _ in pairs]
    true = np.array([np.std(picture - clean) for picture, clean in pairs])
    even, odd = np.arange(0, len(pairs), 2), np.arange(1, len(pairs), 2)
    choices, chosen = choose(noisy, true, even)
    odd_noisy = [noisy[index] for index in odd]
    result = {"pairs": args.pairs, "count": len(pairs), "choices": choices, "chosen": chosen,
              "odd": {"auto": summary([noise.estimate_noise_level(p) for p in odd_noisy],
                                      true[odd]),
                      "camera": summary([noise.estimate_camera_noise_level(
                          p, chosen["block"], chosen["factor"]) for p in odd_noisy], true[odd])},
              "white": white_noise_rows([pairs[index][1] for index in odd], chosen),
              "files": [os.path.basename(path) for path, _ in paths]}
    if model is not None:
        even_rows, factor = choose_factor(model, [pairs[index] for index in even], chosen)
        result["told"] = {"model": os.path.basename(args.model), "even": even_rows,
                          "factor": factor, "odd": score_factor(
                              model, [pairs[index] for index in odd], chosen, factor)}
    os.makedirs(args.out, exist_ok=True)
    files.write_json(os.path.join(args.out, "results.json"), result)
    table = markdown(result)
    files.write_text(os.path.join(args.out, "results.md"), table)
    print(table + f"wrote results.md and results.json in {args.out}")


if __name__ == "__main__":
    main()
