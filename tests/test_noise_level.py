"""Telling a denoiser the noise level: the estimate behind --noise-level auto, and
denoise.py, tools/compare.py, tools/knob.py and train_photos.py with a model that takes the level,
and with one that does not."""

import json
import signal

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import conv_models
import data
import denoiser
import metrics
import noise
from conftest import read_metrics, run_script, signal_when, start_script
from test_camera_noise import needs_profiles


def smooth_picture(height=96, width=128, channels=1):
    """A picture with gradients and a few flat shapes, as photos have, and no noise."""
    rows, columns = np.mgrid[0:height, 0:width] / max(height, width)
    picture = 0.2 + 0.4 * rows + 0.2 * np.sin(6 * columns)
    picture[20:50, 30:70] = 0.9
    picture[60:80, 90:120] = 0.1
    return np.repeat(picture[..., np.newaxis], channels, axis=-1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_the_estimated_level_is_within_ten_percent_of_the_truth(sigma, channels):
    noisy = noise.add_noise(smooth_picture(channels=channels), "gaussian-unclipped",
                            sigma / 255, seed=sigma)
    assert noise.estimate_noise_level(noisy) == pytest.approx(sigma / 255, rel=0.1)


def spread_noise(shape, sigma, seed):
    """Noise of spread `sigma` that neighbouring pixels share, as a camera's: white noise
    blurred (a Gaussian of 1 pixel), so that auto sees about an eighth of it, as it does on
    the real pairs."""
    white = np.random.default_rng(seed).normal(0, 1, shape)
    blurred = np.stack([ndimage.gaussian_filter(white[..., channel], 1.0)
                        for channel in range(shape[-1])], axis=-1)
    return (blurred * sigma / blurred.std()).astype(np.float32)


def test_the_camera_estimate_sees_noise_shared_by_neighbours_that_auto_misses():
    """Within a factor of 1.6 of the truth (its factor was chosen on real pairs, whose noise
    is shared otherwise than this blur's), where auto sees less than a third."""
    clean = smooth_picture(256, 256, channels=3)
    noisy = clean + spread_noise(clean.shape, 10 / 255, seed=0)
    truth = float(np.std(noisy - clean))
    assert noise.estimate_noise_level(noisy) < truth / 3
    assert truth / 1.6 < noise.estimate_camera_noise_level(noisy) < truth * 1.6


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_on_white_noise_the_camera_estimate_is_autos(sigma):
    """White noise averages away in blocks: the camera estimate is auto's own answer."""
    noisy = noise.add_noise(smooth_picture(256, 256, channels=3), "gaussian-unclipped",
                            sigma / 255, seed=sigma)
    assert noise.estimate_camera_noise_level(noisy) == noise.estimate_noise_level(noisy)


def test_the_camera_estimate_of_a_small_or_flat_picture(monkeypatch):
    """Too few blocks to read (10 a side): auto's answer alone, where the blocks, read,
    would say more; nothing to read at all: NaN."""
    clean = smooth_picture(40, 40)
    small = clean + spread_noise(clean.shape, 10 / 255, seed=0)
    assert noise.estimate_camera_noise_level(small) == noise.estimate_noise_level(small)
    monkeypatch.setattr(noise, "MIN_BLOCKS", 1)
    assert noise.estimate_camera_noise_level(small) > noise.estimate_noise_level(small)
    monkeypatch.undo()
    assert np.isnan(noise.estimate_camera_noise_level(np.zeros((128, 128, 1), np.float32)))


def test_block_means_refuse_what_is_not_a_picture():
    with pytest.raises(ValueError, match="height, width, channels"):
        noise.block_means(np.zeros((8, 8)), 2)


def test_block_means_average_each_block_and_leave_out_the_rest():
    picture = np.arange(5 * 6, dtype=np.float32).reshape(5, 6, 1)
    blocks = noise.block_means(picture, 2)
    assert blocks.shape == (2, 3, 1)
    assert blocks[0, 0, 0] == np.mean([0, 1, 6, 7]) and blocks[1, 2, 0] == np.mean([16, 17, 22, 23])


def save_told_level_model(path, channels=1):
    """A model told the level whose output is the level it was told, at every pixel:
    what it returns shows exactly what denoise.py, tools/compare.py and tools/knob.py told it."""
    noisy = keras.Input((None, None, channels), name="noisy")
    level = keras.Input((1,), name="noise_level")
    level_map = conv_models.LevelMap()(noisy, level)
    outputs = keras.layers.Concatenate()([level_map] * channels) if channels > 1 else level_map
    keras.Model([noisy, level], outputs).save(path)
    return path


def save_identity_model(path, channels=1):
    """A model that guesses the level (it has no level input): its output is its input."""
    inputs = keras.Input((None, None, channels))
    keras.Model(inputs, keras.layers.Identity()(inputs)).save(path)
    return path


@pytest.fixture
def noisy_picture(tmp_path):
    """A grey PNG with Gaussian noise of sigma 30 (of 255), and its clean original."""
    clean = smooth_picture()
    noisy = noise.add_noise(clean, "gaussian-unclipped", 30 / 255, seed=0)
    path = tmp_path / "noisy.png"
    Image.fromarray(np.round(np.clip(noisy[..., 0], 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def denoised_value(folder):
    """The mean of noisy_denoised.png, written by denoise.py, and its spread."""
    pixels, _ = data.read_image(folder / "noisy_denoised.png")
    return pixels.mean(), pixels.std()


def test_denoise_tells_the_model_the_level_given_or_the_one_it_estimates(noisy_picture, tmp_path):
    model = save_told_level_model(tmp_path / "told.keras")
    told = run_script("denoise.py", "--model", model, noisy_picture, "--noise-level", "40/255",
                      "--out", tmp_path / "told")
    assert told.returncode == 0, told.stderr
    value, spread = denoised_value(tmp_path / "told")
    assert value == pytest.approx(40 / 255, abs=0.5 / 255) and spread < 1e-6

    auto = run_script("denoise.py", "--model", model, noisy_picture, "--out", tmp_path / "auto")
    assert auto.returncode == 0, auto.stderr
    line = next(line for line in auto.stdout.splitlines() if "noise level estimated at" in line)
    estimate = float(line.split("estimated at ")[1].split()[0])
    assert estimate == pytest.approx(30 / 255, rel=0.1)  # the picture's noise, 8-bit and clipped
    assert denoised_value(tmp_path / "auto")[0] == pytest.approx(estimate, abs=1 / 255)  # 8 bits

    # With --add-noise, the model is told the level of the noise added.
    added = run_script("denoise.py", "--model", model, noisy_picture, "--add-noise",
                       "gaussian-unclipped", "--noise-level", "0.1", "--out", tmp_path / "added")
    assert added.returncode == 0, added.stderr
    pixels, _ = data.read_image(tmp_path / "added" / "noisy_denoised.png")
    assert pixels.mean() == pytest.approx(0.1, abs=0.5 / 255)


def test_a_model_that_guesses_the_level_refuses_to_be_told_it(noisy_picture, tmp_path):
    model = save_identity_model(tmp_path / "blind.keras")
    refused = run_script("denoise.py", "--model", model, noisy_picture, "--noise-level", "0.1",
                         "--out", tmp_path / "out")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: --noise-level: {model} is not told the noise level (it guesses it); leave "
        "--noise-level out, or use a unet-level model"]
    assert not (tmp_path / "out" / "noisy_denoised.png").exists()
    plain = run_script("denoise.py", "--model", model, noisy_picture, "--out", tmp_path / "out")
    assert plain.returncode == 0 and "estimated" not in plain.stdout
    # ... but --add-noise's level is the noise added, for any model.
    added = run_script("denoise.py", "--model", model, noisy_picture, "--add-noise", "gaussian",
                       "--noise-level", "0.1", "--out", tmp_path / "added")
    assert added.returncode == 0, added.stderr


def test_camera_tells_the_model_a_factor_times_the_camera_estimate(noisy_picture, tmp_path):
    model = save_told_level_model(tmp_path / "told.keras")
    told = run_script("denoise.py", "--model", model, noisy_picture, "--noise-level", "camera",
                      "--out", tmp_path / "camera")
    assert told.returncode == 0, told.stderr
    line = next(line for line in told.stdout.splitlines() if "camera noise estimated" in line)
    level = float(line.split(" times it, ")[1].split()[0])
    expected = noise.CAMERA_LEVEL_FACTOR * noise.estimate_camera_noise_level(
        data.read_image(noisy_picture)[0])
    assert level == pytest.approx(expected, abs=1e-4)
    assert denoised_value(tmp_path / "camera")[0] == pytest.approx(level, abs=1 / 255)


def test_each_noise_whose_level_is_no_spread_names_an_estimate_denoise_py_knows():
    for name, kind in noise.NOISES.items():
        assert kind.told in (None, *noise.ESTIMATES), name
        assert (kind.told is None) == name.startswith("gaussian"), name  # sigma: the Gaussians'


@pytest.mark.parametrize("kind, level, estimate", [
    ("poisson", "30", noise.estimate_noise_level),
    ("salt-pepper", "0.05", noise.estimate_noise_level),
    pytest.param("camera", "3200", lambda picture: noise.CAMERA_LEVEL_FACTOR
                 * noise.estimate_camera_noise_level(picture), marks=needs_profiles)])
def test_added_noise_whose_level_is_no_spread_tells_the_model_its_estimate(
        noisy_picture, tmp_path, kind, level, estimate):
    """A photon count, a fraction or an ISO is not the noise's standard deviation: a model
    told the level is told the estimate of the noisy picture (auto, or for camera noise
    camera), not the number given."""
    model = save_told_level_model(tmp_path / "told.keras")
    added = run_script("denoise.py", "--model", model, noisy_picture, "--add-noise", kind,
                       "--noise-level", level, "--out", tmp_path / "out")
    assert added.returncode == 0, added.stderr
    noisy = data.read_image(tmp_path / "out" / "noisy_noisy.png")[0]  # as added, in 8 bits
    value, _ = denoised_value(tmp_path / "out")
    assert value == pytest.approx(estimate(noisy), abs=1 / 255) and value < 0.5
    assert "to tell it a number, denoise its saved noisy picture with --noise-level" in added.stdout


@pytest.mark.parametrize("estimate", ["auto", "camera"])
def test_an_estimate_is_refused_with_add_noise(noisy_picture, tmp_path, estimate):
    model = save_told_level_model(tmp_path / "told.keras")
    refused = run_script("denoise.py", "--model", model, noisy_picture, "--add-noise", "gaussian",
                         "--noise-level", estimate, "--out", tmp_path / "out")
    assert refused.returncode == 2 and f"not {estimate}" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("level", ["nan", "inf", "-1", "1e9", "-inf"])
@pytest.mark.parametrize("add_noise", [[], ["--add-noise", "gaussian-unclipped"]])
def test_a_level_that_is_no_noise_level_is_refused_in_one_line(level, add_noise, capsys):
    """The same check for the level told and the level added (and for training: runs.py)."""
    import denoise

    with pytest.raises(SystemExit) as raised:
        denoise.parse_arguments(["picture.png", "--model", "m.keras", *add_noise,
                                 f"--noise-level={level}"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert raised.value.code == 2 and "error: argument --noise-level: " in error
    assert "finite" in error or "[0, 10]" in error


def test_the_knob_refuses_the_same_levels(capsys):
    from tools import knob

    with pytest.raises(SystemExit) as raised:
        knob.parse_arguments(["--model", "m.keras", "--dataset", "bsd68", "--told-levels", "nan"])
    assert raised.value.code == 2 and "finite" in capsys.readouterr().err


def test_a_picture_whose_level_cannot_be_estimated_is_named_and_the_others_denoised(
        noisy_picture, tmp_path):
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(black)
    model = save_told_level_model(tmp_path / "told.keras")
    finished = run_script("denoise.py", "--model", model, black, noisy_picture, "--out",
                          tmp_path / "out")
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert finished.stderr.strip().splitlines() == [
        f"error: {black}: its noise level cannot be estimated (the picture has no detail to "
        "estimate it from); tell it with --noise-level, such as 25/255"]
    assert "Warning" not in finished.stdout + finished.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["noisy_denoised.png"]


def test_compare_tells_the_true_level_and_in_a_row_of_its_own_the_estimate(tmp_path):
    (tmp_path / "test").mkdir()
    clean = [smooth_picture(), smooth_picture(64, 80)]
    for index, picture in enumerate(clean):
        Image.fromarray(np.round(picture[..., 0] * 255).astype(np.uint8)).save(
            tmp_path / "test" / f"{index}.png")
    model = save_told_level_model(tmp_path / "told.keras")
    finished = run_script("tools/compare.py", "--dataset", tmp_path / "test", "--classical",
                          "--noise", "gaussian-unclipped", "--noise-level", "20/255",
                          "--models", model, "--out", tmp_path / "out")
    assert finished.returncode == 0, finished.stderr
    rows = {row["method"]: row for row in
            json.loads((tmp_path / "out" / "results.json").read_text())["results"]}
    assert list(rows) == ["noisy input", "told", "told, level estimated"]
    clean = [data.read_image(tmp_path / "test" / f"{index}.png")[0] for index in (0, 1)]
    # The model returns what it was told: a flat picture at the true level ...
    flat = [np.full_like(picture, 20 / 255) for picture in clean]
    assert rows["told"]["psnr"] == pytest.approx(metrics.image_quality(clean, flat)["psnr"],
                                                 abs=1e-3)
    assert "told the true level" in rows["told"]["setting"]
    # ... and, in its own row, at each picture's estimate: close to it, not the same.
    estimated = rows["told, level estimated"]["psnr"]
    assert estimated != rows["told"]["psnr"]
    assert estimated == pytest.approx(rows["told"]["psnr"], abs=1.0)


def test_compare_tells_the_estimate_where_the_level_is_no_spread(tmp_path):
    """Poisson noise's level is a photon count: a told model is told each picture's
    estimate, in one row, never the count."""
    (tmp_path / "test").mkdir()
    Image.fromarray(np.round(smooth_picture()[..., 0] * 255).astype(np.uint8)).save(
        tmp_path / "test" / "0.png")
    model = save_told_level_model(tmp_path / "told.keras")
    finished = run_script("tools/compare.py", "--dataset", tmp_path / "test", "--classical",
                          "--noise", "poisson", "--noise-level", "30", "--models", model,
                          "--out", tmp_path / "out")
    assert finished.returncode == 0, finished.stderr
    rows = {row["method"]: row for row in
            json.loads((tmp_path / "out" / "results.json").read_text())["results"]}
    assert list(rows) == ["noisy input", "told"]
    assert "told each image's estimated level" in rows["told"]["setting"]
    clean = data.read_image(tmp_path / "test" / "0.png")[0]
    noisy = noise.add_noise(clean[None], "poisson", 30.0, noise.TEST_NOISE_SEED)[0]
    flat = np.full_like(clean, noise.estimate_noise_level(noisy))  # what it was told
    assert rows["told"]["psnr"] == pytest.approx(
        metrics.image_quality([clean], [flat])["psnr"], abs=0.05)


def test_a_model_told_the_level_can_be_told_a_map_in_its_place():
    """conv_models.told_a_map: a constant map gives what the one level gave, and a map
    that varies reaches the network where it varies."""
    model = conv_models.build_unet_level((None, None, 3))
    mapped = conv_models.told_a_map(model)
    noisy = np.random.default_rng(0).random((2, 32, 40, 3)).astype(np.float32)
    levels = np.array([[0.05], [0.2]], np.float32)
    told = model.predict({"noisy": noisy, "noise_level": levels}, verbose=0)
    constant = np.broadcast_to(levels[:, None, None, :], (2, 32, 40, 1)).copy()
    assert np.allclose(mapped.predict([noisy, constant], verbose=0), told, atol=1e-6)
    varying = constant.copy()
    varying[:, :, 24:] = 0.5  # the right of each picture told more
    changed = np.abs(mapped.predict([noisy, varying], verbose=0) - told).mean(axis=(0, 1, 3))
    assert changed[:8].max() < changed[-8:].min()  # far from the change less than under it


def test_knob_draws_psnr_against_the_level_told_for_each_true_level(tmp_path):
    (tmp_path / "test").mkdir()
    Image.fromarray(np.round(smooth_picture()[..., 0] * 255).astype(np.uint8)).save(
        tmp_path / "test" / "a.png")
    model = save_told_level_model(tmp_path / "told.keras")
    finished = run_script("tools/knob.py", "--model", model, "--dataset", tmp_path / "test",
                          "--true-levels", "15/255", "50/255", "--told-levels", "5/255", "25/255",
                          "--out", tmp_path / "out")
    assert finished.returncode == 0, finished.stderr
    knob = json.loads((tmp_path / "out" / "knob.json").read_text())
    assert knob["told_levels"] == pytest.approx([5 / 255, 15 / 255, 25 / 255, 50 / 255])
    assert [curve["true_level"] for curve in knob["curves"]] == pytest.approx([15 / 255, 50 / 255])
    clean = [data.read_image(tmp_path / "test" / "a.png")[0]]
    for curve in knob["curves"]:  # this model's output is the flat level it is told
        expected = [metrics.image_quality(clean, [np.full_like(clean[0], told)])["psnr"]
                    for told in knob["told_levels"]]
        assert curve["psnr"] == pytest.approx(expected, abs=1e-3)
        assert curve["auto"]["estimated_level"] == pytest.approx(curve["true_level"], rel=0.15)
    assert (tmp_path / "out" / "knob.png").stat().st_size > 10_000

    blind = run_script("tools/knob.py", "--model", save_identity_model(tmp_path / "blind.keras"),
                       "--dataset", tmp_path / "test", "--out", tmp_path / "blind")
    assert blind.returncode == 1 and "is not told the noise level" in blind.stderr


def test_a_stopped_knob_says_so_in_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "test").mkdir()
    Image.fromarray(np.round(smooth_picture()[..., 0] * 255).astype(np.uint8)).save(
        tmp_path / "test" / "a.png")
    process = start_script("tools/knob.py", "--model",
                           save_told_level_model(tmp_path / "told.keras"), "--dataset",
                           tmp_path / "test", "--out", tmp_path / "out")
    _, output = signal_when(process, "  true sigma", signal.SIGTERM)  # it has begun to score
    assert process.returncode == 143, output[-2000:]
    assert output.strip().splitlines()[-1] == (
        f"SIGTERM: stopped; nothing of this run was written into {tmp_path / 'out'}")
    assert "Traceback" not in output and list((tmp_path / "out").iterdir()) == []


def test_train_photos_trains_unet_level_on_a_range_each_image_told_its_level(tmp_path):
    folder, test_folder = tmp_path / "photos", tmp_path / "test"
    folder.mkdir()
    test_folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(20):  # every fifth to test on, never trained on
        picture = np.roll(smooth_picture(48, 48), rng.integers(0, 48), axis=1)
        Image.fromarray(np.round(picture[..., 0] * 255).astype(np.uint8)).save(
            (test_folder if index % 5 == 0 else folder) / f"{index:02d}.png")
    out = tmp_path / "run"
    result = run_script("train_photos.py", "--model", "unet-level", "--dataset", folder,
                        "--test-dataset", test_folder, "--channels", 1, "--image-size", 32,
                        "--epochs", 2, "--batch-size", 8, "--noise-level", "10/255:50/255",
                        "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    run = read_metrics(out)
    assert run["noise"] == "gaussian-unclipped" and run["noise_level"] == pytest.approx(
        [10 / 255, 50 / 255])
    assert [entry["noise_level"] for entry in run["levels"]] == pytest.approx(
        np.linspace(10 / 255, 50 / 255, noise.RANGE_TEST_LEVELS))
    assert run["history"]["val_loss"][-1] < run["history"]["val_loss"][0]
    saved = keras.models.load_model(out / "model.keras", safe_mode=True)
    assert noise.takes_noise_level(saved)


def flat_and_striped():
    """Two clean grey-0.5 images and their "noisy" copies: the first unchanged, the second
    with every other row 0.2 brighter (a standard deviation of 0.1)."""
    clean = np.full((2, 8, 8, 3), 0.5, np.float32)
    return clean, clean + np.stack([np.full((8, 8, 3), 0.0), np.indices((8, 8, 3))[0] % 2 * 0.2])


def test_a_model_told_the_level_learns_camera_noise_told_what_denoise_py_will_tell():
    """Gaussian noise: told its level, its standard deviation. Camera noise, whose level is
    an ISO: told CAMERA_LEVEL_FACTOR times each image's measured spread, as
    `denoise.py --noise-level camera` tells it that times the estimated spread."""
    clean, noisy = flat_and_striped()
    assert noise.level_told("gaussian-unclipped", [0.1, 0.2], clean, noisy) == [0.1, 0.2]
    assert noise.level_told("camera", 3200, clean, noisy) == pytest.approx(
        [0.0, noise.CAMERA_LEVEL_FACTOR * 0.1])


@needs_profiles
def test_one_cameras_noise_is_told_its_spread_as_every_cameras_is():
    """"camera:NAME" is its own kind, made from that camera's profile."""
    clean, noisy = flat_and_striped()
    assert noise.level_told("camera:Nikon D800", 3200, clean, noisy)[1] == pytest.approx(
        noise.CAMERA_LEVEL_FACTOR * 0.1)


@needs_profiles
def test_train_photos_goes_on_from_a_trained_model_on_camera_noise(tmp_path):
    """--start-from: a trained unet-level, taught camera noise, each crop told 3.5 times its
    measured spread; the run starts from its weights, so its first validation score is the
    trained model's own, not a fresh model's."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(12):
        picture = np.roll(smooth_picture(48, 48, channels=3), rng.integers(0, 48), axis=1)
        Image.fromarray(np.round(picture * 255).astype(np.uint8)).save(folder / f"{index:02d}.png")
    common = ("--model", "unet-level", "--dataset", folder, "--channels", 3, "--image-size", 32,
              "--batch-size", 4, "--noise", "camera", "--noise-level", "800:6400")
    first = run_script("train_photos.py", *common, "--epochs", 2, "--out", tmp_path / "first")
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_script("train_photos.py", *common, "--epochs", 1, "--start-from",
                       tmp_path / "first" / "model.keras", "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr[-2000:]
    trained, fine_tuned = read_metrics(tmp_path / "first"), read_metrics(tmp_path / "again")
    assert fine_tuned["start_from"] == str(tmp_path / "first" / "model.keras")
    assert fine_tuned["history"]["val_loss"][0] == pytest.approx(
        trained["history"]["val_loss"][-1], abs=1e-3)
    assert trained["history"]["val_loss"][0] != pytest.approx(
        trained["history"]["val_loss"][-1], abs=1e-3)
    assert [entry["noise_level"] for entry in fine_tuned["levels"]] == pytest.approx(
        np.linspace(800, 6400, noise.RANGE_TEST_LEVELS))
