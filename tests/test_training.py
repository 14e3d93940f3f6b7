"""The run machinery: failures must never look like success."""

import zipfile

import keras
import numpy as np
import pytest

import conv_models
import dense_models
import training
import settings
from machinery import files, runs
from conftest import run_script


def test_a_loss_that_turns_nan_stops_the_run_and_says_so(tmp_path):
    images = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    inputs = keras.Input((28, 28, 1))
    features = keras.layers.Conv2D(1, 1, kernel_initializer="zeros")(inputs)  # outputs 0
    outputs = keras.layers.Lambda(lambda x: keras.ops.log(x - 2.0))(features)  # log(-2) = NaN
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    batches = training.NoisyBatches(images, "gaussian", 0.2, batch_size=8, seed=0)
    epoch_log = runs.EpochLog(str(tmp_path), {"loss": 1.0, "psnr": 0.0}, quiet=True)
    with pytest.raises(SystemExit) as raised:
        model.fit(batches, epochs=3, validation_data=(images, images), verbose=0,
                  callbacks=[keras.callbacks.TerminateOnNaN(), epoch_log])
    assert "NaN" in str(raised.value.code) and "--learning-rate" in str(raised.value.code)
    assert "NaN" in (tmp_path / "FAILED.txt").read_text()
    assert not (tmp_path / "metrics.json").exists()
    assert files.read_json(tmp_path / "epochs.json", None)[1]["loss"] is None  # JSON: no NaN


def test_an_out_folder_that_cannot_be_made_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", conv_models.MODELS, {"__name__": "__main__", "model": "small"},
                             argv=["--out", str(tmp_path / "a_file" / "run")])
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
        files.replace_atomically(str(target), write_then_fail)
    assert target.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_learning_rate_of_100_fails_the_run_in_one_line(tmp_path):
    result = run_script("train_conv.py", "--model", "unet", "--lr", 100, "--train-limit", 512,
                        "--test-limit", 64, "--epochs", 2, "--quiet", "--out", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: the training loss became NaN")
    assert "Traceback" not in result.stderr
    assert (tmp_path / "FAILED.txt").exists() and not (tmp_path / "metrics.json").exists()


def noisy_by_image(batches, epoch):
    """Each image's noisy copy in `epoch`, by its index (the batches come shuffled)."""
    batches.set_epoch(epoch)
    noisy = {}
    for index in range(len(batches)):
        inputs, clean = batches[index]
        for picked, image in zip(batches.order[index * batches.batch_size:], inputs):
            noisy[int(picked)] = image
    return noisy


@pytest.mark.parametrize("fixed_noise", [False, True])
def test_fixed_noise_keeps_each_images_copy_and_fresh_noise_does_not(fixed_noise):
    images = np.random.default_rng(0).random((10, 8, 8, 1)).astype("float32")
    batches = training.NoisyBatches(images, "gaussian", 0.2, 4, seed=0, fixed_noise=fixed_noise)
    first, second = noisy_by_image(batches, 0), noisy_by_image(batches, 1)
    assert batches.order.tolist() != list(range(10))  # shuffled: the pairs are found by index
    same = [np.array_equal(first[index], second[index]) for index in range(10)]
    assert all(same) if fixed_noise else not any(same)
    inputs, clean = batches[0]
    np.testing.assert_array_equal(clean, images[batches.order[:4]])  # the clean answers


def test_fixed_noise_for_a_model_that_adds_its_own_is_a_usage_error(capsys):
    knobs = {"__name__": "__main__", "model": "noise-layer", "fixed_noise": True}
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", dense_models.MODELS, knobs, argv=[])
    assert raised.value.code == 2
    assert "argument --fixed-noise: noise-layer adds its own noise" in capsys.readouterr().err


def test_start_from_gives_a_fresh_model_the_trained_ones_weights(tmp_path):
    """Fine-tuning starts from every weight of the saved model, not from fresh ones."""
    keras.utils.set_random_seed(0)
    trained = conv_models.MODELS["unet-level"].build((None, None, 1))
    trained.save(tmp_path / "trained.keras")
    keras.utils.set_random_seed(1)
    fresh = conv_models.MODELS["unet-level"].build((None, None, 1))
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained.get_weights()))
    training.start_from(fresh, str(tmp_path / "trained.keras"), str(tmp_path))
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained.get_weights()))
    training.start_from(fresh, None, str(tmp_path))  # no path: nothing changes
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained.get_weights()))


def test_start_from_a_file_that_does_not_load_fails_the_run_in_one_line(tmp_path):
    """Its config.json may pass settings' check while its weights are damaged."""
    model = conv_models.MODELS["unet-level"].build((None, None, 1))
    model.save(tmp_path / "trained.keras")
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(tmp_path / "trained.keras") as source, zipfile.ZipFile(damaged, "w") as copy:
        for item in source.namelist():
            copy.writestr(item, b"not weights" if item.endswith(".h5") else source.read(item))
    with pytest.raises(SystemExit) as raised:
        training.start_from(model, str(damaged), str(tmp_path))
    assert str(raised.value.code).startswith(f"error: --start-from {damaged} does not load")
    assert "start a new run" in (tmp_path / "FAILED.txt").read_text()
