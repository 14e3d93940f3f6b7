"""denoiser.py and denoise.py: seamless tiles, every bit depth and channel layout, bad input."""

import hashlib

import keras
import numpy as np
import png
import pytest
from PIL import Image

import data
import denoiser
import noise
from conftest import REPOSITORY, run_script


def identity_model(input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def random_image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("shape, tile", [((37, 53, 1), 512), ((301, 170, 3), 64), ((9, 200, 1), 48)])
def test_tiles_of_a_fully_convolutional_identity_give_back_the_input(shape, tile):
    image = random_image(shape)
    output = denoiser.denoise_with_tiles(identity_model((None, None, shape[-1])), image, tile)
    assert output.shape == shape
    np.testing.assert_allclose(output, image, atol=1e-6)


def test_tiles_leave_no_seam_a_trained_model_would_show():
    """A shipped U-Net sees only part of a tile's surroundings, so tiles cannot match the
    whole picture exactly; blended, they stay within 2 levels of 255 of it (here: a noisy
    256x256 photo, whole and in tiles of 128)."""
    clean = np.asarray(Image.open(REPOSITORY / "docs/demo/samples/astronaut.png").convert("RGB"),
                       np.float32) / 255
    noisy = noise.fixed_noisy_copy(clean[None], "gaussian-unclipped", 25 / 255)[0]
    model = denoiser.load_model(str(REPOSITORY / "models/unet-psnr-cbsd432-blind.keras"))
    whole = denoiser.denoise_picture(model, noisy, tile_size=512)
    tiled = denoiser.denoise_picture(model, noisy, tile_size=128)
    levels = np.abs(np.round(whole * 255) - np.round(tiled * 255))
    assert 0 < levels.max() <= 2  # tiles do differ a little, and only a little
    assert 10 * np.log10(1 / np.mean((whole - tiled) ** 2)) > 60  # dB between the two


def test_a_fixed_size_model_sees_overlapping_tiles_of_its_size():
    seen = []

    class Recorder(keras.layers.Layer):
        def call(self, inputs):
            seen.append(tuple(inputs.shape[1:]))
            return inputs

    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, Recorder()(inputs))
    image = random_image((45, 33, 1))
    np.testing.assert_allclose(denoiser.denoise_with_tiles(model, image, 512), image, atol=1e-6)
    assert set(seen) == {(16, 16, 1)}


def test_tile_starts_cover_the_side_and_end_flush():
    assert denoiser.tile_starts(10, 16, 4) == [0]
    starts = denoiser.tile_starts(100, 32, 8)
    assert starts[0] == 0 and starts[-1] == 100 - 32
    assert all(b - a <= 32 - 8 for a, b in zip(starts, starts[1:]))


def test_each_orientation_is_undone_and_the_self_ensemble_averages_all_eight():
    image = random_image((5, 7, 1))
    for orientation in range(noise.ORIENTATIONS):  # the orientations training flips use
        turned = noise.orient(image, orientation)
        np.testing.assert_array_equal(noise.orient_back(turned, orientation), image)
    assert len({noise.orient(image, o).tobytes() for o in range(noise.ORIENTATIONS)}) == 8

    def add_top_left_pixel(pictures):  # not the same function in every orientation
        return pictures + pictures[..., :1, :1, :]

    # Turned and mirrored, each of the 4 corners comes to the top left twice.
    corners = image[[0, 0, -1, -1], [0, -1, 0, -1], 0].mean()
    np.testing.assert_allclose(denoiser.self_ensemble(add_top_left_pixel, image),
                               image + corners, atol=1e-6)


def test_the_self_ensemble_of_an_identity_gives_back_the_picture():
    image = random_image((19, 26, 3))  # not square: each turn swaps height and width
    output = denoiser.denoise_picture(identity_model((None, None, 3)), image, ensemble=True)
    np.testing.assert_allclose(output, image, atol=1e-6)


def test_colour_pictures_meet_grey_models_and_the_reverse():
    grey_model, colour_model = identity_model((None, None, 1)), identity_model((None, None, 3))
    rgb, grey = random_image((20, 24, 3)), random_image((20, 24, 1))
    np.testing.assert_allclose(denoiser.denoise_picture(grey_model, rgb), rgb, atol=1e-6)
    np.testing.assert_allclose(denoiser.denoise_picture(colour_model, grey), grey, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("bits", [8, 16])
def test_pictures_are_written_and_read_back_at_their_bit_depth(tmp_path, channels, bits):
    levels = 2**bits - 1
    image = np.round(random_image((17, 23, channels)) * levels) / levels
    denoiser.write_picture(tmp_path / "p.png", image, bits)
    read, read_bits = data.read_image(tmp_path / "p.png")
    assert read_bits == bits and read.shape == image.shape
    np.testing.assert_allclose(read, image, atol=1e-6)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def pictures(tmp_path):
    """Good pictures of every kind, bad ones of every kind, and a grey identity model."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (33, 41, 4), dtype=np.uint8)).save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "photo.jpg")
    rgb16 = rng.integers(0, 65536, (21, 19, 3), dtype=np.uint16)
    with open(folder / "rgb16.png", "wb") as file:
        png.Writer(19, 21, greyscale=False, bitdepth=16).write(file, rgb16.reshape(21, -1))
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not a picture")
    (folder / "cut.png").write_bytes((folder / "grey.png").read_bytes()[:60])
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "tiny.png")
    (folder / "subfolder").mkdir()
    model_path = tmp_path / "identity.keras"
    identity_model((None, None, 1)).save(model_path)
    good = ["grey.png", "rgba.png", "photo.jpg", "rgb16.png"]
    bad = ["missing.png", "empty.png", "text.png", "cut.png", "tiny.png", "subfolder"]
    return folder, model_path, good, bad


def test_denoise_writes_each_good_picture_and_names_each_bad_one(pictures, tmp_path):
    folder, model_path, good, bad = pictures
    before = {name: digest(folder / name) for name in good}
    out = tmp_path / "out"
    finished = run_script("denoise.py", "--model", model_path, "--out", out, "--self-ensemble",
                          *[folder / name for name in good + bad])
    assert finished.returncode == 1
    errors = [line for line in finished.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad)
    for name, line in zip(bad, errors):
        assert name in line
    assert "Traceback" not in finished.stderr
    assert {name: digest(folder / name) for name in good} == before  # inputs untouched
    for name in good:
        original, bits = data.read_image(folder / name)
        output, output_bits = data.read_image(out / (name.rsplit(".", 1)[0] + "_denoised.png"))
        assert output.shape == original.shape and output_bits == bits
        # The identity changes nothing, in any of the 8 orientations once turned back.
        np.testing.assert_allclose(output, original, atol=1e-6)
    assert "each channel is denoised alone" in finished.stdout  # the grey model on colour


def test_outputs_are_not_written_over_without_overwrite(pictures, tmp_path):
    folder, model_path, good, _ = pictures
    arguments = ["--model", model_path, "--out", tmp_path / "out", folder / "grey.png"]
    assert run_script("denoise.py", *arguments).returncode == 0
    again = run_script("denoise.py", *arguments)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert run_script("denoise.py", *arguments, "--overwrite").returncode == 0
    # An output that would land on an input is refused even with --overwrite.
    for name in ("x.png", "x_denoised.png"):
        (folder / name).write_bytes((folder / "grey.png").read_bytes())
    before = digest(folder / "x_denoised.png")
    clash = run_script("denoise.py", "--model", model_path, "--out", folder, "--overwrite",
                       folder / "x.png", folder / "x_denoised.png")
    assert clash.returncode == 1 and "is one of the inputs" in clash.stderr
    assert digest(folder / "x_denoised.png") == before


@pytest.mark.parametrize("orientation, upright", [
    (6, lambda stored: np.rot90(stored, k=-1)),  # stored sideways: turn it a quarter, clockwise
    (3, lambda stored: np.rot90(stored, k=2)),  # stored upside down
    (2, lambda stored: stored[:, ::-1])])  # stored mirrored
def test_a_phone_photo_stored_sideways_comes_out_upright(tmp_path, orientation, upright):
    """Its EXIF orientation says how a viewer turns it; the PNG written has no such tag, so
    the pixels are turned as the viewer turned them (data.upright_as_shown)."""
    stored = np.random.default_rng(1).integers(0, 256, (36, 52, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation  # the EXIF orientation tag
    Image.fromarray(stored).save(tmp_path / "phone.png", exif=exif)
    identity_model((None, None, 3)).save(tmp_path / "identity.keras")
    result = run_script("denoise.py", "--model", tmp_path / "identity.keras",
                        tmp_path / "phone.png", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    written = np.asarray(Image.open(tmp_path / "out" / "phone_denoised.png"))
    assert np.array_equal(written, upright(stored))


def test_add_noise_saves_noisy_and_denoised_side_by_side_and_prints_both_psnrs(pictures, tmp_path):
    folder, model_path, _, _ = pictures
    out = tmp_path / "out"
    finished = run_script("denoise.py", "--model", model_path, "--out", out, "--add-noise",
                          "gaussian", "--noise-level", "0.1", folder / "grey.png")
    assert finished.returncode == 0, finished.stderr
    assert "PSNR noisy" in finished.stdout and "-> denoised" in finished.stdout
    for kind in ("noisy", "denoised", "side_by_side"):
        assert (out / f"grey_{kind}.png").stat().st_size > 0
    noisy, _ = data.read_image(out / "grey_noisy.png")
    original, _ = data.read_image(folder / "grey.png")
    assert 0.05 < np.std(noisy - original) < 0.15


@pytest.mark.parametrize("make_model, message", [
    (lambda path: None, "no such model file"),
    (lambda path: path.write_text("junk"), "not a .keras model file"),
])
def test_a_bad_model_file_is_one_line(tmp_path, make_model, message):
    model_path = tmp_path / "model.keras"
    make_model(model_path)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    finished = run_script("denoise.py", "--model", model_path, "--out", tmp_path / "out",
                          tmp_path / "a.png")
    assert finished.returncode == 1
    assert message in finished.stderr.strip().splitlines()[-1]
    assert "Traceback" not in finished.stderr
