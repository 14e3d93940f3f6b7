"""Camera noise (camera.py, the noise kind "camera"): a measured sensor's Poisson-Gaussian
noise, through the sRGB and tone curves and a Bayer mosaic; its profiles found in the data
folder or downloaded by URL and checksum from a mirror served on 127.0.0.1."""

import argparse
import os
import shutil
import threading

import numpy as np
import pytest

import camera
import data
import noise
from conftest import read_metrics, run_script
from test_photo_sets import Mirror

PROFILES = os.path.join(os.environ.get(data.DATA_DIR_VARIABLE, ""), "camera-noise",
                        data.CAMERA_PROFILES_FILE[1])
needs_profiles = pytest.mark.skipif(not os.path.isfile(PROFILES),
                                    reason=f"needs ${data.DATA_DIR_VARIABLE}/camera-noise/")


def flat(value, channels=3, side=64):
    """A batch of one flat picture of `value` in every channel."""
    return np.full((1, side, side, channels), value, np.float32)


def test_raw_noise_has_the_variance_a_x_plus_b():
    rng = np.random.default_rng(0)
    a, b = 1e-3, 4e-5
    for value in (0.05, 0.5):
        raw = np.full(200_000, value)
        variance = np.var(camera.noisy_raw(raw, a, b, rng))
        assert variance == pytest.approx(a * value + b, rel=0.03)


def test_the_curves_undo_each_other():
    picture = np.linspace(0, 1, 101)
    back = camera.tone_curve(camera.linear_to_srgb(camera.srgb_to_linear(
        camera.inverse_tone_curve(picture))))
    np.testing.assert_allclose(back, picture, atol=1e-6)


def test_demosaicking_keeps_each_seen_pixel_and_a_flat_picture():
    channel = camera.bayer_channel(8, 8)
    assert channel[0, 0] == 0 and channel[0, 1] == 1 and channel[1, 0] == 1 and channel[1, 1] == 2
    raw = np.random.default_rng(1).random((8, 8)).astype(np.float32)
    colour = camera.demosaic(raw, channel)
    np.testing.assert_allclose(np.take_along_axis(colour, channel[..., None], -1)[..., 0], raw,
                               rtol=1e-6)
    np.testing.assert_allclose(camera.demosaic(np.full((8, 8), 0.3, np.float32), channel), 0.3,
                               rtol=1e-5)


@needs_profiles
def test_a_higher_iso_is_noisier_and_the_same_seed_the_same_noise():
    picture = flat(0.5)
    spreads = [np.std(noise.add_noise(picture, "camera", iso, 3) - picture)
               for iso in (200, 1600, 12800)]
    assert spreads[0] < spreads[1] < spreads[2]
    np.testing.assert_array_equal(noise.add_noise(picture, "camera", 1600, 3),
                                  noise.add_noise(picture, "camera", 1600, 3))
    assert not np.array_equal(noise.add_noise(picture, "camera", 1600, 3),
                              noise.add_noise(picture, "camera", 1600, 4))


@needs_profiles
def test_one_picture_is_corrupted_as_a_batch_of_one_is():
    """denoise.py --add-noise hands the noise one picture (H, W, C), not a batch."""
    picture = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    one = camera.add_camera_noise(picture, 3200, np.random.default_rng(9))
    batch = camera.add_camera_noise(picture[None], 3200, np.random.default_rng(9))
    assert one.shape == picture.shape
    np.testing.assert_array_equal(one, batch[0])


@needs_profiles
def test_the_mosaic_spreads_each_pixels_noise_to_its_neighbours():
    """Demosaicking interpolates a pixel's missing colours from its neighbours: their
    noise is correlated, as in a camera's pictures; without the mosaic it is not."""
    picture = flat(0.4, side=128)

    def neighbour_correlation(mosaic):
        rng = np.random.default_rng(5)
        residual = camera.add_camera_noise(picture, 6400, rng, mosaic=mosaic,
                                           jpeg=False)[0] - picture[0]
        green = residual[..., 1]
        return np.corrcoef(green[:, :-1].ravel(), green[:, 1:].ravel())[0, 1]

    assert neighbour_correlation(mosaic=True) > 0.2
    assert abs(neighbour_correlation(mosaic=False)) < 0.05


@needs_profiles
def test_brighter_pixels_get_more_noise_as_light():
    """Shot noise: in linear light, the noise grows with the brightness (a grey picture,
    green channel's profile, no mosaic)."""
    rng = np.random.default_rng(2)
    spreads = []
    for value in (0.1, 0.8):
        picture = flat(value, channels=1, side=256)
        noisy = camera.add_camera_noise(picture, 12800, rng, jpeg=False)
        spreads.append(np.std(camera.srgb_to_linear(camera.inverse_tone_curve(noisy))))
    assert spreads[0] < spreads[1]


@needs_profiles
def test_an_iso_no_camera_was_measured_at_is_refused_by_its_range():
    with pytest.raises(ValueError, match="an ISO must lie in"):
        noise.check_level("camera", 10)
    assert len(camera.cameras_at(1600)) > 100  # darktable measured hundreds at ISO 1600


def test_the_profiles_are_downloaded_once_by_checksum_or_refused(tmp_path, monkeypatch):
    """No copy here: downloaded from the mirror into the Keras cache, checked; a file of
    another checksum is refused, and nothing is kept."""
    if not os.path.isfile(PROFILES):
        pytest.skip(f"needs ${data.DATA_DIR_VARIABLE}/camera-noise/ to serve")
    upstream = tmp_path / "mirror" / data.CAMERA_PROFILES.repository / \
        data.CAMERA_PROFILES.commit / data.CAMERA_PROFILES.prefix
    upstream.mkdir(parents=True)
    shutil.copy(PROFILES, upstream / data.CAMERA_PROFILES_FILE[0])
    mirror = Mirror(tmp_path / "mirror")
    threading.Thread(target=mirror.serve_forever, daemon=True).start()
    monkeypatch.delenv(data.DATA_DIR_VARIABLE)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(data.MIRROR_VARIABLE, mirror.url)
    try:
        with open(upstream / data.CAMERA_PROFILES_FILE[0], "ab") as file:
            file.write(b" ")  # one byte more: not the file
        with pytest.raises(data.DatasetError, match="sends more than"):
            data.camera_profiles_path()
        content = bytearray((upstream / data.CAMERA_PROFILES_FILE[0]).read_bytes()[:-1])
        content[100] ^= 1  # the same size, one bit changed
        (upstream / data.CAMERA_PROFILES_FILE[0]).write_bytes(bytes(content))
        with pytest.raises(data.DatasetError, match="its sha256 differs"):
            data.camera_profiles_path()
        assert os.listdir(tmp_path / "keras" / "datasets" / "camera-noise") == []
        shutil.copy(PROFILES, upstream / data.CAMERA_PROFILES_FILE[0])
        path = data.camera_profiles_path()
        assert path == str(tmp_path / "keras" / "datasets" / "camera-noise" /
                           data.CAMERA_PROFILES_FILE[1])
        requests = mirror.requests
        assert data.camera_profiles_path() == path and mirror.requests == requests  # once
    finally:
        mirror.shutdown()


@needs_profiles
def test_a_camera_is_found_by_name_and_a_near_miss_is_told_the_names_near_it():
    assert camera.camera_named("nikon d800").name == "Nikon D800"
    with pytest.raises(ValueError, match=r"did you mean .*'Nikon D800'"):
        camera.camera_named("Nikon D8000")
    with pytest.raises(ValueError, match="no camera called 'no such thing'"):
        camera.camera_named("no such thing")


@needs_profiles
def test_a_profile_whose_read_noise_fit_is_below_zero_counts_as_no_read_noise():
    """darktable fits b a little below 0 at low ISOs (the EOS 5D Mark II at ISO 100): such
    ISOs are measured, with a read noise of 0, not left out."""
    five_d = camera.camera_named("Canon EOS 5D Mark II")
    assert five_d.isos[0] <= 100 and np.all(five_d.b >= 0)
    a, b = five_d.noise_at(100)
    assert np.all(a > 0) and np.min(b) == 0


@needs_profiles
def test_a_named_camera_takes_every_picture():
    """Taken by one camera, the noise is that camera's: the same as its own profile gives,
    whatever the random draw among the cameras measured at that ISO would have been."""
    picture = flat(0.5, side=128)
    d800 = camera.camera_named("Nikon D800")
    first = camera.add_camera_noise(picture, 6400, np.random.default_rng(0), taken_by=d800)
    again = camera.add_camera_noise(picture, 6400, np.random.default_rng(0), taken_by=d800)
    np.testing.assert_array_equal(first, again)
    noisiest = max(camera.cameras_at(6400), key=lambda other: other.noise_at(6400)[0][1])
    louder = camera.add_camera_noise(picture, 6400, np.random.default_rng(0), taken_by=noisiest)
    assert np.std(louder - picture) > np.std(first - picture)


@needs_profiles
def test_white_balance_makes_red_and_blue_noisier_than_green():
    """The camera multiplies red and blue (1.9 to 2.4, 1.5 to 1.9) and their noise with
    them; without that processing the three channels of one camera are alike."""
    picture = flat(0.4, side=256)
    d800 = camera.camera_named("Nikon D800")

    def spreads(processing):
        noisy = camera.add_camera_noise(picture, 6400, np.random.default_rng(1), mosaic=False,
                                        taken_by=d800, processing=processing, jpeg=False)
        return np.std(noisy - picture, axis=(0, 1, 2))

    red, green, blue = spreads(processing=True)
    assert red > 1.2 * green and blue > 1.1 * green
    red, green, blue = spreads(processing=False)
    assert red < 1.2 * green and blue < 1.2 * green


@needs_profiles
def test_the_picture_is_saved_as_a_jpeg_of_8_bits():
    picture = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    saved = camera.add_camera_noise(picture, 1600, np.random.default_rng(2))
    np.testing.assert_allclose(saved * 255, np.round(saved * 255), atol=1e-4)
    unsaved = camera.add_camera_noise(picture, 1600, np.random.default_rng(2), jpeg=False)
    assert not np.allclose(unsaved * 255, np.round(unsaved * 255), atol=1e-4)


@needs_profiles
def test_the_kind_camera_name_is_that_cameras_noise_at_its_own_isos():
    """--noise "camera:Nikon D800": every picture taken by that camera, the noise its own
    profile gives; ISOs outside those it was measured at, and unknown cameras, are refused
    in one line."""
    picture = flat(0.5, side=64)
    d800 = camera.camera_named("Nikon D800")
    named = noise.add_noise(picture, "camera:nikon d800", 3200, seed=7)
    np.testing.assert_array_equal(named, camera.add_camera_noise(
        picture, 3200, np.random.default_rng(7), taken_by=d800))
    low, high = noise.noise_kind("camera:Nikon D800").level_range
    assert (low, high) == (d800.isos[0], d800.isos[-1])
    with pytest.raises(ValueError, match=rf"an ISO of the Nikon D800 must lie in \[{low:g}, "):
        noise.check_level("camera:Nikon D800", high * 2)
    with pytest.raises(argparse.ArgumentTypeError, match="did you mean .*'Nikon D800'"):
        noise.kind_argument("camera:Nikon D8000")
    with pytest.raises(argparse.ArgumentTypeError, match="or camera:NAME"):
        noise.kind_argument("speckle")


@needs_profiles
def test_a_training_script_learns_one_named_cameras_noise(tmp_path):
    result = run_script("train_photos.py", "--dataset", "cbsd432", "--test-dataset", "cbsd68",
                        "--channels", 3, "--image-size", 32, "--train-limit", 16,
                        "--test-limit", 4, "--epochs", 1, "--noise", "camera:Nikon D800",
                        "--noise-level", 3200, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-2000:]
    recorded = read_metrics(tmp_path / "run")
    assert (recorded["noise"], recorded["noise_level"]) == ("camera:Nikon D800", 3200)
    refused = run_script("train_photos.py", "--noise", "camera:Nikon D8000",
                         "--out", tmp_path / "refused")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "did you mean" in refused.stderr.strip().splitlines()[-1]
