"""The settings of a training run: a lesson's knobs, then the flags of the command line.

A lesson script's parameters cell holds its knobs (`epochs = 3`); `start` turns them into
command-line arguments, lays the flags the user typed on top (`--epochs 1`), checks every
value before any work is done, fills what is left None from the model preset's recipe,
prints the settings and hands them to the run's folder (machinery/runs.py), which
records them for `--resume`. A bad value ends in one usage line, exit code 2.

The knobs' meanings and checks come from the modules they belong to: the datasets from
data.py, the noise kinds and levels from noise.py, the training targets from
noisy_targets.py, the losses from training.py, each preset's recipe from conv_models.py
or dense_models.py (a `Recipe`, defined here).
"""

import argparse
import json
import os
import re
import sys
import zipfile
from typing import Callable, NamedTuple

import keras

import data
import noise
import noisy_targets
import training
from machinery import arguments, distribute, runs

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


# What a lesson script learns from and aims at: its `takes`. PHOTOS and TARGETS each add
# a group of flags; clean answers are every script's.
DIGITS = "digits"  # MNIST and Fashion-MNIST (train_conv.py, train_dense.py)
PHOTOS = "photos"  # photo sets and folders, crops, turns and mirrors (train_photos.py)
TARGETS = "targets"  # answers other than the clean picture (train_noisy_targets.py)


def add_photo_arguments(parser):
    """The options of learning from photos: a photo set or a folder of pictures."""
    parser.add_argument("--test-dataset", default=None,
                        help="with photos: a folder of test pictures, or a photo set "
                             "(default: every fifth picture of --dataset, never trained on)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3,
                        help="with photos: 1 = grey, 3 = colour (default: 3)")
    parser.add_argument("--image-size", type=arguments.positive_int, default=128,
                        help="with photos: the side of the square crops it trains "
                             "on (random, fresh every epoch) and tests on (central); a "
                             "multiple of 8 (default: 128)")
    parser.add_argument("--flip-rotate", action=argparse.BooleanOptionalAction, default=None,
                        help="show each training picture in one of its 8 orientations (0 to 3 "
                             "quarter turns, mirrored or not), drawn from the seed (default: on "
                             "for photos, most of whose content has no up or down; off for "
                             "digits and clothes, which the test images show upright, and whose "
                             "6 turned over is a 9)")


def offers_start_from(takes):
    """Whether a script has --start-from: train_photos.py, which fine-tunes a trained model."""
    return PHOTOS in takes and TARGETS not in takes


def offers_fixed_noise(takes):
    """Whether a script has --fixed-noise: one noisy copy of each digit, drawn once."""
    return DIGITS in takes and TARGETS not in takes


def build_parser(description, recipes, default_model, takes=(DIGITS,)):
    """The command line of a training script whose presets are `recipes`; with PHOTOS in
    `takes`, also the options of learning from photos, and with TARGETS, --target."""
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
    parser.add_argument("--dataset", default=default_dataset(takes),
                        help="the images to learn from: " + data.dataset_help(
                            digits=DIGITS in takes, photos=PHOTOS in takes)
                        + " (default: %(default)s)")
    if PHOTOS in takes:
        add_photo_arguments(parser)
    if offers_start_from(takes):
        parser.add_argument("--start-from", default=None, metavar="MODEL",
                            help="a trained .keras model of the same preset, channels and "
                                 "picture size whose weights the run starts from, to go on "
                                 "teaching it (fine-tuning), such as on another noise; the "
                                 "optimizer starts afresh (default: fresh weights)")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder with mnist/ and fashion-mnist/ IDX files, and photo "
                             f"sets in images/<Set>/ (default: ${data.DATA_DIR_VARIABLE} if set, "
                             f"else the Keras cache, where they are downloaded)")
    parser.add_argument("--noise", "--noise-kind", dest="noise_kind", type=noise.kind_argument,
                        default=None, metavar="KIND",
                        help="the kind of noise to remove: " + noise.kind_help() + " (default: "
                             "the preset's own, listed under --model)")
    parser.add_argument("--noise-level", type=noise.level_or_range_argument, default=None,
                        help="how strong the noise is: " + noise.level_help() + ". A range "
                        "LOW:HIGH, such as 0.05:0.5, trains one blind model: each "
                        "training image gets a level drawn from it, and the model is scored "
                        f"at {noise.RANGE_TEST_LEVELS} levels across it")
    if TARGETS in takes:
        parser.add_argument("--target", choices=noisy_targets.TARGETS,
                            default=noisy_targets.NOISY,
                            help="what the model learns to answer in place of the clean picture "
                                 "(noisy_targets.py). " + noisy_targets.target_help() + ". The "
                                 "test pictures are clean, to score the model (default: noisy)")
        parser.add_argument("--regulariser-weight", type=float,
                            default=noisy_targets.REGULARISER_WEIGHT,
                            help="with --target neighbours: the weight of Neighbor2Neighbor's "
                                 "regulariser, the paper's correction for aiming one half at "
                                 "its neighbour; 0 trains without it (default: %(default)s)")
    if offers_fixed_noise(takes):
        parser.add_argument("--fixed-noise", action="store_true",
                            help="train on one noisy copy of each training image, drawn once, "
                                 "as keras.io's example does, in place of fresh noise every "
                                 "epoch: to measure what fresh noise brings")
    parser.add_argument("--loss", choices=training.LOSSES, default=None,
                        help="mse (mean squared error), bce (binary cross-entropy) or psnr "
                             "(minus the PSNR of each image, in dB) (default: the preset's own)")
    parser.add_argument("--epochs", type=arguments.positive_int, default=None,
                        help="passes over the training images (default: the preset's own)")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=None,
                        help="images per training step (default: the preset's own, listed "
                             "under --model)")
    parser.add_argument("--learning-rate", "--lr", type=arguments.positive_float, default=1e-3,
                        help="Adam's starting learning rate; it decays along a cosine "
                             "(default: 0.001)")
    parser.add_argument("--train-limit", type=arguments.positive_int, default=None,
                        help="use the first N training images only, --validation-split of them "
                             "held out (default: all)")
    parser.add_argument("--test-limit", type=arguments.positive_int, default=None,
                        help="score on the first N test images only (default: all)")
    parser.add_argument("--validation-split", type=data.validation_split_argument,
                        default=data.VALIDATION_SPLIT,
                        help="the share of the training images held out to validate on: the "
                             "last ones, scored after every epoch and never trained on; "
                             "choose settings by their score, not the test images' "
                             "(default: %(default)s)")
    fixed_noise = " (with --fixed-noise, its one copy)" if offers_fixed_noise(takes) else ""
    parser.add_argument("--seed", type=arguments.seed_number, default=0,
                        help=f"seeds the weights, the batch order and the training noise"
                             f"{fixed_noise}; the validation and test noise have a fixed seed "
                             f"of their own (default: 0)")
    parser.add_argument("--out", default=None,
                        help=f"the folder for the run's files (default: a new "
                             f"{runs.RUNS_FOLDER}/<model>-<dataset>[-N])")
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
    parser.add_argument("--peer-timeout", type=arguments.positive_int,
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


# The end of a flag's help that names its default, rewritten where a knob sets it.
DEFAULT_CLAUSE = re.compile(r"\(default: [^()]*\)$")


def knob_value(action, knobs):
    """The value the knobs give the flag of `action`, or None (a module is not a knob)."""
    names = [option.lstrip("-").replace("-", "_") for option in action.option_strings]
    return next((knobs[name] for name in names if isinstance(knobs.get(name), KNOB_TYPES)),
                None)


# The knobs that stand in for a preset's recipe where a script sets them, in words.
RECIPE_KNOBS = {"loss": "loss", "epochs": "epochs", "batch_size": "batch size",
                "noise_kind": "noise"}


def show_knobs_as_defaults(parser, knobs):
    """Make --help say what the script's knobs set (train_photos.py's `epochs = 30`), not
    the flag's own default (the preset's epochs): a knob that is not None is the default.
    --model's list of recipes then says which of them the script's knobs replace."""
    for action in parser._actions:
        value = knob_value(action, knobs)
        if value is not None and value is not False and action.help:
            text = "on" if value is True else value_text(value)
            action.help = DEFAULT_CLAUSE.sub(f"(default: {text})", action.help)
    replaced = [words for name, words in RECIPE_KNOBS.items() if knobs.get(name) is not None]
    if replaced:
        model = next(action for action in parser._actions if "--model" in action.option_strings)
        words = " and ".join([", ".join(replaced[:-1]), replaced[-1]] if replaced[1:] else replaced)
        model.help += (f". This script sets the {words} of every preset itself (their "
                       "defaults below), in place of these")


def knob_arguments(parser, knobs):
    """The knobs of a parameters cell as command-line arguments, so that argparse checks
    them as it checks flags: `epochs = 3` becomes ["--epochs", "3"].

    A knob is named as its flag is, underscores for dashes (`learning_rate` for
    --learning-rate, `noise_kind` for --noise-kind), and holds a number, a string, a
    boolean or a range (a list); None leaves the flag's default.
    """
    arguments = []
    for action in parser._actions:
        value = knob_value(action, knobs)
        if value is False and isinstance(action, argparse.BooleanOptionalAction):
            arguments.append(action.option_strings[1])  # --no-flip-rotate
        if value is None or value is False:
            continue
        if value is True:
            arguments.append(action.option_strings[0])
        else:
            arguments.append(f"{action.option_strings[0]}={value_text(value)}")
    return arguments


def default_dataset(takes):
    """The --dataset of a script that names none: MNIST, or for photos alone Train400."""
    return "mnist" if DIGITS in takes else "train400"


def parse_arguments(description, recipes, knobs, takes=(DIGITS,), argv=None):
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
    parser = build_parser(description, recipes, knobs["model"], takes)
    show_knobs_as_defaults(parser, knobs)
    if argv is None:
        argv = [] if runs.in_notebook() else sys.argv[1:]
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
        given = given_on_the_command_line(description, recipes, takes, argv)
        restore_arguments(parser, args, recipes, takes, given)
        check_batch_size(parser, args)
        if offers_start_from(takes) and args.start_from is not None:  # then the backup's
            check_start_from(parser, args, recipes[args.model])
        agree_with_process_0(parser, args)
        runs.hold_the_run_folder(parser, args.out)
        return args
    recipe = recipes[args.model]
    args.loss = args.loss or recipe.loss
    args.epochs = args.epochs or recipe.epochs
    args.batch_size = args.batch_size or recipe.batch_size
    args.noise_kind = args.noise_kind or recipe.noise
    check_dataset(parser, args, recipe, takes)
    if recipe.told_the_level and (PHOTOS not in takes or TARGETS in takes):
        parser.error(f"argument --model: {args.model} is told each picture's noise level, a "
                     "second input: train it with train_photos.py")
    if recipe.told_the_level and not noise.can_be_told(args.noise_kind):
        parser.error(f"argument --noise: {args.model} is told each picture's noise level, the "
                     f"noise's standard deviation, and the level of {args.noise_kind} noise is "
                     f"not one ({noise.noise_kind(args.noise_kind).level_name}): train it on "
                     f"{recipe.noise}, its own, or on camera noise")
    if TARGETS in takes:
        check_target(parser, args, recipe)
    if offers_start_from(takes) and args.start_from is not None:
        check_start_from(parser, args, recipe)
    if PHOTOS in takes and args.flip_rotate is None:
        args.flip_rotate = args.dataset not in data.DATASETS  # photos only
    if args.noise_level is None:
        args.noise_level = noise.noise_kind(args.noise_kind).default_level
    try:
        noise.check_level(args.noise_kind, args.noise_level)
    except ValueError as error:
        parser.error(f"argument --noise-level: {error}")
    if vars(args).get("fixed_noise") and not recipe.takes_a_range:
        parser.error(f"argument --fixed-noise: {args.model} adds its own noise while training, "
                     "a fresh draw every batch: there is no noisy copy to fix")
    if noise.is_range(args.noise_level) and not recipe.takes_a_range:
        parser.error(f"argument --noise-level: {args.model} adds noise of one level "
                     "itself; give one level, not a range")
    check_batch_size(parser, args)
    agree_with_process_0(parser, args)
    if args.out is None:
        args.out = runs.new_run_folder(
            f"{args.model}-{os.path.basename(os.path.normpath(args.dataset))}")
    runs.start_run_folder(parser, args.out, args.overwrite,
                          {key: value for key, value in vars(args).items()
                           if key not in HOW_TO_RUN})
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
        distribute.share_run_files(args.out, (runs.ARGUMENTS_FILE, runs.EPOCHS_FILE,
                                              runs.BACKUP_FOLDER))


def check_batch_size(parser, args):
    """A global batch must divide between the devices that --distribute names (on JAX)."""
    if args.devices:
        try:
            distribute.check_batch_size(args.batch_size, args.devices)
        except ValueError as error:
            parser.error(f"argument --batch-size: {error}")


def check_start_from(parser, args, recipe):
    """--start-from: a .keras file (a zip) holding the preset this run builds, for its
    pictures, so that its weights fit; read from the file's config.json, before any work
    (training.start_from loads its weights). Kept as an absolute path, which a --resume
    from another folder finds too."""
    try:
        with zipfile.ZipFile(args.start_from) as archive:
            config = json.loads(archive.read("config.json"))["config"]
        name = config["name"].replace("_", "-")
        takes = tuple(config["layers"][0]["config"]["batch_shape"][1:])  # its first input's
    except (OSError, zipfile.BadZipFile, KeyError, IndexError, TypeError, ValueError,
            AttributeError) as error:
        parser.error(f"argument --start-from: {args.start_from}: not a .keras model we can read "
                     f"({error})")
    side = None if recipe.any_size else args.image_size
    if (name, takes) != (args.model, (side, side, args.channels)):
        parser.error(f"argument --start-from: {args.start_from} holds a {name} model for "
                     f"pictures of {shape_text(takes)}; this run builds {args.model} for "
                     f"{shape_text((side, side, args.channels))}")
    args.start_from = os.path.abspath(args.start_from)


def shape_text(shape):
    """(None, None, 3) -> "any size, 3 channel(s)"; (64, 64, 1) -> "64x64, 1 channel(s)"."""
    height, width, channels = shape
    size = "any size" if height is None else f"{width}x{height}"
    return f"{size}, {channels} channel(s)"


def check_dataset(parser, args, recipe, takes):
    """The datasets (data.check_dataset), then what the preset takes of them."""
    named = [("--dataset", args.dataset)]
    if PHOTOS in takes and args.test_dataset is not None:
        named.append(("--test-dataset", args.test_dataset))
    for option, name in named:
        try:
            data.check_dataset(name, digits=DIGITS in takes, photos=PHOTOS in takes)
        except ValueError as error:
            parser.error(f"argument {option}: {error}")
    if args.dataset in data.DATASETS and recipe.photos_only:
        parser.error(f"argument --dataset: {args.model} is made for photos whose sides divide "
                     "by 8, not for 28x28 images: " + ("name a photo set (such as faces) or a "
                                                       "folder" if PHOTOS in takes else
                                                       "train it with train_photos.py"))
    if args.dataset in data.DATASETS:
        return
    if recipe.only_size and args.image_size != recipe.only_size:
        parser.error(f"argument --image-size: {args.model} takes {recipe.only_size}x"
                     f"{recipe.only_size} images only, not {args.image_size}")
    if args.image_size % 8:
        parser.error(f"argument --image-size: must be a multiple of 8, not {args.image_size}")


def check_target(parser, args, recipe):
    """The target and its regulariser's weight, as noisy_targets checks them."""
    try:
        noisy_targets.check_target(args.target, args.model, digits=args.dataset in data.DATASETS,
                                   any_size=recipe.any_size, several_devices=bool(args.devices))
    except ValueError as error:
        parser.error(f"argument --target: {error}")
    try:
        noisy_targets.check_regulariser_weight(args.regulariser_weight, args.target)
    except ValueError as error:
        parser.error(f"argument --regulariser-weight: {error}")


def given_on_the_command_line(description, recipes, takes, argv):
    """The settings that `argv` itself names, as {name: value} (no defaults, no knobs)."""
    named = build_parser(description, recipes, None, takes)
    for action in named._actions:
        action.default = argparse.SUPPRESS
    return vars(named.parse_args(argv))


def restore_arguments(parser, args, recipes, takes, given):
    """For --resume: take the arguments the run in args.out was started with. A setting
    of what to train that the command line names and changes (`given`, such as
    --epochs 3 for a run started with 30) is refused: the run goes on as it began."""
    if args.out is None:
        parser.error("argument --resume: name the run to continue with --out")
    arguments_path = os.path.join(args.out, runs.ARGUMENTS_FILE)
    if not os.path.isfile(arguments_path):
        parser.error(f"argument --resume: {args.out} holds no run to continue "
                     f"(no {runs.ARGUMENTS_FILE})")
    if os.path.exists(os.path.join(args.out, runs.METRICS_FILE)):
        parser.error(f"argument --resume: the run in {args.out} has already finished")
    if os.path.exists(os.path.join(args.out, runs.FAILED_FILE)):
        parser.error(f"argument --resume: the run in {args.out} failed (see {runs.FAILED_FILE}); "
                     "start a new one")
    try:
        arguments = runs.read_resume_state(
            args.out, lambda path, saved: checked_arguments(path, saved, recipes, takes))
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


def checked_arguments(path, saved, recipes, takes):
    """The saved arguments of a run, checked by the parser that checks the command line.

    A run started by another lesson script (or by train_conv.py before the photos and the
    noisy targets had scripts of their own) holds settings this one does not take, or a
    dataset it does not learn from: it is refused, naming them, not trained on as if they
    were absent."""
    checker = build_parser("", recipes, None, takes)

    def complain(message):
        raise ValueError(f"{path}: {message}")

    checker.error = complain  # a bad value is a ValueError naming the file, not an exit
    missing = [key for key in RESUMED_ARGUMENTS if saved.get(key) is None]
    if missing:  # damaged, or no run's: said before any talk of other scripts
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    known = {action.dest for action in checker._actions} - set(HOW_TO_RUN) - {"help"}
    if TARGETS in takes and "regulariser_weight" not in saved:  # begun before the setting was
        saved = {**saved,
                 "regulariser_weight": noisy_targets.REGULARISER_WEIGHT_BEFORE_THE_SETTING}
    if offers_start_from(takes) and "start_from" not in saved:  # begun before --start-from:
        saved = {**saved, "start_from": None}  # from fresh weights
    foreign = sorted(key for key in saved if key not in known)
    lacking = sorted(key for key in known if key not in saved)
    if "validation_split" in lacking and not foreign:  # before the split (2026-12-07)
        complain("was started before the lessons held out validation images, and going on "
                 "would train on other images than it began with: start it anew")
    if foreign or lacking:
        complain("was written by another training script (it holds "
                 + (f"{', '.join(foreign)}, which this one does not take" if foreign else
                    f"no {', '.join(lacking)}, which this one takes")
                 + "): resume it with the script that started it")
    checked = checker.parse_args(knob_arguments(checker, saved))
    try:
        noise.check_level(checked.noise_kind, checked.noise_level)
    except ValueError as error:
        complain(f"noise_level: {error}")
    try:
        data.check_dataset(checked.dataset, digits=DIGITS in takes, photos=PHOTOS in takes)
    except ValueError as error:
        complain(f"dataset: {error}; resume it with the script that started it")
    if TARGETS in takes:
        try:
            noisy_targets.check_regulariser_weight(checked.regulariser_weight, checked.target)
        except ValueError as error:
            complain(f"regulariser_weight: {error}")
    return {key: value for key, value in vars(checked).items() if key not in HOW_TO_RUN}


def start(description, recipes, knobs, takes=(DIGITS,)):
    """The run's settings (`parse_arguments`), and its folder; say what the run does; from
    here on, stop cleanly on a signal and fail in one line. Returns the settings.

    A data set that cannot be read then ends the run with one line, and a file that cannot
    be written (a full disk) with one line saying how to resume, not a
    traceback. In a notebook the kernel keeps its own Ctrl-C (interrupt) and error display.
    On TensorFlow, its operations are made deterministic too, so that the same seed
    (keras.utils.set_random_seed, in the script) gives the same weights and scores; that
    costs some speed on a GPU, little on a CPU. JAX and PyTorch are deterministic on a
    CPU as they are.
    """
    args = parse_arguments(description, recipes, knobs, takes)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # here, not above: JAX and PyTorch run without TensorFlow

        tf.config.experimental.enable_op_determinism()
    print(f"{args.model} on {args.dataset}, {args.noise_kind} noise at "
          f"{noise.level_text(args.noise_level)}, {args.loss} loss, {args.epochs} epochs of "
          f"batches of {args.batch_size} -> {args.out}")
    print(f"Keras {keras.__version__} on {keras.backend.backend()}" + (
        f", a copy of the model on each of {', '.join(args.devices)}: each step splits "
        f"its batch of {args.batch_size} between them" if args.devices else ""))
    if distribute.process_count() > 1:
        print(f"process {distribute.process_index()} of {distribute.process_count()}" + (
            ": it writes the run's files" if distribute.process_index() == 0 else
            ": process 0 writes the run's files; this one keeps its copies in " + args.out))
    if not runs.in_notebook():
        runs.stop_cleanly_on_signals(args.out)
        sys.excepthook = runs.one_line_errors(args.out, sys.excepthook,
                                              (data.DatasetError, distribute.TooFewToShare))
    return args
