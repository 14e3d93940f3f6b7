"""Long runs that survive: same seed, same result; Ctrl-C and SIGTERM stop cleanly; an
interrupted run resumes to exactly the weights of a run that never stopped."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import conv_models
import noisy_targets
import settings
from machinery import runs, signals
from conftest import REPOSITORY, read_metrics, run_script, write_photo_folder

SHORT = ["--train-limit", 1000, "--test-limit", 200, "--batch-size", 32]


def assert_same_weights(folder_a, folder_b):
    weights_a = keras.models.load_model(folder_a / "model.keras").get_weights()
    weights_b = keras.models.load_model(folder_b / "model.keras").get_weights()
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_array_equal(a, b)


def start_training(*arguments, script="train_conv.py"):
    """Start a training script with its output unbuffered, so lines arrive as printed."""
    return subprocess.Popen(
        [sys.executable, str(REPOSITORY / script), *map(str, arguments)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop_when(process, line_start, signal_number):
    """Send `signal_number` once the run prints a line starting with `line_start`."""
    for line in process.stdout:
        if line.startswith(line_start):
            process.send_signal(signal_number)
            break
    output = process.communicate(timeout=300)[0]
    return process.returncode, output


def test_the_same_seed_gives_the_same_numbers_and_weights(tmp_path):
    for name, seed in (("first", 0), ("second", 0), ("other", 1)):
        result = run_script("train_conv.py", *SHORT, "--model", "small", "--epochs", 2, "--seed", seed,
                            "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr[-2000:]
    first, second = read_metrics(tmp_path / "first"), read_metrics(tmp_path / "second")
    for key in ("psnr", "ssim", "noisy_psnr", "history"):
        assert first[key] == second[key]
    assert_same_weights(tmp_path / "first", tmp_path / "second")
    assert read_metrics(tmp_path / "other")["psnr"] != first["psnr"]


@pytest.mark.parametrize("script, model, options", [
    # each crop cut at a place, and turned one of 8 ways, drawn afresh every epoch
    ("train_photos.py", "unet", ["--image-size", 16, "--flip-rotate"]),
    ("train_dense.py", "noise-layer", []),  # its noise comes from a seed generator in the model
])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, script, model, options):
    if script == "train_photos.py":  # a folder of photos to train on, another to test on
        options = [*options, "--dataset", write_photo_folder(tmp_path / "photos", 64, 24, 24),
                   "--test-dataset", write_photo_folder(tmp_path / "test", 8, 24, 24, seed=1)]
    run = [*SHORT, "--model", model, "--epochs", 4, *options]
    straight = run_script(script, *run, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    interrupted = tmp_path / "interrupted"
    process = start_training(*run, "--out", interrupted, script=script)
    returncode, output = stop_when(process, "epoch 2/4:", signal.SIGINT)
    assert returncode == 130, output[-2000:]
    assert "SIGINT: stopped after" in output and f"--resume --out {interrupted}" in output
    assert "Traceback" not in output
    assert not (interrupted / "metrics.json").exists()

    resumed = run_script(script, "--resume", "--out", interrupted)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout
    assert_same_weights(tmp_path / "straight", interrupted)
    metrics = read_metrics(interrupted)
    assert metrics["psnr"] == read_metrics(tmp_path / "straight")["psnr"]
    assert len(metrics["history"]["loss"]) == 4 and len(metrics["history"]["val_psnr"]) == 5
    assert not (interrupted / "backup").exists()


def test_sigterm_stops_cleanly_with_exit_code_143(tmp_path):
    process = start_training(*SHORT, "--model", "small", "--epochs", 3, "--out", tmp_path)
    returncode, output = stop_when(process, "untrained:", signal.SIGTERM)
    assert returncode == 143, output[-2000:]
    assert "SIGTERM: stopped after" in output and "Traceback" not in output
    assert not (tmp_path / "metrics.json").exists()


def test_a_stop_during_the_backup_waits_until_the_backup_is_whole(tmp_path, monkeypatch):
    """SIGTERM while the backup's weights are written: they are written whole, then it stops."""
    model = conv_models.build_small((28, 28, 1))
    model.compile(optimizer="adam", loss="mse")
    backup = runs.Backup(str(tmp_path))
    backup.set_model(model)
    save_weights = model.save_weights

    def save_weights_stopped_halfway(filepath, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # as if `kill` came just as the write began
        save_weights(filepath, **kwargs)

    monkeypatch.setattr(model, "save_weights", save_weights_stopped_halfway)
    handlers = {number: signal.getsignal(number) for number in signals.STOP_SIGNALS}
    runs.stop_cleanly_on_signals(str(tmp_path))
    try:
        with pytest.raises(SystemExit) as raised:
            backup.on_epoch_end(0)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        runs.STOPPING.clear()  # the stop it recorded must not stop later tests in this process
    assert raised.value.code == 143
    restored = conv_models.build_small((28, 28, 1))
    restored.load_weights(tmp_path / "backup" / "latest.weights.h5")
    for a, b in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("files, complaint", [
    ([], "holds no run"),
    (["arguments.json", "metrics.json"], "already finished"),
    (["arguments.json", "FAILED.txt"], "failed"),
])
def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys, files, complaint):
    for name in files:
        (tmp_path / name).write_text("{}")
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", conv_models.MODELS, {"__name__": "__main__", "model": "small"},
                             argv=["--resume", "--out", str(tmp_path)])
    assert raised.value.code == 2
    assert complaint in capsys.readouterr().err


def test_a_run_from_before_the_validation_split_is_not_resumed(tmp_path, capsys):
    """A run folder of train_conv.py made before it held out validation images: going on
    would train on other images, so --resume says so in one line."""
    (tmp_path / "arguments.json").write_text(json.dumps({
        "model": "small", "dataset": "mnist", "noise_kind": "gaussian", "noise_level": 0.2,
        "loss": "mse", "epochs": 2, "batch_size": 32, "learning_rate": 0.001,
        "train_limit": 256, "test_limit": 64, "seed": 0}))
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", conv_models.MODELS, {"__name__": "__main__", "model": "small"},
                                 argv=["--resume", "--out", str(tmp_path)])
    error = capsys.readouterr().err.strip().splitlines()
    assert raised.value.code == 2 and "before the lessons held out validation images" in error[-1]


def test_a_noisy_targets_run_from_before_the_regulariser_knob_goes_on_with_its_weight(tmp_path):
    """train_noisy_targets.py's runs begun before --regulariser-weight existed trained with
    the weight it now defaults to: --resume goes on with that weight, not refusing them as
    another script's."""
    takes = (settings.DIGITS, settings.PHOTOS, settings.TARGETS)
    parser = settings.build_parser("", conv_models.MODELS, "unet-psnr", takes)
    saved = {key: value for key, value in vars(parser.parse_args([])).items()
             if key not in settings.HOW_TO_RUN and key != "regulariser_weight"}
    saved.update(loss="mse", epochs=3, batch_size=64, noise_kind="gaussian-unclipped",
                 noise_level=0.1)
    restored = settings.checked_arguments(tmp_path / "arguments.json", saved, conv_models.MODELS,
                                          takes)
    assert restored["regulariser_weight"] == noisy_targets.REGULARISER_WEIGHT_BEFORE_THE_SETTING
    with pytest.raises(ValueError, match="regulariser_weight: must be a finite number >= 0"):
        settings.checked_arguments(tmp_path / "arguments.json", {**saved, "target": "neighbours",
                                   "regulariser_weight": -1.0}, conv_models.MODELS, takes)


def test_quiet_prints_no_progress_and_tensorboard_writes_logs(tmp_path):
    result = run_script("train_conv.py", "--model", "small", "--train-limit", 256,
                        "--test-limit", 64, "--epochs", 1, "--quiet", "--tensorboard",
                        "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 1/1" not in result.stdout and "Epoch" not in result.stdout
    assert "test PSNR" in result.stdout
    assert any((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
