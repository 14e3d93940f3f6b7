"""models/: the trained models committed for denoise.py load in safe mode and remove the
noise each was made for, on test pictures it never trained on."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import data
import denoiser
import metrics
import noise
from conftest import REPOSITORY, run_script

MODELS = REPOSITORY / "models"
# Each committed model: its channels, the noise it removes, a test picture it never saw
# (folder under $DENOISE_DATA_DIR/images and file; for faces128, whose every fifth picture
# is kept for testing, the first), and the least gain in PSNR expected.
READY = {
    "unet-train400-sigma25": (1, "gaussian-unclipped", 25 / 255, ("Set12", "01.png"), 6.0),
    "unet-train400-blind": (1, "gaussian-unclipped", 50 / 255, ("Set12", "01.png"), 8.0),
    "unet-psnr-train400-sigma25": (1, "gaussian-unclipped", 25 / 255, ("Set12", "01.png"), 8.0),
    "unet-psnr-train400-blind": (1, "gaussian-unclipped", 50 / 255, ("Set12", "01.png"), 11.0),
    "unet-cbsd432-blind": (3, "gaussian-unclipped", 15 / 255, ("Kodak24", "kodim01.png"), 2.0),
    "unet-cbsd432-sigma25": (3, "gaussian-unclipped", 25 / 255, ("Kodak24", "kodim01.png"), 4.0),
    "unet-psnr-cbsd432-sigma25": (3, "gaussian-unclipped", 25 / 255, ("Kodak24", "kodim01.png"),
                                  6.0),
    "unet-psnr-cbsd432-blind": (3, "gaussian-unclipped", 15 / 255, ("Kodak24", "kodim01.png"),
                                6.0),
    # Camera noise ends in a JPEG, whose losses no model undoes: 33.6 -> 34.6 dB measured.
    "unet-psnr-cbsd432-camera": (3, "camera", 12800, ("Kodak24", "kodim01.png"), 0.5),
    "unet-faces-poisson30": (3, "poisson", 30, ("faces128", "100_1_2_20170105174847679.png"), 6.0),
    "unet-level-train400": (1, "gaussian-unclipped", 15 / 255, ("Set12", "01.png"), 6.0),
    "unet-level-cbsd432": (3, "gaussian-unclipped", 50 / 255, ("Kodak24", "kodim01.png"), 10.0),
    "unet-level-cbsd432-camera": (3, "camera", 12800, ("Kodak24", "kodim01.png"), 0.5),
}
# The models told the noise level (unet-level): each is told what it was told in training
# (noise.level_told), the level of the noise added, or for camera noise 3.5 times its
# measured spread. (Told what denoise.py estimates, the camera model would lose on kodim01,
# 33.62 -> 32.99 dB: the camera estimate reads the fine texture of this shrunk photo as
# noise, as docs/camera-noise.md says; told the measured spread, 33.62 -> 34.77.)
TOLD_THE_LEVEL = ("unet-level-train400", "unet-level-cbsd432", "unet-level-cbsd432-camera")


def test_every_committed_model_is_listed_here_and_on_its_page():
    names = sorted(path.stem for path in MODELS.glob("*.keras"))
    assert names == sorted([*READY, "unet-mnist-blind"])
    page = (MODELS.parent / "docs" / "trained-models.md").read_text()  # models/README.md points there
    for name in names:
        assert f"`{name}.keras`" in page and (MODELS / f"{name}.metrics.json").is_file()
        assert (MODELS / f"{name}.keras").stat().st_size < 2_000_000  # the repository stays lean


@pytest.mark.parametrize("level", [0.05, 0.2, 0.5])
def test_the_blind_digit_model_denoises_every_level_of_its_range(level):
    _, (digits, _) = data.load_dataset("mnist", test_limit=100)
    model = denoiser.load_model(str(MODELS / "unet-mnist-blind.keras"))
    noisy = noise.fixed_noisy_copy(digits, "gaussian", level)
    before = metrics.image_quality(digits, noisy)["psnr"]
    after = metrics.image_quality(digits, model.predict(noisy, verbose=0))["psnr"]
    assert after > before + (0.0 if level == 0.05 else 6.0), (before, after)


def model_and_unseen_picture(name):
    """The committed model `name`, loaded as denoise.py loads it, and its test picture
    (READY), clean, in the model's channels; skips where the picture is not on this machine."""
    channels, _, _, (folder, file), _ = READY[name]
    path = Path(os.environ.get(data.DATA_DIR_VARIABLE, "")) / "images" / folder / file
    if not path.is_file():
        pytest.skip(f"needs {folder}/{file} under ${data.DATA_DIR_VARIABLE}/images")
    model = denoiser.load_model(str(MODELS / f"{name}.keras"))
    return model, data.to_channels(data.read_image(path)[0], channels)


@pytest.mark.parametrize("name", READY)
def test_a_photo_model_removes_its_noise_from_a_picture_it_never_saw(name):
    channels, kind, level, (_, file), least_gain = READY[name]
    model, clean = model_and_unseen_picture(name)
    assert denoiser.image_shape(model) == (None, None, None, channels)
    assert noise.takes_noise_level(model) == (name in TOLD_THE_LEVEL)
    noisy = noise.add_noise(clean, kind, level, seed=0)
    told = noise.level_told(kind, level, clean[None], noisy[None]) if name in TOLD_THE_LEVEL else None
    denoised = denoiser.denoise_picture(model, noisy, level=told)
    before = metrics.image_quality([clean], [noisy])["psnr"]
    after = metrics.image_quality([clean], [denoised])["psnr"]
    print(f"{name} on {file}: {before:.2f} -> {after:.2f} dB")
    assert after > before + least_gain


@pytest.mark.parametrize("name", [name for name in TOLD_THE_LEVEL
                                  if READY[name][1] == "gaussian-unclipped"])
def test_a_level_model_smooths_more_when_told_more_and_auto_is_near_the_truth(name):
    model, clean = model_and_unseen_picture(name)
    noisy = noise.add_noise(clean, "gaussian-unclipped", 25 / 255, seed=0)

    def psnr_and_roughness(level):
        denoised = denoiser.denoise_picture(model, noisy, level=level)
        roughness = np.abs(np.diff(denoised, axis=1)).mean()  # the mean step between neighbours
        return metrics.image_quality([clean], [denoised])["psnr"], roughness

    weak, truth, strong = (psnr_and_roughness(sigma / 255) for sigma in (10, 25, 50))
    assert weak[1] > truth[1] > strong[1]  # the knob: told more, a smoother picture
    assert truth[0] > max(weak[0], strong[0])  # and the truth scores best of the three
    auto = psnr_and_roughness(noise.estimate_noise_level(noisy))
    assert auto[0] == pytest.approx(truth[0], abs=0.3)


def test_denoise_py_runs_with_a_committed_model(tmp_path):
    digit = (np.random.default_rng(0).random((28, 28)) > 0.8) * 255
    Image.fromarray(digit.astype(np.uint8)).save(tmp_path / "digit.png")
    result = run_script("denoise.py", "--model", MODELS / "unet-mnist-blind.keras",
                        tmp_path / "digit.png", "--add-noise", "gaussian", "--noise-level", 0.3,
                        "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "out").glob("*.png"))) >= 1
