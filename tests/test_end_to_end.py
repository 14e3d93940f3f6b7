"""Run every preset of the training scripts as a user would, on a few hundred images, and
check the files and numbers each run leaves behind."""

import math
import os

import keras
import matplotlib.image
import numpy as np
import pytest

import conv_models
import dense_models
from noise import NOISES
from conftest import read_metrics, run_script, run_script_without, write_photo_folder

REQUIRED_KEYS = {"dataset", "noise", "noise_level", "model", "params", "epochs",
                 "train_seconds", "test_images", "noisy_psnr", "noisy_ssim", "psnr", "ssim",
                 "backend"}
# The Keras backend these tests run on: CI runs this file once per backend it installs.
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
# Models trained on these load and denoise on BACKEND: on TensorFlow, every other backend's;
# elsewhere, its own and TensorFlow's.
TRAINED_ON = [BACKEND] + (["jax", "torch"] if BACKEND == "tensorflow" else ["tensorflow"])
# Tests of what NumPy and argparse do (noise kinds, argument errors), the same on every
# backend, run on TensorFlow only: CI's time goes to what the backends do differently.
SAME_ON_EVERY_BACKEND = pytest.mark.skipif(BACKEND != "tensorflow",
                                           reason="the same on every backend")
# Presets built only of layers that another preset also has, run on TensorFlow only: on JAX
# and PyTorch, CI's time goes to the presets that bring a layer or a padding of their own.
# `unet` is `unet-psnr` with a sigmoid at its end; `unet-noskip` is `unet` less its
# Concatenate; `shallow64` is `shallow32` with a wider code; `wide` has `small`'s layers
# (Conv2D, MaxPooling2D, UpSampling2D); `transpose` has `strided`'s Conv2DTranspose and
# `small`'s MaxPooling2D; `resize` has `wide`'s layers.
# `unet-level-blind` is `unet-level` less its level input.
ALSO_RUN_BY_ANOTHER_PRESET = ("unet", "unet-noskip", "shallow64", "wide", "transpose", "resize",
                              "unet-level-blind")
QUICK = ["--train-limit", 256, "--test-limit", 64, "--epochs", 1, "--batch-size", 16]
# The digit presets train in train_conv.py; those made for photos' unclipped noise
# (unet-level, told each picture's noise level, a second input, and its blind twin) in
# train_photos.py, on photos; rgb128, made for photos, further below.
PRESETS = [("train_dense.py", name) for name in dense_models.MODELS] + [
    ("train_photos.py" if recipe.noise == "gaussian-unclipped" else "train_conv.py", name)
    for name, recipe in conv_models.MODELS.items() if not recipe.photos_only  # photos: below
]
RECIPES = {**dense_models.MODELS, **conv_models.MODELS}


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    """As many photos as QUICK trains and scores on: 256 to train on, 64 to test on."""
    folder = tmp_path_factory.mktemp("many_photos")
    return (write_photo_folder(folder / "train", 256, 40, 40, seed=1),
            write_photo_folder(folder / "test", 64, 40, 40, seed=2))


@pytest.mark.parametrize("script, model", PRESETS, ids=[model for _, model in PRESETS])
def test_a_short_run_of_each_preset_writes_sane_files(script, model, tmp_path, request):
    if BACKEND != "tensorflow" and model in ALSO_RUN_BY_ANOTHER_PRESET:
        pytest.skip("the same network as another preset, run on this backend too")
    out = tmp_path / "run"
    photos = []  # train_photos.py: QUICK's pictures, as photos, cut into 32x32 crops
    if script == "train_photos.py":
        train, test = request.getfixturevalue("many_photos")
        photos = ["--dataset", train, "--test-dataset", test, "--image-size", 32]
    result = run_script(script, "--model", model, *photos, *QUICK, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]

    metrics = read_metrics(out)
    assert REQUIRED_KEYS <= metrics.keys()
    assert metrics["model"] == model and metrics["test_images"] == 64 and metrics["epochs"] == 1
    assert metrics["backend"] == BACKEND == keras.backend.backend()  # trained, then loaded, on it
    for key in ("noisy_psnr", "noisy_ssim", "psnr", "ssim", "train_seconds"):
        assert math.isfinite(metrics[key])
    # Gaussian 0.2 on MNIST, clipped to [0, 1]; for the presets whose recipe is unclipped
    # (noise-layer, scored on the noise its layer adds, and the unet-level ones, on
    # photos), unclipped, at that kind's default level: 20 log10(255 / 25) = 20.2 dB
    unclipped = RECIPES[model].noise == "gaussian-unclipped"
    assert metrics["noise"] == ("gaussian-unclipped" if unclipped else "gaussian")
    assert metrics["noisy_psnr"] == pytest.approx(20.2 if unclipped else 16.8, abs=0.5)
    history = metrics["history"]
    assert history["val_loss"][-1] < history["val_loss"][0], "the loss did not fall"

    model_file = keras.models.load_model(out / "model.keras")
    assert model_file.count_params() == metrics["params"]
    if (script, model) == ("train_dense.py", "deep"):  # built in the lesson, layer by layer
        assert_same_network(model_file, dense_models.build_deep((28, 28, 1)))
    pictures = ["noisy.png", "samples.png", "history.png"] + (
        ["codes.png"] if script == "train_dense.py" else [])  # what each dense model keeps
    for picture in pictures:
        assert matplotlib.image.imread(out / picture).shape[0] > 100
    records = ["model.keras", "metrics.json", "arguments.json", "epochs.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(records + pictures)


@SAME_ON_EVERY_BACKEND
@pytest.mark.parametrize("noise, level, noisy_psnr_range", [
    ("poisson", 30, (15.0, 25.0)), ("salt-pepper", 0.1, (10.0, 18.0)),
    ("camera", 25600, (30.0, 38.0)),  # a measured camera at ISO 25600, in a JPEG: 33.8 dB
])
def test_other_noises_and_fashion_mnist(noise, level, noisy_psnr_range, tmp_path):
    result = run_script("train_conv.py", "--model", "small", "--dataset", "fashion_mnist",
                        "--noise", noise, "--noise-level", level, *QUICK, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path)
    assert (metrics["dataset"], metrics["noise"], metrics["noise_level"]) == (
        "fashion_mnist", noise, level)
    low, high = noisy_psnr_range
    assert low < metrics["noisy_psnr"] < high


@SAME_ON_EVERY_BACKEND  # NumPy draws the levels; each backend trains `small` in the preset test
def test_a_blind_model_trains_on_a_range_and_is_scored_across_it(tmp_path):
    result = run_script("train_conv.py", "--model", "wide", "--noise-level", "0.1:0.5",
                        *QUICK, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gaussian noise at 0.1:0.5" in result.stdout
    metrics = read_metrics(tmp_path)
    assert metrics["noise_level"] == [0.1, 0.5]
    levels = metrics["levels"]
    assert [entry["noise_level"] for entry in levels] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    noisy = [entry["noisy_psnr"] for entry in levels]
    assert noisy == sorted(noisy, reverse=True) and noisy[0] > noisy[-1] + 8  # noisier, lower
    assert levels[2]["psnr"] == pytest.approx(metrics["psnr"])  # the middle is the test level
    assert all(entry.keys() == levels[0].keys() for entry in levels) and "levels" not in levels[2]
    assert matplotlib.image.imread(tmp_path / "levels.png").shape[0] > 100

    result = run_script("train_dense.py", "--model", "noise-layer", "--noise-level", "1:2",
                        "--out", tmp_path / "layer")
    assert result.returncode == 2 and "give one level, not a range" in result.stderr
    assert not (tmp_path / "layer").exists()


@SAME_ON_EVERY_BACKEND  # elsewhere, each preset's loss must fall (the preset test above)
def test_the_default_model_beats_the_noisy_input(tmp_path):
    result = run_script("train_conv.py", "--train-limit", 1500, "--test-limit", 500,
                        "--epochs", 2, "--batch-size", 32, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path)
    assert metrics["model"] == "unet-psnr"  # the default
    assert metrics["psnr"] > metrics["noisy_psnr"] + 3.0
    assert metrics["ssim"] > metrics["noisy_ssim"]
    assert "test PSNR: noisy" in result.stdout
    # Read from a pipe, as in a log file: a line per epoch, no progress bar redrawn per step.
    assert "epoch 2/2: loss" in result.stdout and "/step" not in result.stdout
    # The lesson builds its U-Net layer by layer (build_unet): the very network of the
    # unet-psnr preset, which the other scripts, the docs and the shipped models name.
    saved = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert_same_network(saved, conv_models.build_unet_psnr((None, None, 1)))
    assert saved.input_shape == (None, None, None, 1)


def assert_same_network(saved, preset):
    """A lesson's own model (as saved) and the preset of the same name are one network:
    the same kinds of layer, in the same order, each with as many weights."""
    assert [type(layer).__name__ for layer in saved.layers] == [
        type(layer).__name__ for layer in preset.layers]
    assert [layer.count_params() for layer in saved.layers] == [
        layer.count_params() for layer in preset.layers]
    assert saved.input_shape == preset.input_shape


@pytest.mark.parametrize("trained_on", TRAINED_ON)
def test_the_saved_model_denoises_like_the_run_said(trained_on, tmp_path):
    """metrics.json's PSNR is what the saved model really gives on the same noisy images,
    also when it was trained on another backend: model.keras holds no backend's code."""
    import data
    import metrics as quality
    import noise

    pytest.importorskip(trained_on)  # CI installs all three (requirements-backends.txt)
    result = run_script("train_dense.py", "--model", "shallow32", *QUICK, "--out", tmp_path,
                        env={"KERAS_BACKEND": trained_on})
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_metrics(tmp_path)["backend"] == trained_on
    _, (x_test, _) = data.load_dataset("mnist", test_limit=64)
    noisy = noise.fixed_noisy_copy(x_test, "gaussian", 0.2)
    denoised = keras.models.load_model(tmp_path / "model.keras").predict(noisy, verbose=0)
    assert quality.image_quality(x_test, denoised)["psnr"] == pytest.approx(
        read_metrics(tmp_path)["psnr"], abs=1e-3)
    assert np.isfinite(denoised).all()


@pytest.fixture
def photo_folder(tmp_path):
    """40 colour pictures of 48x40 pixels: smooth gradients with a bright square each."""
    return write_photo_folder(tmp_path / "photos", 40)


@pytest.fixture
def test_photo_folder(tmp_path):
    """8 more such pictures, never trained on: train_photos.py's --test-dataset."""
    return write_photo_folder(tmp_path / "test_photos", 8, seed=1)


@pytest.mark.parametrize("model, channels, noise", [
    ("rgb128", 3, "poisson"),
    # The same network as the unet-psnr preset, which trains on every backend above.
    pytest.param("unet-psnr", 1, "gaussian", marks=SAME_ON_EVERY_BACKEND),
])
def test_training_on_a_folder_of_pictures(photo_folder, tmp_path, model, channels, noise):
    out = tmp_path / "run"
    result = run_script("train_photos.py", "--model", model, "--dataset", photo_folder,
                        "--channels", channels, "--noise", noise, "--noise-level",
                        NOISES[noise].default_level, "--image-size", 32, "--epochs", 2,
                        "--batch-size", 8, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(out)
    # The kind's own level: train_photos.py's, 25/255, is a Gaussian sigma.
    assert metrics["noise"] == noise  # rgb128 with Poisson noise, as in its write-up
    assert metrics["test_images"] == 8  # every fifth picture of the 40 tests
    assert (metrics["train_images"], metrics["validation_images"]) == (28, 4)  # a tenth validates
    assert metrics["flip_rotate"] is True  # photos: turned and mirrored, by default
    assert metrics["history"]["val_loss"][-1] < metrics["history"]["val_loss"][0]
    saved = keras.models.load_model(out / "model.keras")
    assert saved.input_shape == (None, None, None, channels)  # denoises any size


@SAME_ON_EVERY_BACKEND
def test_a_short_run_of_train_photos_writes_its_files(photo_folder, test_photo_folder,
                                                      tmp_path):
    """train_photos.py's own defaults (grey crops, turned and mirrored, the literature's
    sigma 25, batches of 32) on a folder of pictures, tested on another."""
    out = tmp_path / "run"
    result = run_script("train_photos.py", "--dataset", photo_folder, "--test-dataset",
                        test_photo_folder, "--image-size", 16, "--epochs", 1, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(out)
    assert REQUIRED_KEYS <= metrics.keys()
    assert (metrics["model"], metrics["dataset"], metrics["epochs"]) == (
        "unet-psnr", str(photo_folder), 1)
    assert (metrics["noise"], metrics["noise_level"]) == ("gaussian-unclipped",
                                                          pytest.approx(25 / 255))
    assert (metrics["batch_size"], metrics["flip_rotate"]) == (32, True)
    assert (metrics["train_images"], metrics["validation_images"], metrics["test_images"]) == (
        36, 4, 8)
    saved = keras.models.load_model(out / "model.keras")
    assert saved.input_shape == (None, None, None, 1) and saved.count_params() == metrics["params"]
    assert "target" not in metrics  # the clean picture: the only answer it learns


@SAME_ON_EVERY_BACKEND
def test_a_short_run_of_train_noisy_targets_writes_its_files(tmp_path):
    """train_noisy_targets.py's own defaults: Noise2Noise (another noisy copy as the
    answer) on MNIST, with unclipped noise and the mean squared error."""
    result = run_script("train_noisy_targets.py", "--train-limit", 300, "--test-limit", 50,
                        "--epochs", 1, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path)
    assert REQUIRED_KEYS <= metrics.keys()
    assert (metrics["target"], metrics["loss"], metrics["noise"]) == (
        "noisy", "mse", "gaussian-unclipped")
    assert metrics["noise_level"] == pytest.approx(25 / 255)  # the kind's own: sigma 25
    assert (metrics["dataset"], metrics["train_images"], metrics["validation_images"],
            metrics["test_images"]) == ("mnist", 270, 30, 50)
    assert keras.models.load_model(tmp_path / "model.keras").count_params() == metrics["params"]


@SAME_ON_EVERY_BACKEND
def test_a_dataset_that_is_no_folder_stops_before_any_work(tmp_path):
    result = run_script("train_photos.py", "--dataset", tmp_path / "nowhere", "--out",
                        tmp_path / "run")
    assert result.returncode == 2 and "nor a folder" in result.stderr
    assert not (tmp_path / "run").exists()
    for script in ("train_conv.py", "train_dense.py"):  # digits only: they say which does photos
        result = run_script(script, "--dataset", tmp_path, "--out", tmp_path / "run")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].endswith(
            "argument --dataset: choose one of mnist, fashion_mnist (train_photos.py learns "
            "from photo sets and folders of pictures)")
        assert not (tmp_path / "run").exists()
    result = run_script("train_conv.py", "--model", "rgb128", "--out", tmp_path / "rgb")
    assert result.returncode == 2 and "not for 28x28 images" in result.stderr
    assert not (tmp_path / "rgb").exists()
    assert "Traceback" not in result.stderr


@SAME_ON_EVERY_BACKEND
@pytest.mark.parametrize("script", ["train_conv.py", "train_noisy_targets.py"])
def test_a_model_told_the_noise_level_is_sent_to_train_photos(script, tmp_path):
    result = run_script(script, "--model", "unet-level", "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --model: unet-level is told each picture's noise level, a second input: "
        "train it with train_photos.py")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["poisson", "salt-pepper"])
def test_a_model_told_the_level_is_refused_noise_whose_level_is_no_spread(kind, tmp_path):
    """It is told the noise's standard deviation: a photon count or a fraction told in its
    place would teach it another knob than denoise.py turns. (Camera noise's level, an ISO,
    is not told either: noise.level_told tells its measured spread instead.)"""
    result = run_script("train_photos.py", "--model", "unet-level", "--noise", kind,
                        "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"train_photos.py: error: argument --noise: unet-level is told each picture's noise "
        f"level, the noise's standard deviation, and the level of {kind} noise is not one")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the TensorFlow backend needs TensorFlow")
def test_other_backends_train_and_denoise_without_tensorflow(photo_folder, test_photo_folder,
                                                            tmp_path):
    """A machine with JAX or PyTorch alone (a GPU machine, say) needs no TensorFlow: here
    `import tensorflow` fails, as on a machine where it is not installed."""
    out = tmp_path / "run"
    result = run_script_without(("tensorflow",), "train_photos.py", "--model", "unet-level",
                                "--dataset", photo_folder, "--test-dataset", test_photo_folder,
                                "--channels", 1, "--image-size", 32, "--epochs", 1,
                                "--batch-size", 8, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_metrics(out)["backend"] == BACKEND
    denoised = tmp_path / "denoised"
    result = run_script_without(("tensorflow",), "denoise.py", "--model", out / "model.keras",
                                "--noise-level", 0.1, "--out", denoised, photo_folder / "000.png")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list(denoised.iterdir())) == 1
