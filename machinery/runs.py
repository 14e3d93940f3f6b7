"""The run folder: what keeps a long training run safe, so the lesson scripts need not say it.

It knows files, folders and signals, and nothing of what is trained: the run's settings
(its models, data, noise) are settings.py's, which calls these. A training script names
the rest where it uses them; none of them trains, predicts or scores:
- `start_run_folder` and `read_resume_state` (called by settings.start): the run's
  folder, a new one or the interrupted run that `--resume` continues, with the arguments
  it needs to resume; `stop_cleanly_on_signals` and `one_line_errors`: Ctrl-C, SIGTERM
  and the errors a user meets then end the run with one line;
- `EpochLog` and `Backup`: Keras callbacks that record each finished epoch in
  epochs.json and back it up, so that a stop or a crash loses at most the epoch in
  progress, and that stop the run with FAILED.txt when its loss turns NaN;
- `finish`: model.keras, then metrics.json, the sign of a finished run.

Every file is written whole or not at all (machinery/files.py).
"""

import contextlib
import math
import os
import re
import signal
import sys
import time
import warnings

import keras
import numpy as np

from machinery import distribute, files
from machinery.signals import STOP_SIGNALS

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
# The signal of a stop under way, if one came (see EpochLog.on_train_batch_end).
STOPPING = []
# The run folders this process holds (see hold_the_run_folder): open, and so locked.
HELD_FOLDERS = []


def in_notebook():
    """Is this code running in a Jupyter kernel (a notebook, or papermill)?"""
    return "ipykernel" in sys.modules


def start_run_folder(parser, out, overwrite, arguments):
    """Make the folder `out` of a new run (with `overwrite`, in place of an earlier run),
    and record `arguments`, what --resume will need; a bad --out is a parser error."""
    if out == "":
        parser.error("argument --out: an empty name; name a folder")
    elif os.path.exists(out) and not os.path.isdir(out):
        parser.error(f"argument --out: {out} is a file, not a folder")
    elif os.path.isdir(out) and os.listdir(out) and not overwrite:
        parser.error(f"argument --out: {out} already holds files; choose another "
                     "folder, pass --resume to continue it, or --overwrite to start anew")
    elif os.path.isdir(out) and os.listdir(out) and not is_a_run_folder(out):
        parser.error(f"argument --overwrite: {out} holds files but no run (no "
                     f"{ARGUMENTS_FILE}, or a {BACKUP_FOLDER} that is not a folder of its "
                     "own); --overwrite replaces only a run's files: choose another folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --out: cannot create {out}: {error.strerror}")
    hold_the_run_folder(parser, out)
    for stale in (METRICS_FILE, FAILED_FILE, EPOCHS_FILE):  # with --overwrite: start anew
        if os.path.exists(os.path.join(out, stale)):
            os.remove(os.path.join(out, stale))
    remove_backup(out)
    try:
        files.write_json(os.path.join(out, ARGUMENTS_FILE), arguments)
    except OSError as error:  # a full disk, a read-only place
        parser.error(f"argument --out: cannot write in {out}: {error.strerror}")


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


def hold_the_run_folder(parser, folder):
    """Hold the run's folder until this process ends, so that a second run started into
    it (even with --overwrite or --resume) stops in one line instead of mixing its files
    with this one's."""
    held = files.hold_folder(folder)
    if held is None:
        parser.error(f"argument --out: another run is writing into {folder} now; wait for it "
                     "to end, or choose another folder")
    HELD_FOLDERS.append(held)  # kept open, and so held, for as long as the run goes


def read_resume_state(folder, check_arguments):
    """The arguments of the run in `folder`, once every file a resume reads is checked:
    check_arguments(path, saved) returns the saved arguments as the command line would
    have them, or raises ValueError naming what is wrong (settings.checked_arguments).

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
    arguments = check_arguments(path, saved or {})
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


def one_line_errors(folder, usual_hook, told_as_they_are=()):
    """An excepthook for the errors a user meets, each said in one line (exit code 1).

    An error of the kinds `told_as_they_are` (settings.start names data.DatasetError:
    data missing, damaged, offline; and distribute.TooFewToShare), an OSError (a full
    disk, a folder that became read-only) and, with several processes, one that stops,
    may pass: every finished epoch is backed up whole, so the run can go on once the cause
    is fixed. (FAILED.txt is for runs that cannot.)
    """

    def hook(kind, error, trace):
        if distribute.lost_a_peer(error):
            reason = (str(error).strip().splitlines() or [kind.__name__])[0]
            distribute.exit_at_once(1, f"error: a process of the cluster stopped answering "
                                       f"({reason[:200]}); stopped after {finished_epochs(folder)} "
                                       f"finished epoch(s): continue with: "
                                       f"{resume_command(folder)}\n")
        elif issubclass(kind, told_as_they_are):
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
    the same command again. A folder that holds nothing else is emptied of the
    arguments.json it was given, so that the command needs no --overwrite; one that holds
    an earlier run's files (started with --overwrite) keeps it, so that --overwrite still
    knows it for a run's folder."""
    if os.path.exists(os.path.join(folder, EPOCHS_FILE)):
        return f"fix that, then continue with: {resume_command(folder)}"
    if os.listdir(folder) == [ARGUMENTS_FILE]:
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


def tensorboard_logs(args):
    """The callbacks that write TensorBoard's logs into <out>/tensorboard with
    --tensorboard: a list of one, or none."""
    if not args.tensorboard:
        return []
    return [keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard"))]


def finish(args, model, epoch_log, scores, train_images, validation_images):
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
        "validation_images": validation_images, "validation_split": args.validation_split,
        **{key: vars(args)[key] for key in ("target", "regulariser_weight", "flip_rotate",
                                            "fixed_noise", "start_from")
           if key in vars(args)},
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
