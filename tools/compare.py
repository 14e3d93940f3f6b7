"""Compare denoisers: trained models beside classical methods, on the same noisy images.

How good is an autoencoder? A number means little alone, so this script scores, on one
fixed noisy test set (seeded, the same one the training scripts score on):
- the noisy input itself: the floor every denoiser must clear;
- the classical denoisers of tools/classical.py (Gaussian filter, median, total variation,
  non-local means, wavelet, and BM3D when the `bm3d` package is installed), each with
  its strength tuned on noisy *training* images, never on the test images;
- every trained model file given with --models, a run's model.keras or one of models/
  (and, with --self-ensemble, each model again, averaged over the 8 orientations of
  every image: the row "<name> x8"). A model told the noise level (unet-level) is told
  the true level, and in a row of its own, "<name>, level estimated", each image's level
  as noise.estimate_noise_level estimates it (denoise.py --noise-level auto). Of a noise
  whose level is no standard deviation (camera noise's ISO, Poisson's photon count), there
  is no true level to tell: it is told what denoise.py --add-noise tells (noise.Noise.told:
  for camera noise, 3.5 times the camera estimate), beside the estimate's row.

For each: mean PSNR, mean SSIM and seconds per image (wall clock on this machine: the
classical methods run on --workers processes, the models on TensorFlow's threads).
With --sweep, it scores everything again at other test noise levels: does a model
trained at one level cope with others?

Writes into --out: results.md (the Markdown table), results.json, psnr.png (a bar
chart; on BSD68 in grey or CBSD68 in colour at sigma 15, 25 or 50, with the published
scores of tools/published.py beside ours), samples.png (the same test images under every
method; of photos, the first one's most detailed 192x192 window at full size) and, with
--sweep, sweep.png. A method that fails is reported in the table, not a crash.

Examples:
  python -m tools.compare --models runs/unet-psnr-mnist/model.keras --limit 1000
  python -m tools.compare --models runs/unet-psnr-mnist/model.keras --limit 300 \\
      --sweep 0.05 0.1 0.2 0.3 0.4 0.5 0.6
  python -m tools.compare --dataset bsd68 --channels 1 \\
      --tune-dataset train400 --noise gaussian-unclipped --noise-level 25/255
"""

import argparse
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import keras
import numpy as np

import data
import denoiser  # (its load_model registers the custom layers, loss and metric a model names)
import metrics
import noise
import noisy_targets
import plots
from machinery import arguments, files, runs, signals
from tools import classical, published
from tools.benchmark import machine_description

# Noisy training images the classical methods tune their strength on.
TUNING_IMAGES = 32
# Photos are tuned on their central crop of this many pixels a side, to keep tuning quick.
TUNING_CROP = 128
# The noise on the tuning images: drawn apart from the test noise on purpose.
TUNING_NOISE_SEED = 1
# Images per task handed to a worker process.
CHUNK_SIZE = 16
# Test images shown under every method in samples.png.
SAMPLE_COUNT = 6
# Pictures larger than this a side are photos, drawn one at a time at full resolution.
SMALL_IMAGE_SIDE = 64
# Free space --out needs for the results (tables, pictures) before any scoring starts.
RESULTS_BYTES = 10 * 2**20
# The colour of each kind of method in psnr.png.
KIND_COLOURS = {"input": "tab:gray", "classical": "tab:orange", "model": "tab:blue",
                "published": "tab:green"}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[], metavar="MODEL.keras",
                        help="trained model files to score (default: none, classical only)")
    parser.add_argument("--dataset", default="mnist",
                        help="mnist, fashion_mnist (their test split), a photo set (" +
                             ", ".join(data.PHOTO_SETS) + "), or a folder of PNG/JPEG "
                             "test pictures (default: mnist)")
    parser.add_argument("--tune-dataset", default=None,
                        help="with a photo --dataset: a photo set or a folder of other "
                             "pictures that the classical methods tune on (required there, unless "
                             "--classical names none; MNIST and Fashion-MNIST tune on their "
                             "training split)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1,
                        help="for folders: 1 = grey, 3 = colour (default: 1)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with mnist/ and fashion-mnist/ IDX files, and photo "
                             f"sets in images/<Set>/ (default: ${data.DATA_DIR_VARIABLE} if set, "
                             f"else download)")
    parser.add_argument("--noise", type=noise.kind_argument, default="gaussian", metavar="KIND",
                        help="the kind of noise: " + noise.kind_help() + " (default: gaussian)")
    parser.add_argument("--noise-level", type=noise.level_argument, default=None,
                        help="its strength, as in the training scripts; a fraction such as "
                             "25/255 works (default: that kind's default, 0.2 for gaussian)")
    parser.add_argument("--classical", nargs="*", choices=classical.METHOD_NAMES,
                        default=list(classical.METHOD_NAMES), metavar="METHOD",
                        help=f"the classical methods to run, of: "
                             f"{', '.join(classical.METHOD_NAMES)} (default: all; none: "
                             f"--classical with no names)")
    parser.add_argument("--sweep", type=noise.level_argument, nargs="+", default=None,
                        metavar="LEVEL",
                        help="also score every method at each of these test noise levels and "
                             "draw sweep.png (default: no sweep)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="also score each model as an average over the 8 orientations of "
                             "every image, in a row of its own named '<model> x8' (8 times "
                             "its time; default: each model once, as it is)")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="score the first N test images only (default: all)")
    parser.add_argument("--workers", type=arguments.positive_int, default=os.cpu_count(),
                        help=f"processes for the classical methods (default: {os.cpu_count()}, "
                             f"one per CPU core)")
    parser.add_argument("--out", default=None,
                        help="the folder for the results (default: runs/compare-<dataset>-"
                             "<noise>-<level>); it must not hold files yet")
    args = parser.parse_args(argv)
    if args.noise_level is None:
        args.noise_level = noise.noise_kind(args.noise).default_level
    try:
        for level in [args.noise_level, *(args.sweep or [])]:
            noise.check_level(args.noise, level)
    except ValueError as error:
        parser.error(f"argument --noise-level/--sweep: {error}")
    if args.classical and args.dataset not in data.DATASETS and args.tune_dataset is None:
        parser.error("argument --tune-dataset: needed with a folder --dataset and classical "
                     "methods, so that they are not tuned on the test pictures")
    for path in args.models:
        if not os.path.isfile(path):
            parser.error(f"argument --models: no such file: {path}")
    name = os.path.basename(os.path.normpath(args.dataset))
    kind = re.sub(r"[^\w.-]+", "-", args.noise)  # "camera:Nikon D800" -> camera-Nikon-D800
    args.out = args.out or os.path.join(
        runs.RUNS_FOLDER, f"compare-{name}-{kind}-{args.noise_level:.3g}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"argument --out: {args.out} is a file, not a folder")
    if os.path.isdir(args.out) and os.listdir(args.out):
        parser.error(f"argument --out: {args.out} already holds files; choose another folder")
    return args


# ## The images
#
# MNIST and Fashion-MNIST come as arrays (every image 28x28); a folder of photos as a
# list of arrays of different sizes. Everything below takes either.

def load_images(args):
    """Return (test images, tuning images), clean: the test images as an array or a list of
    (H, W, C) arrays, the tuning images as a list (for a folder --dataset, empty when no
    classical method runs: there is then no --tune-dataset to read)."""
    if args.dataset in data.DATASETS:
        (tuning, _), (test, _) = data.load_dataset(args.dataset, args.data_dir,
                                                   train_limit=TUNING_IMAGES,
                                                   test_limit=args.limit)
        return test, list(tuning)
    test = data.load_folder(args.dataset, args.channels, limit=args.limit,
                            data_dir=args.data_dir)
    if not args.classical:
        return test, []
    tuning = data.load_folder(args.tune_dataset, args.channels, limit=TUNING_IMAGES,
                              data_dir=args.data_dir)
    return test, [data.centre_crop(image, TUNING_CROP) for image in tuning]


# ## The classical methods
#
# Each one is tuned first: every candidate strength denoises the noisy tuning images,
# and the strength with the best mean PSNR is kept. Then it denoises the test images.

def denoise_in_parallel(pool, name, value, images, progress=True):
    """Run classical method `name` over `images`, chunk by chunk on the worker processes."""
    chunks = [images[start : start + CHUNK_SIZE] for start in range(0, len(images), CHUNK_SIZE)]
    bar = keras.utils.Progbar(len(images), unit_name="image", verbose=int(progress))
    denoised = []
    for chunk in pool.map(partial(classical.denoise_images, name, value), chunks):
        denoised.extend(chunk)
        bar.add(len(chunk))
    return denoised


def tune(pool, name, tuning_clean, tuning_noisy):
    """The candidate strength of method `name` with the best mean PSNR on the tuning images."""
    method = classical.METHODS[name]
    candidates = method.candidates(classical.estimate_noise_sigma(tuning_noisy))
    if len(candidates) == 1:
        return candidates[0]
    scores = [metrics.image_quality(tuning_clean, denoise_in_parallel(
        pool, name, value, tuning_noisy, progress=False))["psnr"] for value in candidates]
    print(f"tuned {name} on {len(tuning_clean)} training images: " + ", ".join(
        f"{value} -> {score:.2f} dB" for value, score in zip(candidates, scores)))
    return candidates[int(np.argmax(scores))]


def score_classical(pool, name, tuning_clean, tuning_noisy, noisy):
    """Tune method `name` on the tuning images, then denoise the noisy test images.

    Returns (denoised, seconds the test images took, the setting used).
    """
    method = classical.METHODS[name]
    value = tune(pool, name, tuning_clean, tuning_noisy)
    setting = method.parameter if value is None else f"{method.parameter} = {value}"
    print(f"{name}, {setting}: denoising {len(noisy)} test images")
    denoised, seconds = timed(denoise_in_parallel, pool, name, value, list(noisy))
    return denoised, seconds, setting


def timed(function, *arguments):
    """Call function(*arguments); return its result and the seconds it took."""
    start = time.perf_counter()
    result = function(*arguments)
    return result, time.perf_counter() - start


# ## The models

def load_models(paths):
    """Load each model file, named as model_name_and_metrics says: name -> (model, how it
    was trained), or name -> why it did not load.

    Loaded as denoise.py loads them, with safe mode on. A file that does not load
    becomes its reason, reported in the table.
    """
    models = {}
    for path in paths:
        name, metrics_path = model_name_and_metrics(path)
        name = path if name in models else name
        try:
            models[name] = denoiser.load_model(path), how_trained(metrics_path)
        except denoiser.PictureError as error:  # not a Keras model, or not image to image
            models[name] = f"cannot load {error}"
            print(f"error: {name}: {models[name]}", file=sys.stderr)
    return models


def model_name_and_metrics(path):
    """A model's name in the table, and the metrics.json its training wrote.

    A run's model.keras is named after its folder, beside its metrics.json
    (runs/unet-mnist/model.keras -> unet-mnist); any other file after itself, beside
    its <name>.metrics.json, as in models/ (models/unet-mnist-blind.keras ->
    unet-mnist-blind, models/unet-mnist-blind.metrics.json).
    """
    folder, file = os.path.split(os.path.abspath(path))
    if file == runs.MODEL_FILE:
        return os.path.basename(folder), os.path.join(folder, runs.METRICS_FILE)
    name = os.path.splitext(file)[0]
    return name, os.path.join(folder, f"{name}.{runs.METRICS_FILE}")


def how_trained(metrics_path):
    """The recipe in a model's metrics.json, in a few words, for the table."""
    try:
        run = files.read_json(metrics_path, None)
        if run is None:
            return "trained model"
        dataset = os.path.basename(os.path.normpath(run["dataset"]))  # a folder: its name
        target = run.get("target", "clean")  # older runs trained on clean targets alone
        weight = run.get("regulariser_weight",
                         noisy_targets.REGULARISER_WEIGHT_BEFORE_THE_SETTING)
        return (f"{run['model']}, {run['loss']}, {run['epochs']} epochs, trained on "
                f"{dataset} at {run['noise']} {noise.level_text(run['noise_level'])}"
                + ("" if target == "clean" else f", {target} as targets")
                + (f", regulariser weight {weight:g}" if target == noisy_targets.NEIGHBOURS
                   and weight != noisy_targets.REGULARISER_WEIGHT else "")
                + (", turned and mirrored" if run.get("flip_rotate") else ""))
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:  # damaged
        return f"trained model ({os.path.basename(metrics_path)} is unreadable: {error!r})"


def denoise_with_model(model, noisy, level=None, ensemble=False):
    """Denoise an array of same-size images in batches, or a list of photos one by one
    (padded or tiled as denoise.py does it); a model that takes the noise level is told
    `level`, the truth, or with noise.AUTO or CAMERA what each image's estimate says
    (denoiser.level_to_tell); with `ensemble`, in 8 orientations each."""
    levels = [denoiser.level_to_tell(model, image, level) for image in noisy]
    if isinstance(noisy, np.ndarray):
        expected = denoiser.image_shape(model)[1:]
        if any(size not in (None, actual) for size, actual in zip(expected, noisy.shape[1:])):
            raise ValueError(f"the model takes images of shape {expected}, not {noisy.shape[1:]}")

        def predict(images):
            inputs = noise.model_inputs(images, levels, noise.takes_noise_level(model))
            return model.predict(inputs, batch_size=256, verbose=0)

        denoised = denoiser.self_ensemble(predict, noisy) if ensemble else predict(noisy)
        return np.clip(denoised, 0.0, 1.0)
    return [denoiser.denoise_picture(model, image, ensemble=ensemble, level=told)
            for image, told in zip(noisy, levels)]


# ## Scoring everything at one noise level

def one_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def score_everything(pool, args, level, models, clean, tuning_clean):
    """Score the noisy input, every classical method and every model at noise `level`.

    Returns (rows of the table, noisy test images, each method's denoised images).
    """
    noisy = noise.fixed_noisy_copy(clean, args.noise, level)
    tuning_noisy = noise.corrupt_each(tuning_clean, args.noise, level, TUNING_NOISE_SEED)
    rows, outputs = [], {}
    print(f"\n{noise.describe(args.noise, level)}: {len(clean)} test images")

    def record(name, kind, run):
        """Call run() -> (denoised, seconds, setting); add its scores, or why it failed."""
        try:
            denoised, seconds, setting = run()
            scores = metrics.image_quality(clean, denoised)
        except Exception as error:  # one broken method must not cost the others' results
            rows.append({"method": name, "kind": kind, "failed": one_line(error)})
            print(f"{name} failed: {rows[-1]['failed']}", file=sys.stderr)
            return
        rows.append({"method": name, "kind": kind, "setting": setting, **scores,
                     "seconds_per_image": seconds / len(clean)})
        outputs[name] = denoised
        print(f"{name}: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.3f}")

    record("noisy input", "input", lambda: (noisy, 0.0, "no denoising"))
    for name in args.classical:
        if name not in classical.METHODS:
            rows.append({"method": name, "kind": "classical", "failed": classical.BM3D_MISSING})
            continue
        record(name, "classical",
               lambda: score_classical(pool, name, tuning_clean, tuning_noisy, noisy))
    # What a model told the level is told: the true level, where it is the noise's standard
    # deviation; else (an ISO, a photon count) what denoise.py --add-noise tells it.
    told_level = noise.noise_kind(args.noise).told or level
    told = {level: "told the true level", noise.AUTO: "told each image's estimated level",
            noise.CAMERA: f"told {noise.CAMERA_LEVEL_FACTOR:g} times each image's camera "
                             "estimate"}[told_level]
    for name, loaded in models.items():
        if isinstance(loaded, str):  # it did not load: the reason
            rows.append({"method": name, "kind": "model", "failed": loaded})
            continue
        model, setting = loaded
        told_the_level = noise.takes_noise_level(model)
        if told_the_level:
            record(name, "model", lambda: (*timed(denoise_with_model, model, noisy, told_level),
                                           f"{setting}; {told}"))
            if told_level != noise.AUTO:
                record(f"{name}, level estimated", "model", lambda: (
                    *timed(denoise_with_model, model, noisy, noise.AUTO),
                    f"{setting}; told each image's estimated level"))
        else:
            record(name, "model", lambda: (*timed(denoise_with_model, model, noisy), setting))
        if args.self_ensemble:
            record(f"{name} x8", "model", lambda: (
                *timed(denoise_with_model, model, noisy, told_level, True),
                f"{setting}; {told + ', ' if told_the_level else ''}mean of 8 orientations"))
    return rows, noisy, outputs


# ## The results

def format_row(row):
    if "failed" in row:
        return f"| {row['method']} | {row['kind']} | not run: {row['failed']} | | | |"
    return (f"| {row['method']} | {row['kind']} | {row['setting']} | {row['psnr']:.2f} | "
            f"{row['ssim']:.3f} | {row['seconds_per_image']:.4f} |")


def markdown_table(rows):
    header = ["| method | kind | setting | PSNR (dB) | SSIM | seconds per image |",
              "|---|---|---|---|---|---|"]
    return "\n".join(header + [format_row(row) for row in rows])


def write_results(args, rows, sweep, clean, outputs):
    """Write results.md, results.json, psnr.png, samples.png and (with --sweep) sweep.png."""
    command = "python " + " ".join(["-m", "tools.compare", *sys.argv[1:]])
    what = (f"{args.dataset}, {noise.describe(args.noise, args.noise_level)}, "
            f"{len(clean)} test images")
    machine = machine_description()
    header = (f"{what}\nmachine: {machine}, {args.workers} worker processes\n"
              f"command: {command}\n")
    table = markdown_table(rows)
    summary = {"dataset": args.dataset, "noise": args.noise, "noise_level": args.noise_level,
               "test_images": len(clean), "machine": machine,
               "command": command, "results": rows}
    if sweep:
        summary["sweep"] = sweep

    def path(name):
        return os.path.join(args.out, name)

    # Beside our scores, the papers' own on the same benchmark and sigma (not measured here).
    bars = [(row["method"], row["psnr"], row["kind"]) for row in rows if "failed" not in row]
    papers = published.scores_at(args.dataset, args.channels, args.noise, args.noise_level)
    bars += [(f"{method} (published)", psnr, "published") for method, psnr in papers]
    title = what + ("; a bar marked (published) is a paper's score, on noise of its own draw"
                    if papers else "")
    plots.save_bar_chart(path("psnr.png"), [name for name, _, _ in bars],
                         [psnr for _, psnr, _ in bars], [KIND_COLOURS[kind] for *_, kind in bars],
                         title)
    if max(clean[0].shape[:2]) > SMALL_IMAGE_SIDE:  # a photo: the first one, at full size
        plots.save_side_by_side(path("samples.png"), clean[0],
                                {name: images[0] for name, images in outputs.items()},
                                largest=plots.SHOWN_SIDE)
    else:
        plots.save_rows(path("samples.png"), clean, outputs, SAMPLE_COUNT)
    if sweep:
        scale = noise.noise_kind(args.noise).sigma_scale  # sigma on 0-255 for photo noise, as papers give it
        plots.save_sweep(path("sweep.png"), [level * scale for level in sweep["levels"]],
                         sweep["psnr"], f"{args.dataset}, {args.noise} noise",
                         "test noise: sigma (of 255)" if scale != 1 else "test noise level",
                         emphasised=[row["method"] for row in rows if row["kind"] == "model"]
                         or None)  # no model: every method alike
    files.write_text(path("results.md"), header + "\n" + table + "\n")
    files.write_json(path("results.json"), summary)
    plots.close_figures()
    print("\n" + header + "\n" + table)
    print(f"\nwrote results.md, results.json and the pictures in {args.out}")


def main(argv=None):
    args = parse_arguments(argv)
    signals.stop_in_one_line(f"nothing of this comparison was written into {args.out}")
    plots.prepare(show=False)
    try:
        clean, tuning_clean = load_images(args)
    except data.DatasetError as error:
        sys.exit(f"error: {error}")
    models = load_models(args.models)
    try:
        os.makedirs(args.out, exist_ok=True)
        files.check_free_space(args.out, RESULTS_BYTES, "the results")
    except OSError as error:  # a read-only place, a full disk
        sys.exit(f"error: --out {args.out}: {error.strerror}")
    # "spawn": fresh worker processes, rather than forks of this one and its TensorFlow threads.
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows, noisy, outputs = score_everything(pool, args, args.noise_level, models, clean,
                                                tuning_clean)
        sweep = None
        if args.sweep:
            psnrs = {}
            for level in args.sweep:
                level_rows = rows if level == args.noise_level else score_everything(
                    pool, args, level, models, clean, tuning_clean)[0]
                for row in level_rows:
                    psnrs.setdefault(row["method"], []).append(row.get("psnr"))
            sweep = {"levels": args.sweep, "psnr": psnrs}
    try:
        write_results(args, rows, sweep, clean, outputs)
    except OSError as error:  # the disk filled meanwhile: what was written is whole
        sys.exit(f"error: cannot write {error.filename or args.out}: {error.strerror or error}")
    failed = [row["method"] for row in rows if row["kind"] == "model" and "failed" in row]
    if failed:  # the others are scored and written; the run as a whole failed
        sys.exit(f"error: {len(failed)} model(s) not scored ({', '.join(failed)}): see above; "
                 f"the rest are in {args.out}")


if __name__ == "__main__":
    main()
