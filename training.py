"""What both training scripts do the same way, so each script can tell its models' story.

- `parse_arguments`: the command line every training script shares (`--help` lists it),
  and the run's folder: a new one, or the interrupted run that `--resume` continues;
- `seed_everything`: the same --seed gives the same numbers and the same weights;
- `load_data`: the dataset, or one clear line and exit code 1 when it cannot be had;
- `train`: compile with Adam and a cosine-decayed learning rate, then `model.fit` on
  batches with fresh noise, validating on the fixed noisy test images every epoch, and
  backing up each finished epoch so that Ctrl-C, SIGTERM or a crash loses no more;
- `evaluate`: denoise the test images; PSNR and SSIM of the noisy input and the output
  (for a blind model, trained on a range of noise levels, at levels across the range);
- `save_results`: model.keras, metrics.json (each written whole or not at all),
  samples.png and history.png.
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from typing import Callable, NamedTuple

import keras
import tensorflow as tf

import data
import distribute
import metrics
import noise
import plots

# --loss choices, and the Keras loss each one names (psnr: minus each image's PSNR).
LOSSES = {"mse": "mean_squared_error", "bce": "binary_crossentropy", "psnr": metrics.psnr_loss}
# Where runs go when --out is not given: runs/<model>-<dataset>, numbered if taken.
RUNS_FOLDER = "runs"
# The learning rate falls along a cosine from --learning-rate to this fraction of it.
FINAL_LEARNING_RATE_FRACTION = 0.05
# The files that say how a run ended: metrics.json is written last, once all went well.
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
FAILED_FILE = "FAILED.txt"  # the reason a run failed, instead of metrics
# The files a run keeps in its folder while it trains, so that it can be resumed.
ARGUMENTS_FILE = "arguments.json"  # the arguments it was started with
EPOCHS_FILE = "epochs.json"  # losses, PSNR and seconds of every finished epoch
BACKUP_FOLDER = "backup"  # weights and optimizer state after the last finished epoch
# The signals that stop a run cleanly: Ctrl-C, and what `kill` or a job scheduler sends.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Arguments that say how to run, not what to train: --resume may change them.
HOW_TO_RUN = ("resume", "quiet", "show", "tensorboard", "overwrite", "out", "data_dir",
              "distribute")


class Recipe(NamedTuple):
    """A model preset: the function that builds it, and how it trains by default."""

    build: Callable
    loss: str  # a key of LOSSES
    epochs: int
    description: str
    batch_size: int = 128
    noise: str = "gaussian"  # the noise it learns to remove by default
    takes_a_range: bool = True  # False: the model adds noise of one level itself
    photos_only: bool = False  # True: made for photos whose sides divide by 8, not 28x28


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


def add_folder_arguments(parser):
    """The options of learning from a folder of pictures (train_conv.py)."""
    parser.add_argument("--test-dataset", default=None,
                        help="with a folder --dataset: a folder of test pictures (default: "
                             "every fifth picture of --dataset, never trained on)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3,
                        help="with a folder --dataset: 1 = grey, 3 = colour (default: 3)")
    parser.add_argument("--image-size", type=positive_int, default=128,
                        help="with a folder --dataset: the side of the square crops it trains "
                             "on (random, fresh every epoch) and tests on (central); a "
                             "multiple of 8 (default: 128)")


def build_parser(description, recipes, default_model, folders):
    """The command line of a training script whose presets are `recipes`; with `folders`,
    also the options of learning from a folder of pictures."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    models_help = "; ".join(  # each preset's recipe, read from the preset itself
        f"{name}: {recipe.description} ({recipe.loss}, {recipe.epochs} epochs, batch "
        f"{recipe.batch_size}, {recipe.noise} noise)"
        for name, recipe in recipes.items()
    )
    parser.add_argument("--model", choices=recipes, default=default_model,
                        help=f"the model preset (default: {default_model}). {models_help}")
    parser.add_argument("--dataset", default="mnist",
                        help="the images to learn from: mnist, fashion_mnist" +
                             (", or a folder of PNG/JPEG pictures" if folders else "") +
                             " (default: mnist)")
    if folders:
        add_folder_arguments(parser)
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with mnist/ and fashion-mnist/ IDX files (default: "
                             f"${data.DATA_DIR_VARIABLE} if set, else download with keras.datasets)")
    parser.add_argument("--noise", choices=noise.NOISE_KINDS, default=None,
                        help="the kind of noise to remove (default: the preset's own, "
                             "listed under --model)")
    parser.add_argument("--noise-level", type=noise.level_or_range_argument, default=None,
                        help="how strong the noise is: " + "; ".join(
                            f"{kind}: {meaning}, default {noise.DEFAULT_LEVELS[kind]:g}"
                            for kind, meaning in noise.LEVEL_MEANINGS.items()) +
                        ". A range LOW:HIGH, such as 0.05:0.5, trains one blind model: each "
                        "training image gets a level drawn from it, and the model is scored "
                        f"at {noise.RANGE_TEST_LEVELS} levels across it")
    parser.add_argument("--loss", choices=LOSSES, default=None,
                        help="mse (mean squared error), bce (binary cross-entropy) or psnr "
                             "(minus the PSNR of each image, in dB) (default: the preset's own)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training images (default: the preset's own)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="images per training step (default: the preset's own, listed "
                             "under --model)")
    parser.add_argument("--learning-rate", "--lr", type=positive_float, default=1e-3,
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
                        help="start a new run in an --out folder that already has files")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out from its last finished "
                             "epoch, with the arguments it was started with")
    parser.add_argument("--distribute", nargs="?", const=distribute.ALL_GPUS, default=None,
                        metavar="DEVICES",
                        help="train a copy of the model on each of several devices, each "
                             "step's batch split between them (TensorFlow backend only): alone, "
                             "every GPU; or the devices named, such as GPU:0,GPU:1; CPU:0,CPU:1 "
                             "splits the CPU, to try it without GPUs (default: one device)")
    parser.add_argument("--show", action="store_true",
                        help="also open the figures in windows at the end")
    parser.add_argument("--quiet", action="store_true",
                        help="print no progress, only the final scores")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs into <out>/tensorboard")
    return parser


def parse_arguments(description, recipes, default_model, argv=None, folders=True):
    """Parse and check the command line; fill in the preset's defaults; make --out.

    A bad value exits with code 2 and the usage line, before any work is done. With
    --resume, the arguments come from the interrupted run's folder instead.
    """
    parser = build_parser(description, recipes, default_model, folders)
    args = parser.parse_args(argv)
    if args.distribute:
        try:
            args.distribute = distribute.check_devices(args.distribute)
        except ValueError as error:
            parser.error(f"argument --distribute: {error}")
    if args.resume:
        restore_arguments(parser, args)
    else:
        recipe = recipes[args.model]
        args.loss = args.loss or recipe.loss
        args.epochs = args.epochs or recipe.epochs
        args.batch_size = args.batch_size or recipe.batch_size
        args.noise = args.noise or recipe.noise
        check_dataset(parser, args, recipe, folders)
        if args.noise_level is None:
            args.noise_level = noise.DEFAULT_LEVELS[args.noise]
        try:
            noise.check_level(args.noise, args.noise_level)
        except ValueError as error:
            parser.error(f"argument --noise-level: {error}")
        if noise.is_range(args.noise_level) and not recipe.takes_a_range:
            parser.error(f"argument --noise-level: {args.model} adds noise of one level "
                         "itself; give one level, not a range")
        start_run_folder(parser, args)
    stop_cleanly_on_signals(args.out)
    print(f"{args.model} on {args.dataset}, {args.noise} noise at "
          f"{noise.level_text(args.noise_level)}, "
          f"{args.epochs} epochs -> {args.out}")
    print(f"Keras {keras.__version__} on {keras.backend.backend()}" + (
        f", a copy of the model on each of {', '.join(args.distribute)}: each step splits "
        f"its batch of {args.batch_size} between them" if args.distribute else ""))
    return args


def check_dataset(parser, args, recipe, folders):
    """A dataset is mnist, fashion_mnist or, where the script takes them, a folder."""
    if args.dataset in data.DATASETS and recipe.photos_only:
        parser.error(f"argument --dataset: {args.model} is made for photos whose sides divide "
                     "by 8, not for 28x28 images: pass a folder (for example "
                     "../shared/data/images/faces128)")
    if args.dataset in data.DATASETS:
        return
    if not folders:
        parser.error(f"argument --dataset: choose one of {', '.join(data.DATASETS)} "
                     "(train_conv.py learns from folders of pictures)")
    for option, folder in (("--dataset", args.dataset), ("--test-dataset", args.test_dataset)):
        if folder is not None and not os.path.isdir(folder):
            parser.error(f"argument {option}: {folder} is neither "
                         f"{' nor '.join(data.DATASETS)} nor a folder")
    if args.image_size % 8:
        parser.error(f"argument --image-size: must be a multiple of 8, not {args.image_size}")


def start_run_folder(parser, args):
    """Make the folder of a new run, and record the arguments that --resume will need."""
    if args.out is None:
        args.out = new_run_folder(f"{args.model}-{os.path.basename(os.path.normpath(args.dataset))}")
    elif os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"argument --out: {args.out} is a file, not a folder")
    elif os.path.isdir(args.out) and os.listdir(args.out) and not args.overwrite:
        parser.error(f"argument --out: {args.out} already holds files; choose another "
                     "folder, pass --resume to continue it, or --overwrite to start anew")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --out: cannot create {args.out}: {error.strerror}")
    for stale in (METRICS_FILE, FAILED_FILE, EPOCHS_FILE):  # with --overwrite: start anew
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))
    shutil.rmtree(os.path.join(args.out, BACKUP_FOLDER), ignore_errors=True)
    arguments = {key: value for key, value in vars(args).items() if key not in HOW_TO_RUN}
    replace_atomically(os.path.join(args.out, ARGUMENTS_FILE),
                       lambda path: write_json(path, arguments))


def restore_arguments(parser, args):
    """For --resume: take the arguments the run in args.out was started with."""
    if args.out is None:
        parser.error("argument --resume: name the run to continue with --out")
    arguments_path = os.path.join(args.out, ARGUMENTS_FILE)
    if not os.path.isfile(arguments_path):
        parser.error(f"argument --resume: {args.out} holds no run to continue "
                     f"(no {ARGUMENTS_FILE})")
    if os.path.exists(os.path.join(args.out, METRICS_FILE)):
        parser.error(f"argument --resume: the run in {args.out} has already finished")
    if os.path.exists(os.path.join(args.out, FAILED_FILE)):
        parser.error(f"argument --resume: the run in {args.out} failed (see {FAILED_FILE}); "
                     "start a new one")
    with open(arguments_path) as file:
        vars(args).update(json.load(file))
    print(f"resuming the run in {args.out}")


def stop_cleanly_on_signals(folder):
    """Make Ctrl-C (SIGINT) and SIGTERM end the run with one line and exit 130 / 143.

    Every finished epoch is already backed up, and every file is written whole or not
    at all, so stopping at any moment loses at most the epoch in progress.
    """
    def stop(signal_number, frame):
        finished = len(read_json(os.path.join(folder, EPOCHS_FILE), [None])) - 1
        print(f"\n{signal.Signals(signal_number).name}: stopped after {finished} finished "
              f"epoch(s); continue with: python {os.path.basename(sys.argv[0])} --resume "
              f"--out {folder}", file=sys.stderr)
        sys.exit(128 + signal_number)

    for signal_number in STOP_SIGNALS:
        signal.signal(signal_number, stop)


@contextlib.contextmanager
def stop_signals_held():
    """Run the block to its end; a Ctrl-C or SIGTERM that came meanwhile acts after it."""
    received = []

    def remember(signal_number, frame):
        received.append(signal_number)

    previous = {number: signal.signal(number, remember) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:  # now the usual handler acts on it: stop_cleanly_on_signals' `stop`
        signal.raise_signal(received[0])


class WholeBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, which a stop cannot catch halfway through its backup.

    A signal handler runs between any two Python steps, also halfway through writing the
    weights file. Exiting there closes the file cleanly but incomplete: it opens, yet lacks
    the later layers, and --resume fails on it (Keras falls back to its previous backup
    only when the file does not open at all). So a stop that comes while the backup is
    written waits the moment it takes to finish.
    """

    def on_epoch_end(self, epoch, logs=None):
        with stop_signals_held():
            super().on_epoch_end(epoch, logs)


def seed_everything(seed):
    """Seed Python, NumPy and the Keras backend; make TensorFlow's operations deterministic.

    With both, the same --seed on the same machine gives the same weights and scores
    (at some cost in speed on a GPU; on a CPU it costs little). JAX and PyTorch are
    deterministic on a CPU as they are.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        tf.config.experimental.enable_op_determinism()


def new_run_folder(name):
    """runs/<name>, or runs/<name>-2, -3, ... : the first that is missing or empty."""
    folder, number = os.path.join(RUNS_FOLDER, name), 1
    while os.path.isdir(folder) and os.listdir(folder):
        number += 1
        folder = os.path.join(RUNS_FOLDER, f"{name}-{number}")
    return folder


def load_data(args):
    """(x_train, y_train), (x_test, y_test) as the arguments ask, or exit 1 with one line.

    For a folder of pictures, x_train is a list of whole pictures (the batches crop them)
    and x_test an array of centre crops; there are no labels (None).
    """
    try:
        if args.dataset in data.DATASETS:
            return data.load_dataset(args.dataset, args.data_dir, args.train_limit,
                                     args.test_limit)
        train, test = data.load_picture_dataset(args.dataset, args.channels, args.image_size,
                                                args.test_dataset, args.train_limit,
                                                args.test_limit)
        return (train, None), (test, None)  # pictures have no labels
    except data.DatasetError as error:
        sys.exit(f"error: {error}")


class EpochLog(keras.callbacks.Callback):
    """Record each finished epoch in epochs.json (and print it), so a resumed run
    keeps the whole history; entry 0 is the untrained model."""

    def __init__(self, path, entries, quiet):
        super().__init__()
        self.path, self.entries, self.quiet = path, entries, quiet

    def on_epoch_begin(self, epoch, logs=None):
        del self.entries[epoch + 1:]  # a resumed run redoes any epoch after its backup
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        self.entries.append({"epoch": epoch + 1, **logs, "seconds": round(seconds, 2)})
        replace_atomically(self.path, lambda path: write_json(path, self.entries))
        if not self.quiet:
            print(f"epoch {epoch + 1}/{self.params['epochs']}: loss {logs['loss']:.4f}, "
                  f"val_loss {logs['val_loss']:.4f}, val_psnr {logs['val_psnr']:.2f} dB "
                  f"({seconds:.0f} s)", flush=True)


def train(model, batches, validation_data, args):
    """Compile and fit `model`; return its per-epoch history and the seconds it took.

    The history also holds epoch 0, the untrained model, so that a curve (and a test)
    can see the validation loss fall even after a single epoch. Each finished epoch is
    backed up in <out>/backup, from which --resume continues.
    """
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(batches), alpha=FINAL_LEARNING_RATE_FRACTION
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=LOSSES[args.loss],
                  metrics=[metrics.psnr])
    epochs_path = os.path.join(args.out, EPOCHS_FILE)
    entries = read_json(epochs_path, [])
    if not entries:  # a new run (or one stopped before its first epoch)
        untrained = model.evaluate(*validation_data, batch_size=256, verbose=0, return_dict=True)
        entries = [{"epoch": 0, "val_loss": untrained["loss"], "val_psnr": untrained["psnr"]}]
        if not args.quiet:
            print(f"untrained: val_loss {untrained['loss']:.4f}, "
                  f"val_psnr {untrained['psnr']:.2f} dB")
    callbacks = [
        noise.DrawEpochNoise(batches),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ProgbarLogger(),  # listed here so its line ends before the summary
        EpochLog(epochs_path, entries, args.quiet),
        # Last: a stop between the two leaves epochs.json an epoch ahead of the backup,
        # which a resumed run redoes; the other way round, it would lack an epoch.
        WholeBackup(os.path.join(args.out, BACKUP_FOLDER), double_checkpoint=True,
                    delete_checkpoint=False),
    ]
    if not args.quiet:
        print(f"training on {distribute.replicas()} device(s) at once")
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard")))
    # Keras' step-by-step progress bar only on a terminal: in a log file its redraws add
    # up to megabytes of escape codes. EpochLog's line per epoch is printed either way.
    show_progress_bar = not args.quiet and sys.stdout.isatty()
    # shuffle=False: the batches shuffle themselves, reproducibly per epoch; Keras' own
    # shuffle of the batch order would draw from the global NumPy generator, which a
    # resumed run has used less, and so would train in a different order.
    model.fit(batches, epochs=args.epochs, validation_data=validation_data, shuffle=False,
              callbacks=callbacks, verbose=1 if show_progress_bar else 0)
    trained = entries[1:]
    if len(trained) < args.epochs or not all(math.isfinite(e["loss"]) for e in trained):
        give_up(args.out, f"the training loss became NaN or infinite in epoch "
                          f"{len(trained)}; try a lower --learning-rate")
    history = {
        "loss": [entry["loss"] for entry in trained],
        "val_loss": [entry["val_loss"] for entry in entries],
        "val_psnr": [entry["val_psnr"] for entry in entries],
    }
    return history, sum(entry["seconds"] for entry in trained)


def give_up(folder, reason):
    """Leave FAILED.txt with the reason in the run's folder, and exit 1 with one line."""

    def write_reason(path):
        with open(path, "w") as file:
            file.write(reason + "\n")

    replace_atomically(os.path.join(folder, FAILED_FILE), write_reason)
    sys.exit(f"error: {reason}")


def evaluate(model, clean, noisy, args):
    """Denoise the noisy test images; score input and output against the clean ones.

    A blind model (a --noise-level range) is also scored at levels across its range, each
    on its own fixed noisy copy of the test images: scores["levels"].
    """
    denoised, scores = denoise_and_score(model, clean, noisy)
    print(f"test PSNR: noisy {scores['noisy_psnr']:.2f} dB -> denoised {scores['psnr']:.2f} "
          f"dB; SSIM: noisy {scores['noisy_ssim']:.3f} -> denoised {scores['ssim']:.3f}")
    if noise.is_range(args.noise_level):
        at_middle = dict(scores)  # the test images just scored are at the middle level
        scores["levels"] = []
        for level in noise.levels_to_score(args.noise_level):
            if level == noise.middle_level(args.noise_level):
                at_level = at_middle
            else:
                _, at_level = denoise_and_score(model, clean,
                                                noise.noisy_test_images(clean, args.noise, level))
            scores["levels"].append({"noise_level": level, **at_level})
            print(f"  at {args.noise} {level:g}: noisy {at_level['noisy_psnr']:.2f} dB -> "
                  f"denoised {at_level['psnr']:.2f} dB")
    return denoised, scores


def denoise_and_score(model, clean, noisy):
    """The denoised images, and the PSNR/SSIM of the noisy input and of the output."""
    denoised = model.predict(noisy, batch_size=256, verbose=0)
    before, after = metrics.image_quality(clean, noisy), metrics.image_quality(clean, denoised)
    return denoised, {"noisy_psnr": before["psnr"], "noisy_ssim": before["ssim"],
                      "psnr": after["psnr"], "ssim": after["ssim"]}


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
        "train_images": train_images, "seed": args.seed, "backend": keras.backend.backend(),
        "devices": args.distribute, "history": history,
    }

    def save(name, write):
        replace_atomically(os.path.join(args.out, name), write)

    save("samples.png", lambda path: plots.save_samples(path, clean, noisy, denoised))
    save("history.png", lambda path: plots.save_history(path, history, scores["noisy_psnr"]))
    if "levels" in scores:  # a blind model: its PSNR across the range it learned
        levels = [entry["noise_level"] for entry in scores["levels"]]
        save("levels.png", lambda path: plots.save_sweep(path, levels, {
            "noisy input": [entry["noisy_psnr"] for entry in scores["levels"]],
            args.model: [entry["psnr"] for entry in scores["levels"]]},
            f"one {args.model} trained on {args.noise} {noise.level_text(args.noise_level)}"))
    save(MODEL_FILE, model.save)
    save(METRICS_FILE, lambda path: write_json(path, results))
    shutil.rmtree(os.path.join(args.out, BACKUP_FOLDER), ignore_errors=True)  # done with it
    print(f"saved the model, metrics, and pictures in {args.out}")
    return results


def write_json(path, content):
    with open(path, "w") as file:
        json.dump(content, file, indent=2)


def read_json(path, default):
    """The content of a JSON file, or `default` when there is no such file."""
    if not os.path.exists(path):
        return default
    with open(path) as file:
        return json.load(file)
