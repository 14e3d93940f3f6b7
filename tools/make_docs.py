"""Make every figure under docs/figures/ and the tables of docs/results.md, from runs.

The pictures and numbers of the docs come from this one script, so anyone can make them
again, and check them:

  python -m tools.make_docs           # full runs, as the committed docs were made
  python -m tools.make_docs --quick   # the same files from tiny runs, in a few minutes

The full runs took about four hours on 2 CPU cores, over an hour of it CBM3D's step (pip
install bm3d; each step's seconds are printed as it ends).

Each step below is a command of the project's own (a training script, tools/compare.py,
denoise.py, tools/speed.py, tools/checkerboard.py, tools/curves.py), started as a user starts
it, with its output folder under --runs.
A step whose folder already holds its finished result is found, not made again: a second
call redoes only what is missing or failed (delete a step's folder to make it anew). A step
whose command has changed since, or a model file it reads (of models/, or trained by an
earlier step), is made again.
Then the figures the steps made are copied into <docs>/figures/, each at most about
200 KB so that it can be committed, and <docs>/results.md gets every table, stamped with
the command, the date, the commit, the package versions and the machine.

--quick trains on 300 images for one epoch and scores a few pictures: the files are the
same, the numbers mean nothing. By default it writes into runs/docs-quick, not docs/, so
that the committed docs stay those of the full runs.
"""

import argparse
import datetime
import glob
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import time
from typing import NamedTuple

from PIL import Image

import data
import noise
from machinery import files, signals
from tools import benchmark, classical

# The step whose command runs now, if one does (a stop stops it too: signals.run_child).
RUNNING = []
# The largest figure worth committing; larger ones are stored with fewer colours.
MAX_FIGURE_BYTES = 200_000
# The packages whose versions stamp the results.
PACKAGES = ("keras", "tensorflow", "jax", "torch", "numpy", "scikit-image", "matplotlib")
# The scripts that take --data-dir.
SCRIPTS_WITH_DATA = ("train_conv.py", "train_dense.py", "train_photos.py", "train_noisy_targets.py",
                     "tools.compare", "tools.knob", "tools.camera_noise", "tools.real_pairs",
                     "tools.noise_estimator", "tools.noise_map")
# What --quick adds to every training run: 300 images, one epoch.
QUICK_TRAINING = ["--train-limit", "300", "--test-limit", "50", "--epochs", "1"]
# The Noise2Noise lesson's recipe on digits, for the clean target and the noisy one alike:
# the MSE and noise that averages to zero, as the lesson explains; 4000 digits, as
# tools/benchmark.py measured its seeds.
NOISE2NOISE_RECIPE = ["--loss", "mse", "--noise", "gaussian-unclipped", "--train-limit", "4000"]
# What --quick adds to every comparison: one classical method (the quickest to tune).
QUICK_CLASSICAL = ["--classical", "gaussian-filter"]
# The classical methods but BM3D, for the comparisons that would take too long with it on a
# CPU: BM3D is by far the slowest (its seconds per image are in results.md), and a sweep runs
# it at every level. The grey photos keep it; colour photos get it in a step of its own.
ALL_BUT_BM3D = ["--classical", *(name for name in classical.METHOD_NAMES if name != "bm3d")]
# The file in a step's folder that says what its run was made from: the step's command and
# the digests of the model files it read.
MADE_FROM = "made-from.json"
# The first line of each step's log (<runs>/<step>.log): the sign that the log, and the
# step's folder beside it, are this script's to write over or remove.
LOG_HEADER = "# written by python -m tools.make_docs: this step's command, then its output\n"
# A row of results.md's table of figures: the figure, the step that made it, its digest.
FIGURE_ROW = re.compile(r"^\| (\S+\.png) \| (\S+) \| ([0-9a-f]{16}) \|$", re.MULTILINE)
# What --quick adds to every step that scores photos: one photo.
QUICK_PHOTOS = ["--limit", "1"]


class Step(NamedTuple):
    """One command whose figures and numbers the docs show."""
    name: str  # its folder under --runs, and the prefix of its figures
    command: list  # the command; "{runs}" stands for the --runs folder
    quick: list  # what --quick adds to it
    result: str  # the file that says it finished (in its folder)
    figures: tuple = ()  # (a PNG file of its folder, its name in docs/figures) for each shown


def training(name, script, *arguments, figures=("samples.png",)):
    """A step that runs a training script, whose metrics.json says it finished."""
    return Step(name, [script, *arguments, "--out", "{runs}/" + name], QUICK_TRAINING,
                "metrics.json", tuple((figure, f"{name}-{figure}") for figure in figures))


def benchmark_training(name, run):
    """A training step, no figure shown, that runs tools/benchmark.py's `run` (its script and
    flags, so that the docs and the benchmark's seeds train the same recipe)."""
    script, arguments = benchmark.RUNS[run]
    return training(name, script, *arguments, figures=())


def bm3d_step(dataset, tune_dataset, channels):
    """A step that scores BM3D alone (CBM3D in colour) on a photo set at sigma 15, 25 and
    50, its strength tuned on another set at each."""
    name = f"bm3d-{dataset}"
    return Step(name, ["-m", "tools.compare", "--dataset", dataset, "--tune-dataset", tune_dataset,
                       "--channels", channels, "--noise", "gaussian-unclipped", "--noise-level",
                       "25/255", "--sweep", "15/255", "25/255", "50/255", "--classical", "bm3d",
                       "--out", "{runs}/" + name],
                QUICK_PHOTOS, "results.json")


def told_level_step(dataset, channels, *models, self_ensemble=False, name=None):
    """A step that scores models on a photo set at sigma 15, 25 and 50, no classical method:
    a model told the level is told the true one and, in a row of its own, its estimate;
    with `self_ensemble`, each also averaged over 8 orientations (8 times the time). Its
    name: told-level-<dataset>[-x8], or `name`."""
    name = name or f"told-level-{dataset}" + ("-x8" if self_ensemble else "")
    return Step(name, ["-m", "tools.compare", "--dataset", dataset, "--channels", channels, "--noise",
                       "gaussian-unclipped", "--noise-level", "25/255", "--sweep", "15/255",
                       "25/255", "50/255", "--classical", "--out", "{runs}/" + name,
                       *(["--self-ensemble"] if self_ensemble else []), "--models", *models],
                QUICK_PHOTOS, "results.json")


STEPS = [
    # The default run: the picture on the README's first screen.
    training("default", "train_conv.py", figures=("samples.png", "history.png")),
    # The same run on one noisy copy of each training digit, drawn once (keras.io's way), in
    # place of fresh noise every epoch: one change; the two validation curves together.
    training("fixed-noise", "train_conv.py", "--fixed-noise", figures=()),
    Step("noise-curves", ["-m", "tools.curves", "{runs}/default", "{runs}/fixed-noise",
                          "--out", "{runs}/noise-curves"],
         [], "curves.md", (("curves.png", "noise-curves.png"),)),
    # Dense autoencoders, and what their codes look like.
    training("deep", "train_dense.py", "--model", "deep"),
    training("shallow32", "train_dense.py", "--model", "shallow32", figures=("codes.png",)),
    # Convolutional autoencoders: transposed convolutions against resize-then-convolve.
    Step("checkerboard", ["-m", "tools.checkerboard", "--out", "{runs}/checkerboard"], [],
         "checkerboard.png", (("checkerboard.png", "checkerboard.png"),)),
    training("transpose", "train_conv.py", "--model", "transpose"),
    # ... and the same network with resize-convolutions in place of its two transposed
    # ones (one change), their validation curves together.
    training("resize", "train_conv.py", "--model", "resize"),
    Step("decoder-curves", ["-m", "tools.curves", "{runs}/transpose", "{runs}/resize",
                            "--out", "{runs}/decoder-curves"],
         [], "curves.md", (("curves.png", "decoder-curves.png"),)),
    training("wide", "train_conv.py", "--model", "wide"),
    training("small", "train_conv.py", "--model", "small"),
    # Skip connections: the U-Net, and the same network without its skips (one change),
    # their validation curves together.
    training("unet", "train_conv.py", "--model", "unet", figures=("samples.png", "history.png")),
    training("unet-noskip", "train_conv.py", "--model", "unet-noskip", figures=("samples.png",)),
    Step("skip-curves", ["-m", "tools.curves", "{runs}/unet", "{runs}/unet-noskip",
                         "--out", "{runs}/skip-curves"],
         [], "curves.md", (("curves.png", "skip-curves.png"),)),
    # Aiming at the score, and the all-black pitfall.
    training("strided-mse", "train_conv.py", "--model", "strided", "--loss", "mse",
             figures=("samples.png", "history.png")),
    training("strided-bce", "train_conv.py", "--model", "strided", "--loss", "bce",
             figures=("history.png",)),
    # A noise layer inside the model, at stddev 2 and 6 on clothes.
    training("noise-layer-2", "train_dense.py", "--model", "noise-layer",
             "--dataset", "fashion_mnist", "--noise-level", "2"),
    training("noise-layer-6", "train_dense.py", "--model", "noise-layer",
             "--dataset", "fashion_mnist", "--noise-level", "6"),
    # Blind denoising: one model for a range of noise levels.
    training("blind", "train_conv.py", "--noise-level", "0.05:0.5", figures=("levels.png",)),
    # No clean pictures: the default U-Net aimed at the clean digits, and at another noisy
    # copy (Noise2Noise), on 4000 digits; then their validation curves together.
    training("clean-target", "train_conv.py", *NOISE2NOISE_RECIPE, figures=()),
    training("noise2noise", "train_noisy_targets.py", *NOISE2NOISE_RECIPE, "--target", "noisy",
             figures=()),
    Step("noisy-target-curves", ["-m", "tools.curves", "{runs}/clean-target", "{runs}/noise2noise",
                                 "--out", "{runs}/noisy-target-curves"],
         [], "curves.md", (("curves.png", "noisy-target-curves.png"),)),
    # ... and on photos: one noisy copy of each photo, neighbour pairs cut from it
    # (Neighbor2Neighbor), against clean targets for the same training time (half the
    # epochs), and without Neighbor2Neighbor's regulariser (one change); all three on the
    # whole test photos (the first one shown), and their curves.
    benchmark_training("clean-train400", "photos-clean"),
    benchmark_training("neighbours-train400", "photos-neighbours"),
    benchmark_training("neighbours-noreg-train400", "photos-neighbours-noreg"),
    Step("compare-neighbours", ["-m", "tools.compare", "--dataset", "bsd68", "--channels", "1",
                                "--noise", "gaussian-unclipped", "--noise-level", "25/255",
                                "--classical", "--out", "{runs}/compare-neighbours", "--models",
                                "{runs}/clean-train400/model.keras",
                                "{runs}/neighbours-train400/model.keras",
                                "{runs}/neighbours-noreg-train400/model.keras"],
         QUICK_PHOTOS, "results.json", (("samples.png", "compare-neighbours-samples.png"),)),
    Step("neighbour-curves", ["-m", "tools.curves", "{runs}/clean-train400",
                              "{runs}/neighbours-train400", "{runs}/neighbours-noreg-train400",
                              "--out", "{runs}/neighbour-curves"],
         [], "curves.md", (("curves.png", "neighbour-curves.png"),)),
    # Against classical denoisers: on digits, with a sweep over noise levels ...
    Step("compare-mnist", ["-m", "tools.compare", "--limit", "1000", "--sweep", "0.05", "0.1", "0.2",
                           "0.3", "0.4", "0.5", *ALL_BUT_BM3D, "--out", "{runs}/compare-mnist",
                           "--models",
                           "{runs}/default/model.keras", "{runs}/blind/model.keras",
                           "{runs}/deep/model.keras", "{runs}/small/model.keras"],
         ["--limit", "20", *QUICK_CLASSICAL], "results.json",
         (("psnr.png", "compare-mnist-psnr.png"), ("sweep.png", "compare-mnist-sweep.png"))),
    # ... and on photos at sigma 15, 25 and 50, with the ready-trained models of models/
    # (and BM3D on the grey ones, where the optional bm3d package is installed: pip install
    # bm3d; non-commercial use only).
    Step("compare-bsd68", ["-m", "tools.compare", "--dataset", "bsd68", "--tune-dataset", "train400",
                           "--channels", "1", "--noise", "gaussian-unclipped",
                           "--noise-level", "25/255", "--sweep", "15/255", "25/255", "50/255",
                           "--out", "{runs}/compare-bsd68", "--models",
                           "models/unet-psnr-train400-sigma25.keras",
                           "models/unet-psnr-train400-blind.keras",
                           "models/unet-train400-sigma25.keras",
                           "models/unet-train400-blind.keras"],
         [*QUICK_PHOTOS, *QUICK_CLASSICAL], "results.json",
         (("psnr.png", "compare-bsd68-psnr.png"),)),
    Step("compare-cbsd68", ["-m", "tools.compare", "--dataset", "cbsd68", "--tune-dataset", "cbsd432",
                            "--channels", "3", "--noise", "gaussian-unclipped",
                            "--noise-level", "25/255", "--sweep", "15/255", "25/255",
                            "50/255", *ALL_BUT_BM3D, "--out", "{runs}/compare-cbsd68",
                            "--models",
                            "models/unet-psnr-cbsd432-sigma25.keras",
                            "models/unet-psnr-cbsd432-blind.keras",
                            "models/unet-cbsd432-sigma25.keras",
                            "models/unet-cbsd432-blind.keras"],
         [*QUICK_PHOTOS, *QUICK_CLASSICAL], "results.json",
         (("psnr.png", "compare-cbsd68-psnr.png"),)),
    # Told the noise level: one model for every level, beside the blind one and the
    # specialist, told the true level and (a row of its own) the level it estimates ...
    told_level_step("bsd68", "1", "models/unet-level-train400.keras",
                    "models/unet-psnr-train400-blind.keras",
                    "models/unet-psnr-train400-sigma25.keras"),
    told_level_step("cbsd68", "3", "models/unet-level-cbsd432.keras",
                    "models/unet-psnr-cbsd432-blind.keras",
                    "models/unet-psnr-cbsd432-sigma25.keras"),
    # ... the colour one again, averaged over the 8 orientations of each photo, and CBM3D,
    # the colour models' reference, at the same three levels ...
    told_level_step("cbsd68", "3", "models/unet-level-cbsd432.keras", self_ensemble=True),
    # ... the colour one taught camera noise, on white noise beside the model it started from ...
    told_level_step("cbsd68", "3", "models/unet-level-cbsd432-camera.keras",
                    "models/unet-level-cbsd432.keras", name="told-level-cbsd68-camera-model"),
    bm3d_step("cbsd68", "cbsd432", "3"),
    # ... and the strength knob: told the wrong level.
    Step("knob", ["-m", "tools.knob", "--model", "models/unet-level-train400.keras", "--dataset",
                  "bsd68", "--channels", "1", "--out", "{runs}/knob"],
         [*QUICK_PHOTOS, "--told-levels", "10/255", "40/255"], "knob.json",
         (("knob.png", "knob.png"),)),
    # What turns and mirrors bring: the grey told-the-level model's validation curve beside
    # that of the same command without them (both trained on a GPU: docs/trained-models.md).
    Step("flip-curves", ["-m", "tools.curves", "models/unet-level-train400.metrics.json",
                         "models/records/unet-level-train400-noflip.metrics.json",
                         "--out", "{runs}/flip-curves"],
         [], "curves.md", (("curves.png", "flip-curves.png"),)),
    # Your own pictures: a grey photo at sigma 25, and a face with shot noise.
    Step("photo", ["denoise.py", "--model", "models/unet-psnr-train400-sigma25.keras",
                   "--add-noise", "gaussian-unclipped", "--noise-level", "25/255",
                   "{set12}/01.png", "--out", "{runs}/photo"],
         [], "01_denoised.png", (("01_side_by_side.png", "photo-side-by-side.png"),)),
    Step("face", ["denoise.py", "--model", "models/unet-faces-poisson30.keras",
                  "--add-noise", "poisson", "--noise-level", "30",
                  "{faces}/100_1_2_20170105174847679.png", "--out", "{runs}/face"],
         [], "100_1_2_20170105174847679_denoised.png",
         (("100_1_2_20170105174847679_side_by_side.png", "face-side-by-side.png"),)),
    # Real camera noise: the real pairs' noise beside the simulation's (--noise camera) ...
    Step("camera-noise", ["-m", "tools.camera_noise", "--out", "{runs}/camera-noise"],
         ["--limit", "4"], "results.json",
         (("spread.png", "camera-noise-spread.png"), ("crops.png", "camera-noise-crops.png"))),
    # ... and the colour models on the real pairs, through denoise.py's own code path.
    Step("real-pairs", ["-m", "tools.real_pairs", "--out", "{runs}/real-pairs", "--models",
                        "models/unet-psnr-cbsd432-camera.keras",
                        "models/unet-psnr-cbsd432-blind.keras",
                        "models/unet-psnr-cbsd432-sigma25.keras",
                        "models/unet-cbsd432-blind.keras", "models/unet-level-cbsd432.keras"],
         ["--limit", "2"], "results.json"),
    # ... the camera-noise estimate, chosen on half of the scenes and scored on the other ...
    Step("noise-estimator", ["-m", "tools.noise_estimator", "--model",
                             "models/unet-level-cbsd432.keras", "--out", "{runs}/noise-estimator"],
         ["--limit", "5", "--textured-limit", "2"], "results.json"),
    # ... the same choice of a factor for the told model taught camera noise ...
    Step("noise-estimator-camera-model", ["-m", "tools.noise_estimator", "--model",
                                          "models/unet-level-cbsd432-camera.keras", "--out",
                                          "{runs}/noise-estimator-camera-model"],
         ["--limit", "5", "--textured-limit", "2"], "results.json"),
    # ... and the colour models on the half that chose nothing, a told one told it (and
    # its first real picture at full resolution, noisy and denoised by each).
    Step("real-pairs-camera", ["-m", "tools.real_pairs", "--half", "scoring", "--noise-level",
                               "camera", "--out", "{runs}/real-pairs-camera", "--models",
                               "models/unet-level-cbsd432-camera.keras",
                               "models/unet-level-cbsd432.keras",
                               "models/unet-psnr-cbsd432-camera.keras",
                               "models/unet-psnr-cbsd432-blind.keras",
                               "models/unet-psnr-cbsd432-sigma25.keras"],
         ["--limit", "5"], "results.json",
         (("samples.png", "real-pairs-camera-samples.png"),)),
    # ... the two told models, told the camera estimate, on all the pairs ...
    Step("real-pairs-camera-all", ["-m", "tools.real_pairs", "--noise-level", "camera", "--out",
                                   "{runs}/real-pairs-camera-all", "--models",
                                   "models/unet-level-cbsd432-camera.keras",
                                   "models/unet-level-cbsd432.keras"],
         ["--limit", "2"], "results.json"),
    # ... and whether the told model makes use of a level for each pixel (a map).
    Step("noise-map", ["-m", "tools.noise_map", "--model", "models/unet-level-cbsd432.keras",
                       "--out", "{runs}/noise-map"], ["--limit", "5"], "results.json"),
    # How fast each backend trains and denoises.
    Step("speed", ["-m", "tools.speed", "--presets", "deep", "unet-psnr", "dncnn", "--out",
                   "{runs}/speed"],
         ["--steps", "1", "--presets", "deep", "--backends", "tensorflow"], "results.json"),
]


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.make_docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny runs: the same files in a few minutes, numbers that mean "
                             "nothing (to check that this script works)")
    parser.add_argument("--steps", nargs="+", choices=[step.name for step in STEPS],
                        default=[step.name for step in STEPS],
                        help="make only these steps' runs (default: all); the figures and "
                             "results.md are made from every step that has finished")
    parser.add_argument("--runs", default=None,
                        help="the folder of the steps' runs (default: runs/docs, or "
                             "runs/docs-quick with --quick)")
    parser.add_argument("--docs", default=None,
                        help="where figures/ and results.md go (default: docs, or "
                             "runs/docs-quick/docs with --quick)")
    parser.add_argument("--data-dir", default=None,
                        help="a folder with the datasets, passed on to every step "
                             "(default: $DENOISE_DATA_DIR, or download)")
    args = parser.parse_args(argv)
    base = os.path.join("runs", "docs-quick" if args.quick else "docs")
    args.runs = args.runs or base
    args.docs = args.docs or (os.path.join(base, "docs") if args.quick else "docs")
    return args


def command_of(step, args):
    """The step's command line, its placeholders filled in."""
    folders = {"runs": args.runs}
    for photo_set in ("set12", "faces"):  # found, or downloaded, only where a step uses it
        if any(f"{{{photo_set}}}" in part for part in step.command):
            folders[photo_set] = data.photo_set_folder(photo_set, args.data_dir)
    command = [part.format(**folders) for part in step.command]
    if args.quick:
        command += step.quick
    if args.data_dir and any(part in SCRIPTS_WITH_DATA for part in step.command[:2]):
        command += ["--data-dir", args.data_dir]
    return command


def finished(step, args):
    """Has the step's run finished (in an earlier call, or this one), made from what the
    step reads now, with every figure the step shows? A run of a command since changed, or
    of a model since replaced, is not found: it is made again; so is one made before its
    command drew a figure that the step now shows."""
    folder = os.path.join(args.runs, step.name)
    if step.result == "metrics.json" and "validation_images" not in files.read_json(
            os.path.join(folder, step.result), {}):  # made before the validation split
        return False
    return (os.path.exists(os.path.join(folder, step.result))
            and all(os.path.exists(os.path.join(folder, figure)) for figure, _ in step.figures)
            and files.read_json(os.path.join(folder, MADE_FROM), None) == made_from(step, args))


def made_from(step, args):
    """What the step's run is made from: its command (placeholders unfilled, with what
    --quick adds) and the digest of each model file (or kept metrics.json) it reads, one of
    models/ or one that an earlier step trained ({runs}/default/model.keras), and of the
    metrics.json of each earlier step's run it reads whole (tools/curves.py's {runs}/unet);
    None for one not there."""
    models = {}
    for part in step.command:
        if part.endswith((".keras", ".onnx", ".metrics.json")):
            path = part.format(runs=args.runs)
        elif part.startswith("{runs}/") and part != "{runs}/" + step.name:  # a run's folder
            path = os.path.join(part.format(runs=args.runs), "metrics.json")
        else:
            continue
        models[part] = file_digest(path) if os.path.exists(path) else None
    return {"command": step.command + (step.quick if args.quick else []), "models": models}


def run_step(step, args):
    """Run one step's command, its output in <runs>/<name>.log; False if it failed."""
    command = command_of(step, args)
    source = made_from(step, args)  # before the run: a model replaced meanwhile is not it
    folder = os.path.join(args.runs, step.name)
    if os.path.isdir(folder):  # an unfinished try (steps_not_ours checked it is ours): anew
        shutil.rmtree(folder)
    print("$ python", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(os.path.join(args.runs, f"{step.name}.log"), "w") as log:
        log.write(f"{LOG_HEADER}$ python {' '.join(command)}\n")
        log.flush()  # before the child's output, which goes to the same file
        RUNNING.append(step.name)
        returncode = signals.run_child([sys.executable, *command], stdout=log,
                                       stderr=subprocess.STDOUT).returncode
        RUNNING.remove(step.name)
    print(f"  {'done' if returncode == 0 else 'FAILED'} in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    if returncode == 0:
        with open(os.path.join(folder, "command.txt"), "w") as file:
            file.write("python " + " ".join(command) + "\n")
        files.write_json(os.path.join(folder, MADE_FROM), source)
    return returncode == 0


def steps_not_ours(steps, args):
    """The steps whose folder or log under --runs this script did not write: a folder or
    <step>.log of the same name that is the user's own, which a run of the step would
    remove or write over. Ours: a log that begins with LOG_HEADER, or a folder that holds
    the made-from.json of a run that finished."""
    def ours(step):
        folder = os.path.join(args.runs, step.name)
        log = os.path.join(args.runs, f"{step.name}.log")
        if not os.path.lexists(folder) and not os.path.lexists(log):
            return True
        finished_here = (not os.path.islink(folder)
                         and os.path.isfile(os.path.join(folder, MADE_FROM)))
        return not os.path.islink(folder) and (finished_here or starts_with(log, LOG_HEADER))
    return [step for step in steps if not ours(step)]


def starts_with(path, text):
    """Is `path` a file (not a link) that begins with `text`?"""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, "rb") as file:
        return file.read(len(text.encode())) == text.encode()


def figure_digests(results):
    """Each figure results.md's table lists, with the digest make_docs wrote it with."""
    return {name: digest for name, _, digest in FIGURE_ROW.findall(results)}


def figures_written_here(args):
    """The files of <docs>/figures that this script wrote and nobody changed since: those
    the table of the results.md beside them lists, with the same digest, as {figure: its
    row (figure, step, digest)}. Only these are written over or removed; any other file
    there is left as it is."""
    folder = os.path.join(args.docs, "figures")
    results = os.path.join(args.docs, "results.md")
    if not os.path.isfile(results) or not os.path.isdir(folder):
        return {}
    with open(results, encoding="utf-8", errors="replace") as file:
        rows = {row[0]: row for row in FIGURE_ROW.findall(file.read())}
    return {name: rows[name] for name in os.listdir(folder)
            if name in rows and not os.path.islink(os.path.join(folder, name))
            and file_digest(os.path.join(folder, name)) == rows[name][2]}


def docs_not_ours(args):
    """The files under --docs that a call would write over but this script did not write:
    a results.md not begun as ours, or a figure of a step's name that the table of
    results.md does not list as written (changed by hand since, or the user's own)."""
    results = os.path.join(args.docs, "results.md")
    theirs = []
    if os.path.lexists(results) and not starts_with(results, RESULTS_START):
        theirs.append(results)
    folder = os.path.join(args.docs, "figures")
    if os.path.isdir(folder):
        made = {name for step in STEPS for _, name in step.figures}
        written = figures_written_here(args)
        theirs += [os.path.join(folder, name) for name in sorted(made & set(os.listdir(folder)))
                   if name not in written]
    return theirs


def where_it_stopped():
    """What a stop leaves: the finished steps, and the step it cut short."""
    kept = "every finished step is kept, and python -m tools.make_docs goes on from there"
    if not RUNNING:
        return kept
    return f"step {RUNNING[0]} was stopped too (the next call makes it anew); {kept}"


def save_small(source, target):
    """Copy a PNG figure, stored with at most 256 colours if it is larger than
    MAX_FIGURE_BYTES (a figure's colours are mostly its few line and text colours)."""
    with open(source, "rb") as file:
        content = file.read()
    if len(content) > MAX_FIGURE_BYTES:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(content)).convert("RGB").quantize(256).save(
            buffer, "PNG", optimize=True)
        content = min(content, buffer.getvalue(), key=len)
    with open(target, "wb") as file:
        file.write(content)
    return len(content)


def copy_figures(args):
    """Copy every finished step's figures into <docs>/figures/, and remove the figures
    there that no step makes any more (of those this script wrote: figures_written_here).
    Returns a (figure, step, SHA-256) row for each figure there, so that results.md can say
    which command made each, and a test can check that the committed figure is that one:
    those copied now, and those an earlier call wrote for a step not finished in this
    --runs (kept, with their rows, so that the next call still knows them for its own)."""
    folder = os.path.join(args.docs, "figures")
    os.makedirs(folder, exist_ok=True)
    made = {name for step in STEPS for _, name in step.figures}
    written = figures_written_here(args)
    for stale in set(written) - made:  # of a step since removed: ours to remove
        os.remove(os.path.join(folder, stale))
    copied = []
    for step in STEPS:
        if not finished(step, args):
            continue
        for figure, name in step.figures:
            target = os.path.join(folder, name)
            size = save_small(os.path.join(args.runs, step.name, figure), target)
            print(f"  figures/{name}: {size / 1000:.0f} KB")
            copied.append((name, step.name, file_digest(target)))
    now = {name for name, _, _ in copied}
    return copied + [row for name, row in sorted(written.items()) if name in made - now]


def file_digest(path):
    """The first 16 hexadecimal digits of a file's SHA-256: enough to tell two versions apart."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def figures_table(copied):
    """A row per figure this call wrote: which step made it, and its digest."""
    lines = ["| figure | made by the step | SHA-256 (first 16 digits) |", "|---|---|---|"]
    lines += [f"| {name} | {step} | {digest} |" for name, step, digest in copied]
    return "\n".join(lines)


def read_command(args, name):
    with open(os.path.join(args.runs, name, "command.txt")) as file:
        return file.read().strip()


def training_table(args):
    """One row per finished training step: how it was trained and how well it denoises,
    with the noise its test images were made with (at a range's middle, for a blind run),
    as the lessons on digits write it: kind and level, not sigma of 255."""
    lines = [("| run | command | parameters | epochs | training seconds | validation PSNR | "
              "test noise | test images | noisy PSNR | PSNR | SSIM |"), "|---" * 11 + "|"]
    for step in STEPS:
        if step.result != "metrics.json" or not finished(step, args):
            continue
        scores = files.read_json(os.path.join(args.runs, step.name, "metrics.json"), None)
        test_level = noise.middle_level(scores["noise_level"])
        test_noise = f"{scores['noise']} {noise.level_text(test_level)}"
        lines.append(f"| {step.name} | `{read_command(args, step.name)}` | "
                     f"{scores['params']:,} | {scores['epochs']} | "
                     f"{scores['train_seconds']:.0f} | {validation_psnr(scores)} | {test_noise} | "
                     f"{score_cells(scores)} |")
    return "\n".join(lines)


def codes_table(args):
    """A row per finished run of a dense model: how far apart its codes lie, on average,
    for two test images of one class and for two of different classes (train_dense.py)."""
    lines = ["| run | mean distance, same class | mean distance, other classes |",
             "|---|---|---|"]
    for step in STEPS:
        if step.result != "metrics.json" or not finished(step, args):
            continue
        codes = files.read_json(os.path.join(args.runs, step.name, "metrics.json"),
                                None).get("codes")
        if codes:
            same, other = (codes[key] for key in ("same_class", "other_class"))
            lines.append(f"| {step.name} | " + " | ".join(
                "-" if value is None else f"{value:.2f}" for value in (same, other)) + " |")
    return "\n".join(lines)


def validation_psnr(scores):
    """The PSNR on the validation images after the last epoch, by which settings are chosen
    ("-" for a run made before the lessons held out validation images)."""
    if "validation_images" not in scores:
        return "-"
    return f"{scores['history']['val_psnr'][-1]:.2f}"


def score_cells(scores):
    """The cells of a run's metrics.json scores: test images, noisy PSNR, PSNR, SSIM."""
    return (f"{scores['test_images']:,} | {scores['noisy_psnr']:.2f} | {scores['psnr']:.2f} | "
            f"{scores['ssim']:.3f}")


def found_table(args, name):
    """The table a finished tools/compare.py, speed.py, curves.py, camera_noise.py or
    real_pairs.py step wrote,
    under its command, and the PSNR of each method at every level of a tools/compare.py
    --sweep."""
    step = next(step for step in STEPS if step.name == name)
    if not finished(step, args):
        return "(not made yet)"
    markdown = "curves.md" if step.result == "curves.md" else "results.md"
    with open(os.path.join(args.runs, name, markdown)) as file:
        text = file.read()
    first_row = re.search(r"^\|", text, re.MULTILINE)  # the lines above it left out
    table = text[first_row.start():] if first_row else text
    found = f"`{read_command(args, name)}`\n\n{table.strip()}"
    summary = files.read_json(os.path.join(args.runs, name, "results.json"), {})
    if "sweep" in summary:
        found += "\n\nPSNR (dB) at each test noise level:\n\n" + sweep_table(summary)
    return found


def sweep_table(summary):
    """tools/compare.py's sweep as a table: a row per method, a column per noise level."""
    levels = [noise.describe(summary["noise"], level) for level in summary["sweep"]["levels"]]
    lines = ["| method | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    for method, psnrs in summary["sweep"]["psnr"].items():
        if all(psnr is None for psnr in psnrs):  # not run at all (bm3d, not installed)
            continue
        cells = ["failed" if psnr is None else f"{psnr:.2f}" for psnr in psnrs]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def knob_table(args):
    """tools/knob.py's PSNR told each level, a row per true level, with the row's auto score."""
    if not finished(next(step for step in STEPS if step.name == "knob"), args):
        return "(not made yet)"
    knob = files.read_json(os.path.join(args.runs, "knob", "knob.json"), None)
    told = [f"{level * 255:.0f}" for level in knob["told_levels"]]
    lines = ["| true sigma | " + " | ".join(told) + " | auto (mean estimate) |",
             "|---|" + "---|" * (len(told) + 1)]
    for curve in knob["curves"]:
        auto = curve["auto"]
        lines.append(f"| {curve['true_level'] * 255:.0f} | "
                     + " | ".join(f"{psnr:.2f}" for psnr in curve["psnr"])
                     + f" | {auto['psnr']:.2f} ({auto['estimated_level'] * 255:.1f}) |")
    return (f"`{read_command(args, 'knob')}`\n\nMean PSNR (dB) on {knob['pictures']} pictures, "
            "told each sigma (of 255) in the header:\n\n" + "\n".join(lines))


def models_table():
    """The ready-trained models of models/, with the scores their metrics.json hold."""
    lines = ["| model | trained on | noise | test images | noisy PSNR | PSNR | SSIM |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join("models", "*.metrics.json"))):
        scores = files.read_json(path, None)
        lines.append(f"| `{os.path.basename(path).removesuffix('.metrics.json')}` | "
                     f"{os.path.basename(scores['dataset'])} | "
                     f"{noise.describe(scores['noise'], scores['noise_level'])} | "
                     f"{score_cells(scores)} |")
    return "\n".join(lines)


def stamp(args, argv):
    """The command, date, commit, package versions and machine that made the results."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    changed = subprocess.run(  # in any file but what this script writes
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
         f":!{os.path.join(args.docs, 'results.md')}", f":!{os.path.join(args.docs, 'figures')}"],
        capture_output=True, text=True, check=False).stdout.strip()
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return (f"- command: `{' '.join(['python', '-m', 'tools.make_docs', *argv])}`\n"
            f"- date: {datetime.date.today().isoformat()}\n"
            f"- commit: {commit}{' (with uncommitted changes)' if changed else ''}\n"
            f"- packages: {', '.join(versions)}\n"
            f"- machine: {benchmark.machine_description()}, no GPU used\n"
            f"- runs: found in {args.runs} or made by this call; a run found was made by an "
            f"earlier call, at the commit of that time\n")


# How results.md begins: the sign that a results.md is this script's to write over.
RESULTS_START = ("# Results\n\nEvery number the README and the lessons quote comes from this "
                 "page")


# How each table of validation curves of digit runs begins.
VALIDATION_DIGITS = ("Validation PSNR (dB) after each epoch (0: untrained) on the validation "
                     "digits, the last tenth of the training images that each run held out, ")


def write_results(args, argv, copied):
    sections = [
        RESULTS_START + " or from the other results pages beside it (the README lists "
        "them, each with its commands); this page comes from `python -m tools.make_docs`, "
        "which reruns or finds each run below. Each table gives the command that made "
        "it.\n\n" + stamp(args, argv),
        "## The lessons' runs\n\nMNIST or Fashion-MNIST: the PSNR (dB) and SSIM between the "
        "clean test images and the noisy input or the denoised output, means over the test "
        "images.\n\n" + training_table(args),
        "## The dense models' codes\n\nOn the first 2,000 noisy test images: the mean "
        "Euclidean distance between the codes of two images of one class, and of two of "
        "different classes (metrics.class_distances; codes.png draws the table of each pair "
        "of classes).\n\n" + codes_table(args),
        "## Fresh noise every epoch, or one noisy copy drawn once\n\n" + VALIDATION_DIGITS
        + "of the runs default and fixed-noise above.\n\n" + found_table(args, "noise-curves"),
        "## Transposed convolutions or resize-convolutions: one change\n\n" + VALIDATION_DIGITS
        + "of the runs transpose and resize above.\n\n" + found_table(args, "decoder-curves"),
        "## Skip connections: the U-Net with and without them\n\n" + VALIDATION_DIGITS
        + "of the runs unet and unet-noskip above.\n\n" + found_table(args, "skip-curves"),
        "## No clean pictures: Noise2Noise on digits\n\n" + VALIDATION_DIGITS
        + "of the runs clean-target and noise2noise above (clean validation digits).\n\n"
        + found_table(args, "noisy-target-curves"),
        "## No clean pictures: neighbour pairs on grey photos (BSD68)\n\n"
        + found_table(args, "compare-neighbours") + "\n\nValidation PSNR (dB) after each epoch "
        "(0: untrained) on the 64x64 centre crops of the validation photos, the last tenth of "
        "the training photos that each run held out:\n\n" + found_table(args, "neighbour-curves"),
        "## Against classical denoisers: digits\n\n" + found_table(args, "compare-mnist"),
        "## Against classical denoisers: grey photos (BSD68)\n\n"
        + found_table(args, "compare-bsd68"),
        "## Against classical denoisers: colour photos (CBSD68)\n\n"
        + found_table(args, "compare-cbsd68"),
        "## CBM3D on the colour photos (CBSD68)\n\n" + found_table(args, "bm3d-cbsd68"),
        "## Told the noise level: grey photos (BSD68)\n\n" + found_table(args, "told-level-bsd68"),
        "## Told the noise level: colour photos (CBSD68)\n\n"
        + found_table(args, "told-level-cbsd68"),
        "## Told the noise level, averaged over 8 orientations: colour photos (CBSD68)\n\n"
        + found_table(args, "told-level-cbsd68-x8"),
        "## Told the noise level: the model taught camera noise, on white noise (CBSD68)\n\n"
        + found_table(args, "told-level-cbsd68-camera-model"),
        "## The strength knob: told the wrong level (BSD68)\n\n" + knob_table(args),
        "## Turns and mirrors: the grey told-the-level recipe with and without them\n\n"
        "PSNR (dB) after each epoch (0: untrained) on the 128x128 centre crops of the first "
        "24 BSD68 test photos at sigma 32.5 (the middle of the training range; the runs came "
        "before the scripts held out validation images), of "
        "two runs of the same command on a GPU, one with "
        "`--no-flip-rotate` ([trained models](trained-models.md)): `unet-level-train400`, the committed model, "
        "and `unet-level-train400-noflip`, whose model was not kept.\n\n"
        + found_table(args, "flip-curves"),
        "## Real camera noise: the noise of the real pairs beside the simulation's\n\n"
        + found_table(args, "camera-noise"),
        "## Real camera noise: the colour models on the real pairs\n\n"
        + found_table(args, "real-pairs"),
        "## Real camera noise: the camera estimate, chosen on half of the scenes\n\n"
        + found_table(args, "noise-estimator"),
        "## Real camera noise: the camera estimate's factor for the told model taught camera "
        "noise\n\n" + found_table(args, "noise-estimator-camera-model"),
        "## Real camera noise: the colour models on the scoring half, told the camera "
        "estimate\n\n" + found_table(args, "real-pairs-camera"),
        "## Real camera noise: the told models on all the pairs, told the camera estimate\n\n"
        "45 of these pairs chose the camera estimate's settings: the scoring half's table, "
        "above, is the one that chose nothing.\n\n" + found_table(args, "real-pairs-camera-all"),
        "## Real camera noise: the told model told a level for each pixel\n\n"
        + found_table(args, "noise-map"),
        "## The ready-trained models in models/\n\nScored when they were trained (the "
        "commands are in [trained models](trained-models.md)).\n\n" + models_table(),
        "## Speed of each backend\n\nImages per second on the machine above.\n\n"
        + found_table(args, "speed"),
        "## The figures\n\nEvery figure under figures/ as this call wrote it, with the step "
        "whose command made it (its table is above) and the start of the file's SHA-256, "
        "which tests/test_docs.py checks against the file.\n\n" + figures_table(copied),
    ]
    path = os.path.join(args.docs, "results.md")
    with open(path, "w") as file:
        file.write("\n\n".join(sections) + "\n")
    print(f"wrote {path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_arguments(argv)
    signals.stop_in_one_line(where_it_stopped)
    os.makedirs(args.runs, exist_ok=True)
    to_make = [step for step in STEPS if step.name in args.steps and not finished(step, args)]
    theirs = [path for step in steps_not_ours(to_make, args)
              for path in (os.path.join(args.runs, step.name),
                           os.path.join(args.runs, f"{step.name}.log")) if os.path.lexists(path)]
    theirs += docs_not_ours(args)
    if theirs:
        sys.exit(f"error: {', '.join(theirs)}: not written by this script, which would write "
                 "over or remove it; move it away, or choose another --runs or --docs")
    failed = []
    for step in STEPS:
        if step.name in args.steps and not finished(step, args) and not run_step(step, args):
            failed.append(step.name)
    copied = copy_figures(args)
    write_results(args, argv, copied)
    if failed:
        sys.exit(f"error: {', '.join(failed)} failed; see {args.runs}/<step>.log")


if __name__ == "__main__":
    main()
