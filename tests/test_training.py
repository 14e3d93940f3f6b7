"""The shared training mechanics: failures must never look like success."""

import argparse

import keras
import numpy as np
import pytest

import noise
import train_conv
import training
from conftest import run_script


def test_a_loss_that_turns_nan_stops_the_run_and_says_so(tmp_path, capsys):
    images = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    inputs = keras.Input((28, 28, 1))
    features = keras.layers.Conv2D(1, 1, kernel_initializer="zeros")(inputs)  # outputs 0
    outputs = keras.layers.Lambda(lambda x: keras.ops.log(x - 2.0))(features)  # log(-2) = NaN
    model = keras.Model(inputs, outputs)
    args = argparse.Namespace(learning_rate=1e-3, epochs=3, loss="mse", out=str(tmp_path),
                              quiet=True, tensorboard=False)
    batches = noise.NoisyBatches(images, "gaussian", 0.2, batch_size=8, seed=0)
    with pytest.raises(SystemExit) as raised:
        training.train(model, batches, (images, images), args)
    assert "NaN" in str(raised.value.code) and "--learning-rate" in str(raised.value.code)
    assert "NaN" in (tmp_path / "FAILED.txt").read_text()
    assert not (tmp_path / "metrics.json").exists()


def test_an_out_folder_that_cannot_be_made_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as raised:
        train_conv.main(["--out", str(tmp_path / "a_file" / "run")])
    assert raised.value.code == 2
    assert "cannot create" in capsys.readouterr().err


def test_files_appear_whole_or_not_at_all(tmp_path):
    def write_then_fail(path):
        with open(path, "w") as file:
            file.write("half")
        raise OSError("disk full")

    target = tmp_path / "metrics.json"
    target.write_text("earlier")
    with pytest.raises(OSError):
        training.replace_atomically(str(target), write_then_fail)
    assert target.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_learning_rate_of_100_fails_the_run_in_one_line(tmp_path):
    result = run_script("train_conv.py", "--model", "unet", "--lr", 100, "--train-limit", 512,
                        "--test-limit", 64, "--epochs", 2, "--quiet", "--out", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: the training loss became NaN")
    assert "Traceback" not in result.stderr
    assert (tmp_path / "FAILED.txt").exists() and not (tmp_path / "metrics.json").exists()
