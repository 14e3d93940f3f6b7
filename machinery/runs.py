"""The run folder: what keeps a long training run safe, so the lesson scripts need not say it.

A training script names these where it uses them; none of them trains, predicts or scores:
- `start`: the run's settings, from the knobs of a script's parameters cell overridden by
  the flags of the same names (`parse_arguments`; `--help` lists them), checked before
  any work is done; then the run's folder, a new one or the interrupted run that
  `--resume` continues, with the arguments it needs to resume; Ctrl-C and SIGTERM then
  stop with one line;
- `EpochLog` and `Backup`: Keras callbacks that record each finished epoch in
  epochs.json and back it up, so that a stop or a crash loses at most the epoch in
  progress, and that stop the run with FAILED.txt when its loss turns NaN;
- `finish`: model.keras, then metrics.json, the sign of a finished run.

Every file is written whole or not at all (machinery/files.py).
"""

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import time
import warnings
from typing import Callable, NamedTuple

import keras
import numpy as np

import data
import noise
import noisy_targets
import training
from machinery import distribute, files

# Where runs go when --out is not given: runs/<model>-<dataset>, numbered if taken.
RUNS_FOLDER = "runs"
# The files that say how a run ended: metrics.json is written last, once all went well.
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
FAILED_FILE = "FAILED.txt"  # the reason a run failed, instead of metrics
# The files a run keeps in its folder while it trains, so that it can be resumed.
ARGUMENTS_FILE = "arguments.json"  # the arguments it was started with
EPOCHS_FILE = "epochs.json"  # losses, PSNR and seconds of every finished epoch
BACKUP_FOLDER = "backup"  # weights and optimizer state after the last finished epoch
# What Keras' BackupAndRestore writes in it (as Backup below writes them): the only files
# that --overwrite, or a run's end, removes from there.
BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")
# The signals that stop a run cleanly: Ctrl-C, and what `kill` or a job scheduler sends.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The signal of a stop under way, if one came (see EpochLog.on_train_batch_end).
STOPPING = []
# The run folders this process holds (see hold_the_run_folder): open, and so locked.
HELD_FOLDERS = []
# What a knob may hold: anything else of the same name (a module) is not a knob.
KNOB_TYPES = (bool, int, float, str, list, tuple)
# The arguments a resumed run must find in arguments.json.
RESUMED_ARGUMENTS = ("model", "dataset", "noise_kind", "noise_level", "loss", "epochs",
                     "batch_size", "learning_rate", "seed")
# Arguments that say how to run, not what to train: --resume may change them.
HOW_TO_RUN = ("resume", "quiet", "show", "tensorboard", "overwrite", "out", "data_dir",
              "devices", "peer_timeout")


class Recipe(NamedTuple):
    """A model preset: the function that builds it, and how it trains by default."""

    build: Callable
    loss: str  # a key of training.LOSSES
    epochs: int
    description: str
    batch_size: int = 128
    noise: str = "gaussian"  # the noise it learns to remove by default
    takes_a_range: bool = True  # False: the model adds noise of one level itself
    photos_only: bool = False  # True: made for photos whose sides divide by 8, not 28x28
    only_size: int = 0  # the one image side it takes (0: any)
    told_the_level: bool = False  # True: a second input takes each image's noise level
    any_size: bool = True  # False: built for the training pictures' size, and that size only


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text}")
    return value


def seed_number(text):
    """argparse type: a seed, a whole number from 0 to 2**32 - 1 (what NumPy takes)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**32 - 1, not {text}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def in_notebook():
    """Is this code running in a Jupyter kernel (a notebook, or papermill)?"""
    return "ipykernel" in sys.modules


def add_folder_arguments(parser):
    """The options of learning from a folder of pictures (train_conv.py)."""
    parser.add_argument("--test-dataset", default=None,
                        help="with a folder --dataset: a folder of test pictures, or a "
                             "photo set (default: every fifth picture of --dataset, never "
                             "trained on)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3,
                        help="with a folder --dataset: 1 = grey, 3 = colour (default: 3)")
    parser.add_argument("--image-size", type=positive_int, default=128,
                        help="with a folder --dataset: the side of the square crops it trains "
                             "on (random, fresh every epoch) and tests on (central); a "
                             "multiple of 8 (default: 128)")
    parser.add_argument("--flip-rotate", action=argparse.BooleanOptionalAction, default=None,
                        help="show each training picture in one of its 8 orientations (0 to 3 "
                             "quarter turns, mirrored or not), drawn from the seed (default: on "
                             "for photos, most of whose content has no up or down; off for "
                             "digits and clothes, which the test images show upright, and whose "
                             "6 turned over is a 9)")


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
                             (", a photo set (" + ", ".join(data.PHOTO_SETS) + ": python "
                              "data.py --list), or a folder of PNG/JPEG pictures"
                              if folders else "") + " (default: %(default)s)")
    if folders:
        add_folder_arguments(parser)
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with mnist/ and fashion-mnist/ IDX files, and photo "
                             f"sets in images/<Set>/ (default: ${data.DATA_DIR_VARIABLE} if set, "
                             f"else the Keras cache, where they are downloaded)")
    parser.add_argument("--noise", "--noise-kind", dest="noise_kind", choices=noise.NOISE_KINDS,
                        default=None,
                        help="the kind of noise to remove (default: the preset's own, "
                             "listed under --model)")
    parser.add_argument("--noise-level", type=noise.level_or_range_argument, default=None,
                        help="how strong the noise is: " + "; ".join(
                            f"{kind}: {meaning}, default {noise.DEFAULT_LEVELS[kind]:g}"
                            for kind, meaning in noise.LEVEL_MEANINGS.items()) +
                        ". A range LOW:HIGH, such as 0.05:0.5, trains one blind model: each "
                        "training image gets a level drawn from it, and the model is scored "
                        f"at {noise.RANGE_TEST_LEVELS} levels across it")
    if folders:  # train_conv.py
        parser.add_argument("--target", choices=noisy_targets.TARGETS, default="clean",
                            help="what the model learns to answer (noisy_targets.py): the clean "
                                 "picture; another noisy copy of it (Noise2Noise: use --loss mse "
                                 "and unclipped noise, whose mean is the clean picture); or, from "
                                 "one noisy copy of each training picture made once, its "
                                 "neighbour pixels (Neighbor2Neighbor; photos, one device). The "
                                 "test pictures are clean, to score the model (default: clean)")
    parser.add_argument("--loss", choices=training.LOSSES, default=None,
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
    parser.add_argument("--seed", type=seed_number, default=0,
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
    parser.add_argument("--distribute", "--devices", dest="devices", nargs="?",
                        const=distribute.ALL_GPUS, default=None, metavar="DEVICES",
                        help="train a copy of the model on each of several devices, each "
                             "step's batch split between them (TensorFlow or JAX backend): "
                             "alone, every GPU (on JAX, every device it has); or the devices "
                             "named, such as GPU:0,GPU:1; CPU:0,CPU:1 splits the CPU, to try it "
                             f"without GPUs. '{distribute.MULTI_WORKER}' (JAX only): one model "
                             "trained by the same command on several machines, the cluster read "
                             "from KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and "
                             "_PROCESS_ID, or from Slurm (see docs/several-machines.md). On JAX "
                             "--batch-size must divide between the devices; the last, smaller "
                             "batch of an epoch, and validation, drop the few images left over; "
                             "the final scores use all (default: one device)")
    parser.add_argument("--peer-timeout", type=positive_int,
                        default=distribute.PEER_TIMEOUT_SECONDS, metavar="SECONDS",
                        help="with --distribute multi-worker: a process whose peers do not "
                             "all come, or stop answering, stops after this many seconds "
                             "(default: %(default)s)")
    parser.add_argument("--show", action="store_true",
                        help="also open the figures in windows at the end")
    parser.add_argument("--quiet", action="store_true",
                        help="print no progress, only the final scores")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs into <out>/tensorboard")
    return parser


def knob_arguments(parser, knobs):
    """The knobs of a parameters cell as command-line arguments, so that argparse checks
    them as it checks flags: `epochs = 3` becomes ["--epochs", "3"].

    A knob is named as its flag is, underscores for dashes (`learning_rate` for
    --learning-rate, `noise_kind` for --noise-kind), and holds a number, a string, a
    boolean or a range (a list); None leaves the flag's default.
    """
    arguments = []
    for action in parser._actions:
        names = [option.lstrip("-").replace("-", "_") for option in action.option_strings]
        value = next((knobs[name] for name in names  # a value, not the module `noise`
                      if isinstance(knobs.get(name), KNOB_TYPES)), None)
        if value is False and isinstance(action, argparse.BooleanOptionalAction):
            arguments.append(action.option_strings[1])  # --no-flip-rotate
        if value is None or value is False:
            continue
        if value is True:
            arguments.append(action.option_strings[0])
        else:
            arguments.append(f"{action.option_strings[0]}={value_text(value)}")
    return arguments


def parse_arguments(description, recipes, knobs, folders=True, argv=None):
    """The run's settings: the script's knobs, then the flags of the command line on top.

    `knobs` maps knob names to values: a script passes its globals(), in which its
    parameters cell's variables are. In a notebook the kernel's own command line is not
    the user's, so only the knobs count there. A bad value exits with code 2 and the
    usage line, before any work is done. With --resume, the arguments come from the
    interrupted run's folder instead.

    A script that is imported, not run, stops here, before any work, with an ImportError:
    its story runs at the top level, so importing it would train.
    """
    if knobs.get("__name__") != "__main__":
        raise ImportError(f"{knobs.get('__name__')} is a lesson to run (python "
                          f"{knobs.get('__name__')}.py), not a module to import: import "
                          "its models from conv_models.py or dense_models.py")
    parser = build_parser(description, recipes, knobs["model"], folders)
    if argv is None:
        argv = [] if in_notebook() else sys.argv[1:]
    args = parser.parse_args(knob_arguments(parser, knobs) + list(argv))
    if args.devices:
        try:
            args.devices = distribute.check_devices(args.devices, args.peer_timeout)
        except ValueError as error:
            parser.error(f"argument --distribute: {error}")
        if distribute.process_count() > 1:  # a bad argument must not wait for the others
            parser.exit = distribute.exit_at_once
        share_the_run_folder(args)
    if args.resume:
        given = given_on_the_command_line(description, recipes, folders, argv)
        restore_arguments(parser, args, recipes, folders, given)
        check_batch_size(parser, args)
        agree_with_process_0(parser, args)
        hold_the_run_folder(parser, args.out)
        return args
    recipe = recipes[args.model]
    args.loss = args.loss or recipe.loss
    args.epochs = args.epochs or recipe.epochs
    args.batch_size = args.batch_size or recipe.batch_size
    args.noise_kind = args.noise_kind or recipe.noise
    check_dataset(parser, args, recipe, folders)
    if folders:  # train_conv.py: the target and the flips are its flags
        check_target(parser, args, recipe)
        if args.flip_rotate is None:
            args.flip_rotate = args.dataset not in data.DATASETS  # photos only
    if args.noise_level is None:
        args.noise_level = noise.DEFAULT_LEVELS[args.noise_kind]
    try:
        noise.check_level(args.noise_kind, args.noise_level)
    except ValueError as error:
        parser.error(f"argument --noise-level: {error}")
    if noise.is_range(args.noise_level) and not recipe.takes_a_range:
        parser.error(f"argument --noise-level: {args.model} adds noise of one level "
                     "itself; give one level, not a range")
    check_batch_size(parser, args)
    agree_with_process_0(parser, args)
    start_run_folder(parser, args)
    return args


def agree_with_process_0(parser, args):
    """With several processes, each must be started with the same settings, or they
    train different things together until one fails. Each compares its settings with
    process 0's before any work: if any process differs, every one stops in one line
    (the one that differs names the setting), and no run folder is made."""
    if distribute.process_count() == 1:
        return
    mine = json.loads(json.dumps(  # as JSON holds them: a range is a list, as process 0's
        {key: value for key, value in vars(args).items() if key not in HOW_TO_RUN}))
    theirs = distribute.settings_of_process_0(mine)
    differ = sorted(key for key in mine.keys() | theirs.keys() if mine.get(key) != theirs.get(key))
    others = distribute.processes_where(differ)
    if differ:
        flag = "--" + differ[0].replace("_", "-")
        parser.error(f"argument {flag}: this process was started with {flag} "
                     f"{value_text(mine.get(differ[0]))}, process 0 with {flag} "
                     f"{value_text(theirs.get(differ[0]))}: start the same command on every "
                     "process")
    if others:
        parser.error(f"argument --distribute: process {', '.join(map(str, others))} was "
                     "started with other settings than this one: start the same command on "
                     "every process")


def share_the_run_folder(args):
    """With several processes, the run's folder (--out) is process 0's: every other
    process writes its copies of the files into a temporary folder of its own and, to
    --resume, first receives process 0's record of the run there."""
    if distribute.process_count() == 1:
        return
    named = args.out is not None
    if distribute.process_index() != 0:
        args.out = distribute.scratch_folder()
    if args.resume and named:
        distribute.share_run_files(args.out, (ARGUMENTS_FILE, EPOCHS_FILE, BACKUP_FOLDER))


def check_batch_size(parser, args):
    """A global batch must divide between the devices that --distribute names (on JAX)."""
    if args.devices:
        try:
            distribute.check_batch_size(args.batch_size, args.devices)
        except ValueError as error:
            parser.error(f"argument --batch-size: {error}")


def check_dataset(parser, args, recipe, folders):
    """A dataset is mnist, fashion_mnist or, where the script takes them, a folder."""
    if args.dataset in data.DATASETS and recipe.photos_only:
        parser.error(f"argument --dataset: {args.model} is made for photos whose sides divide "
                     "by 8, not for 28x28 images: name a photo set (such as faces) or a folder")
    if args.dataset in data.DATASETS:
        return
    if recipe.only_size and args.image_size != recipe.only_size:
        parser.error(f"argument --image-size: {args.model} takes {recipe.only_size}x"
                     f"{recipe.only_size} images only, not {args.image_size}")
    if not folders:
        parser.error(f"argument --dataset: choose one of {', '.join(data.DATASETS)} "
                     "(train_conv.py learns from folders of pictures)")
    for option, folder in (("--dataset", args.dataset), ("--test-dataset", args.test_dataset)):
        if folder is not None and folder not in data.PHOTO_SETS and not os.path.isdir(folder):
            parser.error(f"argument {option}: {folder} is neither "
                         f"{' nor '.join(data.DATASETS)}, nor a photo set "
                         f"({', '.join(data.PHOTO_SETS)}), nor a folder")
    if args.image_size % 8:
        parser.error(f"argument --image-size: must be a multiple of 8, not {args.image_size}")


def check_target(parser, args, recipe):
    """Neighbour pairs halve the training crops, and train the model through another
    model (noisy_targets.neighbour_trainer): a model of any size, alone, on one device."""
    if args.target != "neighbours":
        return
    if args.dataset in data.DATASETS:
        parser.error("argument --target: neighbours halve each picture, and the halves of a "
                     "28x28 digit (14x14) do not pass the U-Nets' two poolings: train on photos")
    if not recipe.any_size or recipe.told_the_level:
        parser.error(f"argument --target: neighbours train a model on half-size pictures, "
                     f"and {args.model} " + ("is told the noise level" if recipe.told_the_level
                                             else "takes one size only") + ": choose another")
    if args.devices:
        parser.error("argument --target: neighbours train on one device: leave out --distribute")


def start_run_folder(parser, args):
    """Make the folder of a new run, and record the arguments that --resume will need."""
    if args.out == "":
        parser.error("argument --out: an empty name; name a folder")
    if args.out is None:
        args.out = new_run_folder(f"{args.model}-{os.path.basename(os.path.normpath(args.dataset))}")
    elif os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"argument --out: {args.out} is a file, not a folder")
    elif os.path.isdir(args.out) and os.listdir(args.out) and not args.overwrite:
        parser.error(f"argument --out: {args.out} already holds files; choose another "
                     "folder, pass --resume to continue it, or --overwrite to start anew")
    elif os.path.isdir(args.out) and os.listdir(args.out) and not is_a_run_folder(args.out):
        parser.error(f"argument --overwrite: {args.out} holds files but no run (no "
                     f"{ARGUMENTS_FILE}, or a {BACKUP_FOLDER} that is not a folder of its "
                     "own); --overwrite replaces only a run's files: choose another folder")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --out: cannot create {args.out}: {error.strerror}")
    hold_the_run_folder(parser, args.out)
    for stale in (METRICS_FILE, FAILED_FILE, EPOCHS_FILE):  # with --overwrite: start anew
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))
    remove_backup(args.out)
    arguments = {key: value for key, value in vars(args).items() if key not in HOW_TO_RUN}
    try:
        files.write_json(os.path.join(args.out, ARGUMENTS_FILE), arguments)
    except OSError as error:  # a full disk, a read-only place
        parser.error(f"argument --out: cannot write in {args.out}: {error.strerror}")


def is_a_run_folder(folder):
    """Does `folder` hold a run: its arguments.json (a file, not a link) of a JSON object,
    and a backup folder, if any, that is a folder and not a link to one elsewhere? Only in
    such a folder does --overwrite remove a run's files: a folder of the user's own, whose
    metrics.json or backup/ are theirs, is never emptied."""
    arguments = os.path.join(folder, ARGUMENTS_FILE)
    backup = os.path.join(folder, BACKUP_FOLDER)
    if os.path.islink(arguments) or not os.path.isfile(arguments):
        return False
    if os.path.lexists(backup) and (os.path.islink(backup) or not os.path.isdir(backup)):
        return False
    try:
        return isinstance(files.read_json(arguments, None), dict)
    except (OSError, ValueError):
        return False


def written_by_backup(name):
    """Is `name` a file that Backup writes: one of BACKUP_FILES, its temporary name while
    it is written (files.temporary_name), or the .bkp copy Keras keeps while it saves?"""
    for backup_file in BACKUP_FILES:
        stem, _, extensions = backup_file.partition(".")
        if re.fullmatch(rf"{stem}(\.partial-\d+)?\.{re.escape(extensions)}(\.bkp)?", name):
            return True
    return False


def remove_backup(folder):
    """Remove the run's backup: the files Backup wrote in <folder>/backup, then that folder
    if nothing else is left in it. Nothing else there, and nothing behind a link, is removed."""
    backup = os.path.join(folder, BACKUP_FOLDER)
    if os.path.islink(backup) or not os.path.isdir(backup):
        return
    for name in filter(written_by_backup, os.listdir(backup)):
        path = os.path.join(backup, name)
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)
    with contextlib.suppress(OSError):  # not empty: what is left is not ours to remove
        os.rmdir(backup)


def given_on_the_command_line(description, recipes, folders, argv):
    """The settings that `argv` itself names, as {name: value} (no defaults, no knobs)."""
    named = build_parser(description, recipes, None, folders)
    for action in named._actions:
        action.default = argparse.SUPPRESS
    return vars(named.parse_args(argv))


def hold_the_run_folder(parser, folder):
    """Hold the run's folder until this process ends, so that a second run started into
    it (even with --overwrite or --resume) stops in one line instead of mixing its files
    with this one's."""
    held = files.hold_folder(folder)
    if held is None:
        parser.error(f"argument --out: another run is writing into {folder} now; wait for it "
                     "to end, or choose another folder")
    HELD_FOLDERS.append(held)  # kept open, and so held, for as long as the run goes


def restore_arguments(parser, args, recipes, folders, given):
    """For --resume: take the arguments the run in args.out was started with. A setting
    of what to train that the command line names and changes (`given`, such as
    --epochs 3 for a run started with 30) is refused: the run goes on as it began."""
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
    try:
        arguments = read_resume_state(args.out, recipes, folders)
    except ValueError as error:
        parser.error(f"argument --resume: {error}; the run cannot be continued: start a new one")
    for name, value in given.items():
        if name in arguments and value != arguments[name]:
            flag = "--" + name.replace("_", "-")
            parser.error(f"argument {flag}: the run in {args.out} was started with "
                         f"{flag} {value_text(arguments[name])}, and --resume goes on as it "
                         f"began; leave {flag} out, or start a new run to change it")
    vars(args).update(arguments)
    print(f"resuming the run in {args.out}")


def value_text(value):
    """A setting as its flag takes it: 0.05:0.5 for a range."""
    return noise.level_text(value) if noise.is_range(value) else str(value)


def read_resume_state(folder, recipes, folders):
    """The arguments of the run in `folder`, once every file a resume reads is checked.

    ValueError, naming the file and what is wrong with it, where one is empty, cut short
    or not what this script wrote: arguments.json (each value checked as its flag is
    checked), epochs.json, and the backup's metadata and weights. The run's own writes
    are atomic: this is for folders damaged by hand, by a disk, or from another script.
    """
    def read(name, kind):
        path = os.path.join(folder, name)
        try:
            content = files.read_json(path, None)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} is unreadable ({error})") from None
        if content is not None and not isinstance(content, kind):
            raise ValueError(f"{path} holds no {kind.__name__}")
        return path, content

    path, saved = read(ARGUMENTS_FILE, dict)
    arguments = checked_arguments(path, saved or {}, recipes, folders)
    path, epochs = read(EPOCHS_FILE, list)
    if epochs is not None and not all(map(is_epoch_record, epochs)):
        raise ValueError(f"{path} holds something other than a record of each epoch")
    backup = os.path.join(folder, BACKUP_FOLDER)
    if os.path.lexists(backup) and (os.path.islink(backup) or not os.path.isdir(backup)):
        raise ValueError(f"{backup} is not a folder of the run's own (a file, or a link)")
    path, metadata = read(os.path.join(BACKUP_FOLDER, "training_metadata.json"), dict)
    weights = os.path.join(backup, "latest.weights.h5")
    if (metadata is None) != (not os.path.exists(weights)):
        raise ValueError(f"{backup} holds the weights or their metadata, not both")
    if metadata is not None and not (isinstance(metadata.get("epoch"), int)
                                     and 0 <= metadata["epoch"] <= arguments["epochs"]):
        raise ValueError(f"{path} names no epoch of this run")
    if os.path.exists(weights):
        import h5py  # Keras' own format library, installed with it

        try:
            with h5py.File(weights, "r"):
                pass
        except OSError as error:
            raise ValueError(f"{weights} is unreadable ({error})") from None
    return arguments


def checked_arguments(path, saved, recipes, folders):
    """The saved arguments of a run, checked by the parser that checks the command line."""
    checker = build_parser("", recipes, None, folders)

    def complain(message):
        raise ValueError(f"{path}: {message}")

    checker.error = complain  # a bad value is a ValueError naming the file, not an exit
    checked = checker.parse_args(knob_arguments(checker, saved))
    missing = [key for key in RESUMED_ARGUMENTS if getattr(checked, key, None) is None]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    try:
        noise.check_level(checked.noise_kind, checked.noise_level)
    except ValueError as error:
        complain(f"noise_level: {error}")
    return {key: value for key, value in vars(checked).items() if key not in HOW_TO_RUN}


def is_epoch_record(entry):
    """Is `entry` one of epochs.json's records: numbers (or null) under the usual names?"""
    if not isinstance(entry, dict):
        return False
    names = ("epoch", "val_loss", "val_psnr") + (("loss", "seconds") if entry.get("epoch") else ())
    return all(name in entry and isinstance(entry[name], (int, float, type(None)))
               for name in names)


def new_run_folder(name):
    """runs/<name>, or runs/<name>-2, -3, ... : the first that is missing or empty."""
    folder, number = os.path.join(RUNS_FOLDER, name), 1
    while os.path.isdir(folder) and os.listdir(folder):
        number += 1
        folder = os.path.join(RUNS_FOLDER, f"{name}-{number}")
    return folder


def start(description, recipes, knobs, folders=True):
    """The run's settings (`parse_arguments`), and its folder; say what the run does; from
    here on, stop cleanly on a signal and fail in one line. Returns the settings.

    A data set that cannot be read then ends the run with one line and FAILED.txt, and a
    file that cannot be written (a full disk) with one line saying how to resume, not a
    traceback. In a notebook the kernel keeps its own Ctrl-C (interrupt) and error display.
    On TensorFlow, its operations are made deterministic too, so that the same seed
    (keras.utils.set_random_seed, in the script) gives the same weights and scores; that
    costs some speed on a GPU, little on a CPU. JAX and PyTorch are deterministic on a
    CPU as they are.
    """
    args = parse_arguments(description, recipes, knobs, folders)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # here, not above: JAX and PyTorch run without TensorFlow

        tf.config.experimental.enable_op_determinism()
    print(f"{args.model} on {args.dataset}, {args.noise_kind} noise at "
          f"{noise.level_text(args.noise_level)}, {args.epochs} epochs -> {args.out}")
    print(f"Keras {keras.__version__} on {keras.backend.backend()}" + (
        f", a copy of the model on each of {', '.join(args.devices)}: each step splits "
        f"its batch of {args.batch_size} between them" if args.devices else ""))
    if distribute.process_count() > 1:
        print(f"process {distribute.process_index()} of {distribute.process_count()}" + (
            ": it writes the run's files" if distribute.process_index() == 0 else
            ": process 0 writes the run's files; this one keeps its copies in " + args.out))
    if not in_notebook():
        stop_cleanly_on_signals(args.out)
        sys.excepthook = one_line_errors(args.out, sys.excepthook)
    return args


def one_line_errors(folder, usual_hook):
    """An excepthook for the errors a user meets, each said in one line (exit code 1).

    A data.DatasetError (data missing, damaged, offline), an OSError (a full disk, a
    folder that became read-only) and, with several processes, one that stops, may pass:
    every finished epoch is backed up whole, so the run can go on once the cause is
    fixed. (FAILED.txt is for runs that cannot.)
    """

    def hook(kind, error, trace):
        if distribute.lost_a_peer(error):
            reason = (str(error).strip().splitlines() or [kind.__name__])[0]
            distribute.exit_at_once(1, f"error: a process of the cluster stopped answering "
                                       f"({reason[:200]}); stopped after {finished_epochs(folder)} "
                                       f"finished epoch(s): continue with: "
                                       f"{resume_command(folder)}\n")
        elif issubclass(kind, data.DatasetError):
            print(f"error: {error}; {how_to_go_on(folder)}", file=sys.stderr)
        elif issubclass(kind, OSError):
            print(f"error: {error.filename or folder}: {error.strerror or error}; stopped after "
                  f"{finished_epochs(folder)} finished epoch(s): fix that, then continue with: "
                  f"{resume_command(folder)}", file=sys.stderr)
        else:
            usual_hook(kind, error, trace)

    return hook


def how_to_go_on(folder):
    """What to do after a fault that may pass: resume, or, with nothing trained yet, run
    the same command again (the folder is emptied of the arguments.json it was given)."""
    if os.path.exists(os.path.join(folder, EPOCHS_FILE)):
        return f"fix that, then continue with: {resume_command(folder)}"
    os.remove(os.path.join(folder, ARGUMENTS_FILE))
    return "nothing was trained: fix that and run the same command again"


def resume_command(folder):
    """The command that continues the run in `folder` (on several machines, the same
    command on each: every process but 0 names its own temporary folder)."""
    if distribute.process_count() > 1:
        return "the same command, with --resume, on every machine"
    return f"python {os.path.basename(sys.argv[0])} --resume --out {folder}"


def stop_cleanly_on_signals(folder):
    """Make Ctrl-C (SIGINT) and SIGTERM end the run with one line and exit 130 / 143.

    Every finished epoch is already backed up, and every file is written whole or not
    at all, so stopping at any moment loses at most the epoch in progress.
    """
    def stop(signal_number, frame):
        name = signal.Signals(signal_number).name
        if os.path.exists(os.path.join(folder, METRICS_FILE)):  # every file is written
            print(f"\n{name}: the run had finished; its files are in {folder}",
                  file=sys.stderr, flush=True)
            os._exit(0)  # at once: Python's own exit handlers are what a stop interrupts
        message = (f"\n{name}: stopped after {finished_epochs(folder)} finished epoch(s); "
                   f"continue with: {resume_command(folder)}\n")
        if distribute.process_count() > 1:  # every process is stopped, each on its own:
            # JAX's goodbye at exit would wait for the others, or abort when one has gone
            distribute.exit_at_once(128 + signal_number, message)
        print(message, end="", file=sys.stderr)
        STOPPING.append(signal_number)
        sys.exit(128 + signal_number)

    for signal_number in STOP_SIGNALS:
        signal.signal(signal_number, stop)


def finished_epochs(folder):
    """How many epochs epochs.json records as finished ("?" if it cannot be read)."""
    try:
        return len(files.read_json(os.path.join(folder, EPOCHS_FILE), [None])) - 1
    except (OSError, ValueError, TypeError):
        return "?"


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


class Backup(keras.callbacks.BackupAndRestore):
    """Back up the weights and the optimizer after each epoch in <out>/backup, where
    --resume continues from: Keras' BackupAndRestore, with each file written whole.

    Keras writes its backup in place: a kill halfway through leaves a weights file that
    opens but lacks its later layers, or one of a few bytes, and the run can no longer
    resume. Here each file is written under a temporary name and renamed, so a kill at
    any moment, even SIGKILL, leaves the last whole backup. A Ctrl-C or SIGTERM that
    comes while it is written waits the moment it takes to finish, so the epoch is kept.
    """

    def __init__(self, folder):
        super().__init__(os.path.join(folder, BACKUP_FOLDER), delete_checkpoint=False)
        self.run_folder = folder

    def on_train_begin(self, logs=None):
        """Restore the backup, if there is one; one that does not fit fails the run."""
        try:
            with warnings.catch_warnings():  # Keras warns of each layer that does not fit
                warnings.simplefilter("ignore")
                super().on_train_begin(logs)
        except Exception as error:  # weights of another model, or a damaged file
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            give_up(self.run_folder, f"{self._weights_path} does not load into this model "
                                     f"({reason}); start a new run")

    def on_epoch_end(self, epoch, logs=None):
        with stop_signals_held():
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        """What BackupAndRestore saves, each file written whole or not at all."""
        os.makedirs(self.backup_dir, exist_ok=True)
        files.check_free_space(self.backup_dir, saved_bytes(self.model), "the backup")
        files.replace_atomically(self._weights_path,
                                 lambda path: self.model.save_weights(path, overwrite=True))
        files.write_json(self._training_metadata_path,
                         {"epoch": self._current_epoch, "batch": self._last_batch_seen})


class EpochLog(keras.callbacks.Callback):
    """Print each finished epoch and record it in epochs.json; fail the run if it diverged.

    Entry 0 is the untrained model, so that a curve (and a test) can see the validation
    loss fall even after a single epoch. A resumed run keeps the entries of the epochs it
    backed up and redoes the rest. (Keras' CSVLogger would append a redone epoch twice.)
    When the loss turns NaN (TerminateOnNaN stops `fit` early), the run ends with
    FAILED.txt and one line, instead of saving a broken model.
    """

    def __init__(self, folder, untrained, quiet=False):
        super().__init__()
        self.folder, self.quiet = folder, quiet
        self.path = os.path.join(folder, EPOCHS_FILE)
        self.entries = files.read_json(self.path, []) or [
            {"epoch": 0, "val_loss": untrained["loss"], "val_psnr": untrained["psnr"]}]

    def on_train_batch_end(self, batch, logs=None):
        """Exit now if a stop came and its exit was lost: on JAX, the stop can land while
        Keras converts a batch's logs with NumPy, which swallows the exit it raises."""
        if STOPPING:
            sys.exit(128 + STOPPING[0])

    on_test_batch_end = on_train_batch_end

    def on_epoch_begin(self, epoch, logs=None):
        del self.entries[epoch + 1:]  # a resumed run redoes any epoch after its backup
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        entry = {"epoch": epoch + 1, **logs, "seconds": round(seconds, 2)}
        self.entries.append({key: value if math.isfinite(value) else None  # NaN is no JSON
                             for key, value in entry.items()})
        files.write_json(self.path, self.entries)
        if not self.quiet:
            print(f"epoch {epoch + 1}/{self.params['epochs']}: loss {logs['loss']:.4f}, "
                  f"val_loss {logs['val_loss']:.4f}, val_psnr {logs['val_psnr']:.2f} dB "
                  f"({seconds:.0f} s)", flush=True)

    def on_train_end(self, logs=None):
        trained = self.entries[1:]
        if len(trained) < self.params["epochs"] or any(e["loss"] is None for e in trained):
            give_up(self.folder, f"the training loss became NaN or infinite in epoch "
                                 f"{len(trained)}; try a lower --learning-rate")

    @property
    def history(self):
        """The losses and PSNR per epoch: "loss" from epoch 1, the validation ones from 0."""
        return {
            "loss": [entry["loss"] for entry in self.entries[1:]],
            "val_loss": [entry["val_loss"] for entry in self.entries],
            "val_psnr": [entry["val_psnr"] for entry in self.entries],
        }

    @property
    def train_seconds(self):
        return sum(entry["seconds"] for entry in self.entries[1:])


def saved_bytes(model):
    """A generous estimate of the bytes that saving `model` with its optimizer takes."""
    optimizer = model.optimizer.variables if model.optimizer else []
    return int(1.2 * sum(math.prod(variable.shape) * np.dtype(variable.dtype).itemsize
                         for variable in [*model.variables, *optimizer])) + 2**20


def progress_bar(quiet):
    """fit's `verbose`: Keras' step-by-step progress bar only on a terminal. In a log
    file its redraws add up to megabytes of escape codes; EpochLog prints a line per
    epoch either way."""
    return 1 if not quiet and sys.stdout.isatty() else 0


def give_up(folder, reason):
    """Leave FAILED.txt with the reason in the run's folder (it cannot be resumed, only
    started anew), and exit 1 with one line."""

    def write_reason(path):
        with open(path, "w") as file:
            file.write(reason + "\n")

    files.replace_atomically(os.path.join(folder, FAILED_FILE), write_reason)
    sys.exit(f"error: {reason}")


def finish(args, model, epoch_log, scores, train_images):
    """Write model.keras and, last, metrics.json (the sign of a finished run); drop the backup.

    metrics.json holds every setting of the run, every score and the history, so that a
    table of many runs (tools/benchmark.py, tools/compare.py) can be made from these files alone.
    """
    results = {
        "dataset": args.dataset, "noise": args.noise_kind, "noise_level": args.noise_level,
        "model": args.model, "params": model.count_params(), "epochs": args.epochs,
        "train_seconds": round(epoch_log.train_seconds, 2), "test_images": scores["test_images"],
        **{key: value for key, value in scores.items() if key != "test_images"},
        "loss": args.loss, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "train_images": train_images, "seed": args.seed, "backend": keras.backend.backend(),
        "devices": args.devices, "history": epoch_log.history,
        **{key: vars(args)[key] for key in ("target", "flip_rotate") if key in vars(args)},
    }
    files.check_free_space(args.out, saved_bytes(model), MODEL_FILE)
    files.replace_atomically(os.path.join(args.out, MODEL_FILE), model.save)
    files.write_json(os.path.join(args.out, METRICS_FILE), results)
    if not in_notebook():  # done: a stop from now on would only cut Python's exit short
        for signal_number in STOP_SIGNALS:
            signal.signal(signal_number, signal.SIG_IGN)
    remove_backup(args.out)  # done with it
    print(f"saved the model, metrics, and pictures in {args.out}")
    return results
