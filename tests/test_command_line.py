"""The command line and the knobs: --help, bad values, and folders that must not be overwritten."""

import json
import os
import subprocess
import sys

import pytest

import conv_models
import dense_models
import settings
from machinery import runs
from conftest import REPOSITORY, run_script

# What a training script passes as its knobs: its globals, run as a script.
CONV_KNOBS = {"__name__": "__main__", "model": "unet-psnr", "dataset": "mnist"}
DENSE_KNOBS = {"__name__": "__main__", "model": "deep", "dataset": "mnist"}
# Every lesson script, each a training script with the flags of `settings`.
SCRIPTS = ["train_conv.py", "train_dense.py", "train_photos.py", "train_noisy_targets.py"]


def parse(argv, knobs=CONV_KNOBS, models=conv_models.MODELS, takes=(settings.DIGITS,)):
    """The settings as train_conv.py reads them (`takes`: what else the script takes,
    settings.PHOTOS for train_photos.py)."""
    return settings.parse_arguments("", models, knobs, takes=takes, argv=argv)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_describes_every_option(script):
    result = run_script(script, "--help")
    assert result.returncode == 0
    for flag in ("--dataset", "--noise", "--noise-level", "--model", "--loss", "--epochs",
                 "--batch-size", "--train-limit", "--test-limit", "--seed", "--data-dir",
                 "--out", "--show"):
        assert flag in result.stdout
    photos = ("--test-dataset", "--channels", "--image-size", "--flip-rotate")
    assert all((flag in result.stdout) == (script in ("train_photos.py",
                                                      "train_noisy_targets.py"))
               for flag in photos)
    assert ("--target" in result.stdout) == (script == "train_noisy_targets.py")


@pytest.mark.parametrize("knobs, models, takes", [
    (CONV_KNOBS, conv_models.MODELS, ()), (DENSE_KNOBS, dense_models.MODELS, ()),
    (CONV_KNOBS, conv_models.MODELS, (settings.PHOTOS,)),
    (CONV_KNOBS, conv_models.MODELS, (settings.PHOTOS, settings.TARGETS))],
    ids=["conv", "dense", "photos", "noisy_targets"])
@pytest.mark.parametrize("arguments, complaint", [
    (["--model", "nope"], "--model"),
    (["--epochs", "0"], "--epochs"),
    (["--noise", "speckle"], "--noise"),
    (["--noise", "salt-pepper", "--noise-level", "1.5"], "--noise-level"),
    (["--noise-level", "-0.2"], "--noise-level"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--batch-size", "many"], "--batch-size"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--out", ""], "--out"),
])
def test_bad_values_exit_2_with_the_usage_line(knobs, models, takes, arguments, complaint,
                                               tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        parse(["--out", str(tmp_path / "run"), *arguments], knobs, models, takes)
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage:") and complaint in error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_value_on_the_terminal_stops_the_script_before_any_work(script, tmp_path):
    result = run_script(script, "--epochs", "0", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.startswith("usage:") and "--epochs" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_the_knobs_are_the_defaults_and_the_flags_override_them(tmp_path):
    knobs = {**CONV_KNOBS, "model": "small", "noise_kind": "poisson", "noise_level": None,
             "epochs": 2, "learning_rate": 0.01, "train_limit": None, "out": str(tmp_path / "a")}
    args = parse([], knobs)
    assert (args.model, args.noise_kind, args.epochs, args.learning_rate) == ("small", "poisson", 2, 0.01)
    assert args.noise_level == 30.0 and args.loss == "bce"  # None: the kind's and preset's own
    args = parse(["--epochs", "5", "--noise", "gaussian", "--out", str(tmp_path / "b")], knobs)
    assert (args.model, args.noise_kind, args.epochs) == ("small", "gaussian", 5)


def test_a_preset_of_one_size_refuses_pictures_of_another(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        parse(["--model", "small", "--dataset", str(tmp_path), "--image-size", "32",
               "--out", str(tmp_path / "run")], takes=(settings.PHOTOS,))
    assert raised.value.code == 2 and "small takes 28x28 images only" in capsys.readouterr().err


@pytest.mark.parametrize("model, channels, start_from, complaint", [
    ("unet-level", 3, "missing.keras", "missing.keras: not a .keras model we can read"),
    ("unet-level", 3, "README.md", "README.md: not a .keras model we can read"),
    ("unet-psnr", 3, "models/unet-level-cbsd432.keras", "holds a unet-level model for pictures "
     "of any size, 3 channel(s); this run builds unet-psnr for any size, 3 channel(s)"),
    ("unet-level", 1, "models/unet-level-cbsd432.keras", "holds a unet-level model for pictures "
     "of any size, 3 channel(s); this run builds unet-level for any size, 1 channel(s)"),
])
def test_start_from_takes_only_a_model_of_the_preset_and_channels_it_builds(
        model, channels, start_from, complaint, tmp_path, capsys):
    """Its weights must fit: read from the file before any work, a misfit in one line."""
    with pytest.raises(SystemExit) as raised:
        parse(["--model", model, "--channels", str(channels), "--dataset", str(tmp_path),
               "--start-from", str(REPOSITORY / start_from), "--out", str(tmp_path / "run")],
              takes=(settings.PHOTOS,))
    assert raised.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument --start-from: " in last_line and complaint in last_line
    assert not (tmp_path / "run").exists()


def test_start_from_takes_a_model_of_the_preset_and_channels_it_builds(tmp_path, monkeypatch):
    """Kept as an absolute path, so that a --resume from another folder finds it too."""
    monkeypatch.chdir(REPOSITORY)
    args = parse(["--model", "unet-level", "--channels", "3", "--dataset", str(tmp_path),
                  "--start-from", "models/unet-level-cbsd432.keras", "--out",
                  str(tmp_path / "run")], takes=(settings.PHOTOS,))
    assert args.start_from == str(REPOSITORY / "models/unet-level-cbsd432.keras")


def test_a_model_told_the_level_learns_camera_noise_but_not_a_photon_count(tmp_path, capsys):
    """Camera noise is told its measured spread (noise.level_told); a photon count is no
    spread, and is refused."""
    args = parse(["--model", "unet-level", "--dataset", str(tmp_path), "--noise", "camera",
                  "--noise-level", "800:6400", "--out", str(tmp_path / "a")],
                 takes=(settings.PHOTOS,))
    assert args.noise_kind == "camera" and args.noise_level == [800, 6400]
    with pytest.raises(SystemExit):
        parse(["--model", "unet-level", "--dataset", str(tmp_path), "--noise", "poisson",
               "--out", str(tmp_path / "b")], takes=(settings.PHOTOS,))
    assert "the level of poisson noise is not one" in capsys.readouterr().err


def test_a_range_knob_and_a_bad_knob(tmp_path, capsys):
    args = parse([], {**CONV_KNOBS, "noise_level": "0.1:0.3", "out": str(tmp_path / "a")})
    assert args.noise_level == [0.1, 0.3]
    args = parse([], {**CONV_KNOBS, "noise_level": [0.1, 0.3], "out": str(tmp_path / "b")})
    assert args.noise_level == [0.1, 0.3]
    with pytest.raises(SystemExit) as raised:
        parse([], {**CONV_KNOBS, "epochs": 0, "out": str(tmp_path / "c")})
    assert raised.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_a_module_named_like_a_flag_is_no_knob(tmp_path):
    """The scripts pass globals(), where `noise` and `distribute` are modules."""
    from machinery import distribute
    import noise

    args = parse([], {**CONV_KNOBS, "noise": noise, "distribute": distribute,
                      "noise_kind": "salt-pepper", "out": str(tmp_path)})
    assert args.noise_kind == "salt-pepper" and args.devices is None


def test_in_a_notebook_the_kernels_command_line_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as if in a Jupyter kernel
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel.json"])
    args = settings.parse_arguments("", conv_models.MODELS, {**CONV_KNOBS, "out": str(tmp_path)})
    assert args.model == "unet-psnr" and args.out == str(tmp_path)


def test_importing_a_lesson_script_trains_nothing():
    result = subprocess.run([sys.executable, "-c", "import train_dense"], cwd=REPOSITORY,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "ImportError" in result.stderr and "dense_models.py" in result.stderr
    assert "epoch" not in result.stdout


def test_an_existing_out_folder_is_never_overwritten_silently(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("earlier work")
    with pytest.raises(SystemExit) as raised:
        parse(["--out", str(tmp_path)])
    assert raised.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_text() == "earlier work"


def release_held_folders():
    """As if the run that parse() started had ended: its folder is no longer held."""
    for descriptor in runs.HELD_FOLDERS:
        os.close(descriptor)
    runs.HELD_FOLDERS.clear()


def test_overwrite_refuses_a_folder_that_holds_no_run(tmp_path, capsys):
    """--overwrite removes a run's metrics.json and backup/: in a folder of the user's own,
    whose files of those names are theirs, it removes nothing and stops in one line."""
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "thesis.tex").write_text("a year of work")
    (tmp_path / "metrics.json").write_text("my own metrics")
    with pytest.raises(SystemExit) as raised:
        parse(["--overwrite", "--out", str(tmp_path)])
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"argument --overwrite: {tmp_path} holds files but no run (no arguments.json, or a "
        "backup that is not a folder of its own); --overwrite replaces only a run's files: "
        "choose another folder")
    assert (tmp_path / "backup" / "thesis.tex").read_text() == "a year of work"
    assert (tmp_path / "metrics.json").read_text() == "my own metrics"


def test_overwrite_removes_only_what_a_run_wrote_in_its_backup(tmp_path):
    parse(["--out", str(tmp_path)])  # a run's folder: its arguments.json
    release_held_folders()
    backup = tmp_path / "backup"
    backup.mkdir()
    ours = ["latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp",
            "latest.partial-12.weights.h5", "training_metadata.partial-3.json"]
    for name in [*ours, "notes.txt", "latest.weights.h5.mine"]:
        (backup / name).write_text("x")
    (tmp_path / "epochs.json").write_text("[]")
    parse(["--overwrite", "--out", str(tmp_path)])
    release_held_folders()
    assert sorted(os.listdir(backup)) == ["latest.weights.h5.mine", "notes.txt"]
    assert not (tmp_path / "epochs.json").exists()
    for name in ["notes.txt", "latest.weights.h5.mine"]:
        (backup / name).unlink()
    parse(["--overwrite", "--out", str(tmp_path)])
    release_held_folders()
    assert not backup.exists()  # left empty: removed


def test_overwrite_refuses_a_backup_that_links_elsewhere(tmp_path, capsys):
    """A backup/ that is a link would have the new run write its weights, and --overwrite
    remove files, in a folder that is not the run's."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "latest.weights.h5").write_text("someone else's")
    run = tmp_path / "run"
    parse(["--out", str(run)])
    release_held_folders()
    (run / "backup").symlink_to(elsewhere)
    with pytest.raises(SystemExit):
        parse(["--overwrite", "--out", str(run)])
    assert "argument --overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--resume", "--out", str(run)])
    assert "not a folder of the run's own" in capsys.readouterr().err
    assert (elsewhere / "latest.weights.h5").read_text() == "someone else's"


def test_without_out_each_run_gets_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "unet-mnist").mkdir(parents=True)
    (tmp_path / "runs" / "unet-mnist" / "metrics.json").write_text("{}")
    args = parse([], {**CONV_KNOBS, "model": "unet"})
    assert args.out == "runs/unet-mnist-2"


def test_missing_data_is_one_line_exit_1_and_the_same_command_works_again(tmp_path):
    arguments = ["--data-dir", tmp_path / "nowhere", "--out", tmp_path / "run"]
    result = run_script("train_conv.py", *arguments)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: no folder") and "mnist/" in last_line
    assert "run the same command again" in last_line
    assert os.listdir(tmp_path / "run") == []  # not "already holds files" the next time
    assert "already holds files" not in run_script("train_conv.py", *arguments).stderr


def test_missing_data_after_overwrite_leaves_a_folder_that_overwrite_still_takes(tmp_path):
    """A run started with --overwrite over an earlier run, stopped by missing data before
    any epoch: "run the same command again" must work, so the folder stays a run's."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_text("an earlier run's model")
    (tmp_path / "run" / "arguments.json").write_text("{}")
    arguments = ["--overwrite", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "run"]
    first = run_script("train_conv.py", *arguments)
    assert first.returncode == 1 and "run the same command again" in first.stderr
    again = run_script("train_conv.py", *arguments)
    assert again.returncode == 1 and "holds files but no run" not in again.stderr


def test_a_second_run_into_a_folder_in_use_stops_in_one_line(tmp_path):
    """Two runs into one folder at once would mix their files: the folder is held."""
    from machinery import files

    (tmp_path / "run").mkdir()
    held = files.hold_folder(str(tmp_path / "run"))  # as a run that trains there now
    try:
        second = run_script("train_conv.py", "--overwrite", "--out", tmp_path / "run",
                            "--epochs", 1)
        resumed = run_script("train_conv.py", "--resume", "--out", tmp_path / "run")
    finally:
        os.close(held)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1].endswith(
        f"argument --out: another run is writing into {tmp_path / 'run'} now; wait for it "
        "to end, or choose another folder")
    assert os.listdir(tmp_path / "run") == []  # nothing of the second run written
    assert resumed.returncode == 2  # no run to continue there: refused before the folder


def test_resume_refuses_a_changed_setting_in_one_line_naming_it(tmp_path, capsys):
    parse(["--model", "small", "--epochs", "30", "--out", str(tmp_path)])
    from machinery import files

    release_held_folders()
    with pytest.raises(SystemExit) as raised:
        parse(["--resume", "--out", str(tmp_path), "--epochs", "3"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert raised.value.code == 2
    assert error.endswith(f"argument --epochs: the run in {tmp_path} was started with --epochs "
                          "30, and --resume goes on as it began; leave --epochs out, or start "
                          "a new run to change it")
    args = parse(["--resume", "--out", str(tmp_path), "--epochs", "30", "--quiet"])
    assert (args.model, args.epochs, args.quiet) == ("small", 30, True)  # same, or how to run
    assert files.hold_folder(str(tmp_path)) is None  # held by the resumed run


def test_resume_refuses_a_run_that_train_conv_started_before_photos_had_a_script(tmp_path):
    """train_conv.py once took photos and --target, and its runs' arguments.json hold
    them ("target": "clean"...): resumed now, such a run would train without them."""
    run = tmp_path / "run"
    parse(["--model", "small", "--epochs", "3", "--out", str(run)])  # a run's arguments.json
    release_held_folders()
    arguments = run / "arguments.json"
    saved = json.loads(arguments.read_text())
    earlier = {**saved, "test_dataset": None, "channels": 3, "image_size": 128,
               "flip_rotate": False, "target": "clean"}  # as train_conv.py wrote them then
    arguments.write_text(json.dumps(earlier))
    result = run_script("train_conv.py", "--resume", "--out", run)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [result.stderr.strip().splitlines()[-1]]  # one line, after the usage
    assert errors[0].endswith(
        f"argument --resume: {arguments}: was written by another training script (it holds "
        "channels, flip_rotate, image_size, target, test_dataset, which this one does not "
        "take): resume it with the script that started it; the run cannot be continued: "
        "start a new one")
    assert json.loads(arguments.read_text()) == earlier  # the run's folder, left as it was
    assert sorted(os.listdir(run)) == ["arguments.json"]


def test_resume_sends_a_run_on_photos_to_train_photos(tmp_path, capsys):
    run = tmp_path / "run"
    parse(["--model", "unet", "--out", str(run)])
    release_held_folders()
    arguments = run / "arguments.json"
    arguments.write_text(json.dumps({**json.loads(arguments.read_text()), "dataset": "bsd68"}))
    with pytest.raises(SystemExit) as raised:
        parse(["--resume", "--out", str(run)])
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"argument --resume: {arguments}: dataset: choose one of mnist, fashion_mnist "
        "(train_photos.py learns from photo sets and folders of pictures); resume it with the "
        "script that started it; the run cannot be continued: start a new one")


def test_resume_refuses_a_run_another_script_started_with_fewer_settings(tmp_path, capsys):
    """A train_conv.py run holds no --target: train_noisy_targets.py, which takes it, would
    go on with its own default (Noise2Noise) where the run began on clean targets. (It also
    holds --fixed-noise, which train_noisy_targets.py does not take: said first.)"""
    run = tmp_path / "run"
    parse(["--model", "unet", "--out", str(run)])  # train_conv.py's settings
    release_held_folders()
    arguments = run / "arguments.json"
    with pytest.raises(SystemExit) as raised:
        parse(["--resume", "--out", str(run)],
              takes=(settings.DIGITS, settings.PHOTOS, settings.TARGETS))
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"argument --resume: {arguments}: was written by another training script (it holds "
        "fixed_noise, which this one does not take): resume it with the script that started "
        "it; the run cannot be continued: start a new one")


def test_resume_refuses_a_photo_run_that_holds_no_target(tmp_path, capsys):
    """A train_photos.py run holds every setting of train_noisy_targets.py but --target, and
    --start-from, which train_noisy_targets.py does not take."""
    run = tmp_path / "run"
    parse(["--model", "unet", "--dataset", "train400", "--out", str(run)],
          takes=(settings.PHOTOS,))  # train_photos.py's settings
    release_held_folders()
    with pytest.raises(SystemExit) as raised:
        parse(["--resume", "--out", str(run)],
              takes=(settings.DIGITS, settings.PHOTOS, settings.TARGETS))
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"argument --resume: {run / 'arguments.json'}: was written by another training script "
        "(it holds start_from, which this one does not take): resume it with the script that "
        "started it; the run cannot be continued: start a new one")


def test_resume_goes_on_with_a_photo_run_begun_before_start_from(tmp_path):
    """Its arguments.json has no start_from: it began from fresh weights."""
    run = tmp_path / "run"
    parse(["--model", "unet", "--dataset", "train400", "--epochs", "3", "--out", str(run)],
          takes=(settings.PHOTOS,))
    release_held_folders()
    saved = json.loads((run / "arguments.json").read_text())
    del saved["start_from"]
    (run / "arguments.json").write_text(json.dumps(saved))
    args = parse(["--resume", "--out", str(run)], takes=(settings.PHOTOS,))
    assert args.start_from is None and args.epochs == 3


def test_help_names_the_knobs_of_the_script_as_defaults(tmp_path, capsys):
    """train_photos.py sets `epochs = 30` and `flip_rotate = True`: --help says so, not
    the preset's epochs."""
    knobs = {**CONV_KNOBS, "epochs": 30, "flip_rotate": True, "channels": 1,
             "dataset": "train400", "out": str(tmp_path)}
    with pytest.raises(SystemExit) as raised:
        parse(["--help"], knobs, takes=(settings.PHOTOS,))
    assert raised.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "passes over the training images (default: 30)" in text
    assert "1 = grey, 3 = colour (default: 1)" in text
    assert "is a 9)" not in text and "drawn from the seed (default: on)" in text
    assert "images per training step (default: the preset's own" in text  # no knob: as it was
    # --model's recipes name what the script sets in their place; --seed, no --fixed-noise here:
    assert "This script sets the epochs of every preset itself" in text
    assert "--fixed-noise" not in text
