"""What both training scripts do the same way, so each script can tell its models' story.

- `parse_arguments`: the command line every training script shares (`--help` lists it);
- `load_data`: the dataset, or one clear line and exit code 1 when it cannot be had;
- `train`: compile with Adam and a cosine-decayed learning rate, then `model.fit` on
  batches with fresh noise, validating on the fixed noisy test images every epoch;
- `evaluate`: denoise the test images; PSNR and SSIM of the noisy input and the output;
- `save_results`: model.keras, metrics.json (each written whole or not at all),
  samples.png and history.png.
"""

import argparse
import json
import math
import os
import sys
import time
from typing import Callable, NamedTuple

import keras

import data
import metrics
import noise
import plots

# --loss choices, and the Keras loss each one names.
LOSSES = {"mse": "mean_squared_error", "bce": "binary_crossentropy"}
# Where runs go when --out is not given: runs/<model>-<dataset>, numbered if taken.
RUNS_FOLDER = "runs"
# The learning rate falls along a cosine from --learning-rate to this fraction of it.
FINAL_LEARNING_RATE_FRACTION = 0.05


class Recipe(NamedTuple):
    """A model preset: the function that builds it, and how it trains by default."""

    build: Callable
    loss: str  # a key of LOSSES
    epochs: int
    description: str


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def build_parser(description, recipes, default_model):
    """The command line of a training script whose presets are `recipes`."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    models_help = "; ".join(
        f"{name}: {recipe.description} ({recipe.loss}, {recipe.epochs} epochs)"
        for name, recipe in recipes.items()
    )
    parser.add_argument("--model", choices=recipes, default=default_model,
                        help=f"the model preset (default: {default_model}). {models_help}")
    parser.add_argument("--dataset", choices=data.DATASETS, default="mnist",
                        help="the images to learn from (default: mnist)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with mnist/ and fashion-mnist/ IDX files (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download with keras.datasets)")
    parser.add_argument("--noise", choices=noise.NOISE_KINDS, default="gaussian",
                        help="the kind of noise to remove (default: gaussian)")
    parser.add_argument("--noise-level", type=float, default=None,
                        help="how strong the noise is: " + "; ".join(
                            f"{kind}: {meaning}, default {noise.DEFAULT_LEVELS[kind]:g}"
                            for kind, meaning in noise.LEVEL_MEANINGS.items()))
    parser.add_argument("--loss", choices=LOSSES, default=None,
                        help="mse (mean squared error) or bce (binary cross-entropy) "
                             "(default: the preset's own)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training images (default: the preset's own)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="images per training step (default: 128)")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="Adam's starting learning rate; it decays along a cosine "
                             "(default: 0.001)")
    parser.add_argument("--train-limit", type=positive_int, default=None,
                        help="train on the first N training images only (default: all)")
    parser.add_argument("--test-limit", type=positive_int, default=None,
                        help="score on the first N test images only (default: all)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the weights, the batch order and the training noise; "
                             "the test noise has a fixed seed of its own (default: 0)")
    parser.add_argument("--out", default=None,
                        help=f"the folder for the run's files (default: a new "
                             f"{RUNS_FOLDER}/<model>-<dataset>[-N])")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow writing into an --out folder that already has files")
    parser.add_argument("--show", action="store_true",
                        help="also open the figures in windows at the end")
    return parser


def parse_arguments(description, recipes, default_model, argv=None):
    """Parse and check the command line; fill in the preset's defaults; make --out.

    A bad value exits with code 2 and the usage line, before any work is done.
    """
    parser = build_parser(description, recipes, default_model)
    args = parser.parse_args(argv)
    recipe = recipes[args.model]
    args.loss = args.loss or recipe.loss
    args.epochs = args.epochs or recipe.epochs
    if args.noise_level is None:
        args.noise_level = noise.DEFAULT_LEVELS[args.noise]
    try:
        noise.check_level(args.noise, args.noise_level)
    except ValueError as error:
        parser.error(f"argument --noise-level: {error}")
    if args.out is None:
        args.out = new_run_folder(f"{args.model}-{args.dataset}")
    elif os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"argument --out: {args.out} is a file, not a folder")
    elif os.path.isdir(args.out) and os.listdir(args.out) and not args.overwrite:
        parser.error(f"argument --out: {args.out} already holds files; "
                     "choose another folder or pass --overwrite")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --out: cannot create {args.out}: {error.strerror}")
    print(f"{args.model} on {args.dataset}, {args.noise} noise at {args.noise_level:g}, "
          f"{args.epochs} epochs -> {args.out}")
    return args


def new_run_folder(name):
    """runs/<name>, or runs/<name>-2, -3, ... : the first that is missing or empty."""
    folder, number = os.path.join(RUNS_FOLDER, name), 1
    while os.path.isdir(folder) and os.listdir(folder):
        number += 1
        folder = os.path.join(RUNS_FOLDER, f"{name}-{number}")
    return folder


def load_data(args):
    """(x_train, y_train), (x_test, y_test) as the arguments ask, or exit 1 with one line."""
    try:
        return data.load_dataset(args.dataset, args.data_dir, args.train_limit, args.test_limit)
    except data.DatasetError as error:
        sys.exit(f"error: {error}")


def train(model, batches, validation_data, args):
    """Compile and fit `model`; return its per-epoch history and the seconds it took.

    The history also holds epoch 0, the untrained model, so that a curve (and a test)
    can see the validation loss fall even after a single epoch.
    """
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(batches), alpha=FINAL_LEARNING_RATE_FRACTION
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=LOSSES[args.loss],
                  metrics=[metrics.psnr])
    untrained = model.evaluate(*validation_data, batch_size=256, verbose=0, return_dict=True)
    print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
    start = time.perf_counter()
    fitted = model.fit(batches, epochs=args.epochs, validation_data=validation_data,
                       callbacks=[keras.callbacks.TerminateOnNaN()], verbose=2)
    seconds = time.perf_counter() - start
    if not all(math.isfinite(loss) for loss in fitted.history["loss"]):
        give_up(args.out, f"the training loss became NaN or infinite in epoch "
                          f"{len(fitted.history['loss'])}; try a lower --learning-rate")
    history = {
        "loss": fitted.history["loss"],
        "val_loss": [untrained["loss"]] + fitted.history["val_loss"],
        "val_psnr": [untrained["psnr"]] + fitted.history["val_psnr"],
    }
    return history, seconds


def give_up(folder, reason):
    """Leave FAILED.txt with the reason in the run's folder, and exit 1 with one line."""
    with open(os.path.join(folder, "FAILED.txt"), "w") as file:
        file.write(reason + "\n")
    sys.exit(f"error: {reason}")


def evaluate(model, clean, noisy):
    """Denoise the noisy test images; score input and output against the clean ones."""
    denoised = model.predict(noisy, batch_size=256, verbose=0)
    before, after = metrics.image_quality(clean, noisy), metrics.image_quality(clean, denoised)
    print(f"test PSNR: noisy {before['psnr']:.2f} dB -> denoised {after['psnr']:.2f} dB; "
          f"SSIM: noisy {before['ssim']:.3f} -> denoised {after['ssim']:.3f}")
    scores = {"noisy_psnr": before["psnr"], "noisy_ssim": before["ssim"],
              "psnr": after["psnr"], "ssim": after["ssim"]}
    return denoised, scores


def replace_atomically(path, write):
    """Call write(temporary_path), then rename it to `path`: the file appears whole or not at all."""
    root, extension = os.path.splitext(path)
    temporary = f"{root}.partial{extension}"  # Keras wants the .keras extension kept
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_results(args, model, history, train_seconds, train_images, scores, test_images):
    """Write samples.png, history.png, model.keras and, last, metrics.json into args.out.

    `test_images` is (clean, noisy, denoised); the first ten of each go in samples.png.
    Each file appears whole or not at all, and metrics.json, the sign of a finished run,
    only once everything else is in place.
    """
    clean, noisy, denoised = test_images
    results = {
        "dataset": args.dataset, "noise": args.noise, "noise_level": args.noise_level,
        "model": args.model, "params": model.count_params(), "epochs": args.epochs,
        "train_seconds": round(train_seconds, 2), "test_images": len(clean), **scores,
        "loss": args.loss, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "train_images": train_images, "seed": args.seed, "history": history,
    }

    def save(name, write):
        replace_atomically(os.path.join(args.out, name), write)

    save("samples.png", lambda path: plots.save_samples(path, clean, noisy, denoised))
    save("history.png", lambda path: plots.save_history(path, history, scores["noisy_psnr"]))
    save("model.keras", model.save)
    save("metrics.json", lambda path: write_json(path, results))
    return results


def write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)
