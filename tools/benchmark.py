"""Benchmark: train every preset with its own recipe and score it on the full test set.

Each run is the training script itself, started as a user would start it
(`python train_conv.py --model small ...`), so the table measures exactly what a
learner gets: test PSNR/SSIM of the noisy input and of the denoised output (the same
fixed noisy test images for every run), training seconds, and the whole run's seconds
(start-up, loading, training, scoring and saving). A run that fails is reported in the
table, not a crash; the tool then exits with code 1, once every run has had its turn.

To score the trained models beside classical denoisers, and at other noise levels, give
their model.keras files to tools/compare.py.

Writes, into --out: one folder per run (with its model, metrics and pictures), a log of
each run, results.json and results.md (the Markdown table).

Example:
  python -m tools.benchmark                                 # every run below (hours)
  python -m tools.benchmark --runs unet strided-mse --dataset fashion_mnist
  python -m tools.benchmark --runs clean-target noise2noise --seeds 0 1 2 --train-limit 10000
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import noise
from machinery import arguments, files, signals

# The photo runs' recipe of docs/noisy-targets.md, but for the epochs and the target.
PHOTO_TARGETS_RECIPE = ["--model", "unet-psnr", "--dataset", "train400", "--test-dataset", "bsd68",
                        "--channels", "1", "--image-size", "64", "--batch-size", "32",
                        "--noise", "gaussian-unclipped", "--noise-level", "25/255",
                        "--loss", "mse"]
# The CPU recipe of the grey told-the-level model (docs/told-the-level.md), shortened to 50
# epochs, on every level from 10 to 55, with today's default turns and mirrors (that
# recipe had --no-flip-rotate).
PHOTO_LEVEL_RECIPE = ["--dataset", "train400", "--test-dataset", "bsd68", "--channels", "1",
                      "--image-size", "64", "--batch-size", "16", "--epochs", "50",
                      "--noise-level", "10/255:55/255"]
# Every run: name -> (script, extra arguments). Each preset trains with its own recipe
# (loss and epochs); "strided-mse" is the TensorFlow tutorial's recipe exactly (MSE).
RUNS = {
    "deep": ("train_dense.py", ["--model", "deep"]),
    "shallow32": ("train_dense.py", ["--model", "shallow32"]),
    "shallow64": ("train_dense.py", ["--model", "shallow64"]),
    "noise-layer": ("train_dense.py", ["--model", "noise-layer"]),
    "small": ("train_conv.py", ["--model", "small"]),
    "wide": ("train_conv.py", ["--model", "wide"]),
    "transpose": ("train_conv.py", ["--model", "transpose"]),
    "strided": ("train_conv.py", ["--model", "strided"]),
    "strided-mse": ("train_conv.py", ["--model", "strided", "--loss", "mse"]),
    "unet": ("train_conv.py", ["--model", "unet"]),
    "unet-noskip": ("train_conv.py", ["--model", "unet-noskip"]),  # what the skips bring
    "unet-psnr": ("train_conv.py", []),  # the default run: no --model, no recipe flags
    "unet-psnr-8": ("train_conv.py", ["--epochs", "8"]),  # what 10 minutes of training reach
    "unet-dense": ("train_conv.py", ["--model", "unet-dense"]),
    "unet-dense-8": ("train_conv.py", ["--model", "unet-dense", "--epochs", "8"]),
    # Aiming at the score (docs/aim-at-the-score.md), one change at a time from `unet`
    # (sigmoid output, cross-entropy, batches of 128) to `unet-psnr` (clipped output, PSNR
    # loss, batches of 64), 3 epochs each: first the batch, then the loss, then the output,
    # then the loss again.
    "unet-64": ("train_conv.py", ["--model", "unet", "--batch-size", "64"]),
    "unet-mse-64": ("train_conv.py", ["--model", "unet", "--loss", "mse", "--batch-size", "64"]),
    "unet-psnr-mse": ("train_conv.py", ["--model", "unet-psnr", "--loss", "mse"]),
    # Noise2Noise (docs/noisy-targets.md): the default U-Net, on unclipped noise with the MSE
    # loss (whose best answer to a noisy target is its mean, the clean digit), trained on
    # clean targets and on another noisy copy; one change between the two (the same 4000
    # digits, as make_docs trains them; --train-limit overrides both).
    "clean-target": ("train_conv.py", ["--loss", "mse", "--noise", "gaussian-unclipped",
                                       "--train-limit", "4000"]),
    "noise2noise": ("train_noisy_targets.py", ["--loss", "mse", "--noise", "gaussian-unclipped",
                                               "--train-limit", "4000", "--target", "noisy"]),
    # Fresh noise every epoch (the default) or one noisy copy of each digit drawn once, as
    # keras.io and the TensorFlow tutorial train (docs/results-one-change.md, "Fresh noise or
    # one fixed copy, over three seeds"): one change, after the default's 3 epochs and after
    # 30, where a model could learn the copies' noise.
    "fixed-noise": ("train_conv.py", ["--fixed-noise"]),
    "unet-psnr-30": ("train_conv.py", ["--epochs", "30"]),
    "fixed-noise-30": ("train_conv.py", ["--epochs", "30", "--fixed-noise"]),
    # One blind model (docs/blind.md): the default recipe over a range of levels, to be
    # scored at 0.2 beside `unet-psnr` by tools/compare.py (its own test score is at the
    # middle of the range).
    "blind": ("train_conv.py", ["--noise-level", "0.05:0.5"]),
    # No clean pictures, on photos (docs/noisy-targets.md): the same U-Net on Train400's grey
    # photos at sigma 25, aimed at the clean photos for 100 epochs, and at neighbour pairs
    # of one noisy copy of each for 200 (about the same time), with and without
    # Neighbor2Neighbor's regulariser. Each names its own dataset (--dataset is not passed).
    "photos-clean": ("train_photos.py", [*PHOTO_TARGETS_RECIPE, "--epochs", "100"]),
    "photos-neighbours": ("train_noisy_targets.py", [*PHOTO_TARGETS_RECIPE, "--epochs", "200",
                                                     "--target", "neighbours"]),
    "photos-neighbours-noreg": ("train_noisy_targets.py", [
        *PHOTO_TARGETS_RECIPE, "--epochs", "200", "--target", "neighbours",
        "--regulariser-weight", "0"]),
    # Told the level or blind (docs/told-the-level.md): unet-level and its blind twin, the
    # same network without the level input (one change), by the same recipe; each is scored
    # at the middle of the range, 32.5/255, and by tools/compare.py at 15, 25 and 50.
    "photos-level": ("train_photos.py", ["--model", "unet-level", *PHOTO_LEVEL_RECIPE]),
    "photos-level-blind": ("train_photos.py", ["--model", "unet-level-blind",
                                               *PHOTO_LEVEL_RECIPE]),
}
COLUMNS = ("run", "seed", "model", "loss", "epochs", "params", "train_seconds", "run_seconds",
           "noisy_psnr", "psnr", "noisy_ssim", "ssim")


def gaussian_level(text):
    """argparse type of --noise-level: a level that every run's Gaussian noise takes, such
    as 0.3 or 25/255; kept as written, to be passed on to the scripts."""
    noise.level_of("gaussian")(text)
    return text


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS),
                        help="which runs, in this order (default: all)")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"),
                        help="the dataset every digit run uses (default: mnist; the photo "
                             "runs, photos-*, name their own)")
    parser.add_argument("--noise-level", type=gaussian_level, default=None,
                        help="Gaussian noise factor for every digit run, 0 to 10 (default: the "
                             "scripts' 0.2; the photo runs keep their own)")
    parser.add_argument("--seeds", nargs="+", type=arguments.seed_number, default=[0],
                        help="run each run once per seed; with several, a second table gives "
                             "each run's mean PSNR and its spread (default: 0)")
    parser.add_argument("--train-limit", type=arguments.positive_int, default=None,
                        help="train every run on the first N training images (default: all)")
    parser.add_argument("--data-dir", default=None,
                        help="passed on to the scripts (default: $DENOISE_DATA_DIR or download)")
    parser.add_argument("--out", default=None,
                        help="the folder for the results (default: runs/benchmark-<dataset>); "
                             "it must not hold files yet")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join("runs", f"benchmark-{args.dataset}")
    if os.path.isdir(args.out) and os.listdir(args.out):
        parser.error(f"argument --out: {args.out} already holds files; choose another folder")
    return args


def run_one(name, seed, args):
    """Run one training script to the end; return its metrics, or the reason it failed."""
    script, extra = RUNS[name]
    command = [sys.executable, script, *extra, *settings_of(name, args), "--seed", str(seed)]
    if len(args.seeds) > 1:
        name = f"{name}-seed{seed}"
    command += ["--out", os.path.join(args.out, name)]
    for option, value in (("--train-limit", args.train_limit), ("--data-dir", args.data_dir)):
        if value is not None:
            command += [option, str(value)]
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    with open(os.path.join(args.out, f"{name}.log"), "w") as log:
        finished = signals.run_child(command, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        return {"run": name, "seed": seed,
                "failed": f"exit code {finished.returncode}, see {name}.log"}
    with open(os.path.join(args.out, name, "metrics.json")) as file:
        metrics = json.load(file)
    return {"run": name, "command": " ".join(["python", *command[1:]]),
            "run_seconds": round(seconds, 1), **metrics}


def own_dataset(name):
    """The dataset a run names itself (the photo runs), or None: then it takes the tool's."""
    extra = RUNS[name][1]
    return extra[extra.index("--dataset") + 1] if "--dataset" in extra else None


def settings_of(name, args):
    """The tool's --dataset and --noise-level, for a run that names no dataset of its own
    (every digit run; given last, they win over its own, as --train-limit does). A photo
    run keeps its dataset and its noise level."""
    if own_dataset(name):
        return []
    level = ["--noise-level", args.noise_level] if args.noise_level is not None else []
    return ["--dataset", args.dataset, *level]


def format_cell(value):
    if isinstance(value, float):
        return f"{value:.3f}" if value < 1.5 else f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown_table(results):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for result in results:
        if "failed" in result:
            cells = [result["run"], f"failed: {result['failed']}"] + [""] * (len(COLUMNS) - 2)
        else:
            cells = [format_cell(result[column]) for column in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread_table(results, names):
    """Each run's mean test PSNR over its seeds, and their spread (the standard deviation,
    and the lowest and highest), so that a gap between runs can be read against it."""
    lines = ["| run | seeds | mean PSNR | std | min | max |", "|---|---|---|---|---|---|"]
    for name in names:
        psnrs = [result["psnr"] for result in results
                 if result["run"].rsplit("-seed", 1)[0] == name and "failed" not in result]
        if psnrs:
            lines.append(f"| {name} | {len(psnrs)} | {statistics.mean(psnrs):.2f} | "
                         f"{statistics.pstdev(psnrs):.2f} | {min(psnrs):.2f} | {max(psnrs):.2f} |")
    return "\n".join(lines)


def machine_description():
    """The CPU (its model name, read from /proc/cpuinfo on Linux), its cores, and Python."""
    processor = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as file:
            names = [line.split(":", 1)[1].strip() for line in file if line.startswith("model name")]
        processor = names[0] if names else processor
    return f"{processor}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line(f"the runs that finished are in {args.out}")
    os.makedirs(args.out, exist_ok=True)
    results = []
    for name in args.runs:
        for seed in args.seeds:
            results.append(run_one(name, seed, args))
            print(markdown_table(results[-1:]).splitlines()[-1], flush=True)
    table = markdown_table(results)
    if len(args.seeds) > 1:
        table += "\n\n" + spread_table(results, args.runs)
    datasets = ", ".join(dict.fromkeys(own_dataset(name) or args.dataset for name in args.runs))
    level = args.noise_level or "of each run"
    if args.noise_level and any(own_dataset(name) for name in args.runs):
        level += " (the photo runs: their own)"
    training_images = f"the first {args.train_limit}" if args.train_limit else "all the"
    header = (f"Benchmark on {datasets}, noise level {level}, "
              f"{training_images} training images (a tenth of them held "
              f"out to validate on), full test set; "
              f"machine: {machine_description()}\n"
              f"Command: python -m tools.benchmark {' '.join(argv or sys.argv[1:])}\n")
    try:
        write_results(args.out, header + "\n" + table + "\n", results)
    except OSError as error:  # a full disk, a folder that became read-only
        sys.exit(f"error: could not write results.md and results.json into {args.out} "
                 f"({error.strerror or error}); each run's own folder and log are kept")
    print("\n" + header + "\n" + table)
    print(f"\nwrote results.md and results.json in {args.out}")
    failed = [f"{result['run']}.log" for result in results if "failed" in result]
    if failed:
        sys.exit(f"error: {len(failed)} of {len(results)} runs failed: "
                 f"{', '.join(failed)} in {args.out} {'says' if len(failed) == 1 else 'say'} why")


def write_results(out, markdown, results):
    """Write results.md and results.json into `out`, each whole or not at all."""

    def write_markdown(temporary):
        with open(temporary, "w") as file:
            file.write(markdown)

    files.replace_atomically(os.path.join(out, "results.md"), write_markdown)
    files.write_json(os.path.join(out, "results.json"),
                     {"machine": machine_description(), "results": results})


if __name__ == "__main__":
    main()
