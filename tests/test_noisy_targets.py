"""Training without clean pictures (noisy_targets.py, `--target` of train_noisy_targets.py):
Noise2Noise's second noisy copy, and Neighbor2Neighbor's pairs of neighbour pixels."""

import warnings

import keras
import numpy as np
import pytest
from conftest import read_metrics, run_script
from PIL import Image

import conv_models
import noisy_targets
import training


def test_each_2x2_cell_gives_two_pixels_that_share_an_edge_drawn_from_the_seed():
    first, second = noisy_targets.neighbour_masks(50, 8, 6, np.random.default_rng(1))
    assert first.shape == second.shape == (50, 4, 3, 4)
    assert (first.sum(-1) == 1).all() and (second.sum(-1) == 1).all()  # one pixel each
    one, other = np.divmod(first.argmax(-1), 2), np.divmod(second.argmax(-1), 2)  # (row, column)
    steps = np.abs(one[0] - other[0]) + np.abs(one[1] - other[1])
    assert (steps == 1).all()  # side by side or one above the other: never the same, never diagonal
    picked = first.argmax(-1) * 4 + second.argmax(-1)
    assert len(np.unique(picked)) == 8  # every ordered pair of pixels that share an edge
    again = noisy_targets.neighbour_masks(50, 8, 6, np.random.default_rng(1))
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])


def test_a_half_holds_the_pixel_its_mask_picks_in_each_cell():
    pictures = np.arange(2 * 4 * 6 * 3, dtype="float32").reshape(2, 4, 6, 3)
    first, _ = noisy_targets.neighbour_masks(2, 4, 6, np.random.default_rng(0))
    half = keras.ops.convert_to_numpy(noisy_targets.subsample(pictures, first))
    for image, row, column in np.ndindex(2, 2, 3):
        pixel = first[image, row, column].argmax()  # 0 1 / 2 3 within the cell
        np.testing.assert_array_equal(
            half[image, row, column],
            pictures[image, 2 * row + pixel // 2, 2 * column + pixel % 2])


def test_noise2noise_batches_answer_with_another_noisy_copy():
    clean = np.full((8, 16, 16, 1), 0.5, "float32")
    batches = training.NoisyBatches(clean, "gaussian-unclipped", 0.1, batch_size=8, seed=0,
                                 target="noisy")
    noisy, target = batches[0]
    assert not np.allclose(target, clean) and not np.allclose(target, noisy)
    assert abs(np.std(target - clean) - 0.1) < 0.01  # its own noise, of the same level
    assert abs(np.corrcoef((noisy - clean).ravel(), (target - clean).ravel())[0, 1]) < 0.05
    np.testing.assert_array_equal(target, batches[0][1])  # a function of (seed, epoch, index)


def test_neighbour_batches_are_made_of_the_noisy_pictures_alone():
    """The pictures given are the noisy ones (noise.corrupt_once): no noise is added, and
    the target is half of the very picture that is the input."""
    pictures = np.random.default_rng(0).random((4, 16, 16, 1), dtype="float32")
    batches = training.NoisyBatches(pictures, "gaussian-unclipped", 0.1, batch_size=4, seed=0,
                                 target="neighbours")
    (inputs, first, second), target = batches[0]
    np.testing.assert_array_equal(np.sort(inputs, axis=0), np.sort(pictures, axis=0))
    np.testing.assert_allclose(target, keras.ops.convert_to_numpy(
        noisy_targets.subsample(inputs, second)))
    np.testing.assert_array_equal(first, batches[0][0][1])  # seeded: the same masks again


def test_neighbour_masks_are_drawn_from_the_epoch_so_a_resumed_run_draws_them_again():
    pictures = np.random.default_rng(0).random((4, 16, 16, 1), dtype="float32")

    def masks_of_epoch(epoch):  # a fresh run's batches, as --resume makes them, at `epoch`
        batches = training.NoisyBatches(pictures, "gaussian-unclipped", 0.1, batch_size=4, seed=0,
                                     target="neighbours")
        batches.set_epoch(epoch)
        return batches[0][0][1:]

    straight = training.NoisyBatches(pictures, "gaussian-unclipped", 0.1, batch_size=4, seed=0,
                                  target="neighbours")
    straight.on_epoch_end()
    straight.on_epoch_end()  # epoch 2, after two whole epochs
    for mask, resumed in zip(straight[0][0][1:], masks_of_epoch(2), strict=True):
        np.testing.assert_array_equal(mask, resumed)
    assert not np.array_equal(masks_of_epoch(1)[0], masks_of_epoch(2)[0])  # fresh each epoch


def test_the_neighbour_loss_is_the_gap_plus_the_regulariser():
    denoiser = conv_models.MODELS["dncnn"].build((None, None, 1))
    trainer = noisy_targets.neighbour_trainer(denoiser, (16, 16, 1))
    pictures = np.random.default_rng(0).random((2, 16, 16, 1), dtype="float32")
    (inputs, first, second), target = noisy_targets.neighbour_pairs(pictures,
                                                                    np.random.default_rng(1))
    outputs = keras.ops.convert_to_numpy(trainer.predict([inputs, first, second], verbose=0))
    whole = denoiser.predict(inputs, verbose=0)
    first_half = denoiser.predict(noisy_targets.subsample(inputs, first), verbose=0)
    shift = (keras.ops.convert_to_numpy(noisy_targets.subsample(whole, first))
             - keras.ops.convert_to_numpy(noisy_targets.subsample(whole, second)))
    np.testing.assert_allclose(outputs[..., :1], first_half, atol=1e-5)
    np.testing.assert_allclose(outputs[..., 1:], shift, atol=1e-5)
    gap = first_half - target
    expected = (gap**2).mean(axis=(1, 2, 3)) + noisy_targets.REGULARISER_WEIGHT * (
        (gap - shift) ** 2).mean(axis=(1, 2, 3))
    loss = keras.ops.convert_to_numpy(noisy_targets.neighbour_loss()(target, outputs))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_the_regulariser_weight_scales_the_second_term_alone():
    """An untrained denoiser's two halves hardly differ, so a regulariser term of its own
    would be too small to see: here both terms are of one size, from made-up outputs."""
    rng = np.random.default_rng(0)
    second_half = rng.random((2, 8, 8, 1), dtype="float32")
    outputs = rng.random((2, 8, 8, 2), dtype="float32")  # the first half, then the shift
    gap = outputs[..., :1] - second_half
    first_term = (gap**2).mean(axis=(1, 2, 3))
    second_term = ((gap - outputs[..., 1:]) ** 2).mean(axis=(1, 2, 3))
    assert (second_term > 0.1 * first_term).all()
    for weight in (0.0, 1.0, 2.5):
        loss = noisy_targets.neighbour_loss(weight)(second_half, outputs)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loss),
                                   first_term + weight * second_term, rtol=1e-5)


@pytest.mark.parametrize("weight, target, complaint", [
    (-1.0, noisy_targets.NEIGHBOURS, "finite number >= 0"),
    (float("nan"), noisy_targets.NEIGHBOURS, "finite number >= 0"),
    (0.0, noisy_targets.NOISY, "only neighbours have a regulariser"),
])
def test_a_regulariser_weight_it_cannot_use_is_refused(weight, target, complaint):
    with pytest.raises(ValueError, match=complaint):
        noisy_targets.check_regulariser_weight(weight, target)
    noisy_targets.check_regulariser_weight(0.0, noisy_targets.NEIGHBOURS)  # none: allowed


def test_noise2noise_on_digits_learns_to_denoise(tmp_path):
    result = run_script("train_noisy_targets.py", "--target", "noisy", "--loss", "mse",
                        "--noise", "gaussian-unclipped", "--train-limit", 1000,
                        "--test-limit", 100, "--epochs", 1, "--batch-size", 32, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path)
    assert metrics["target"] == "noisy" and metrics["psnr"] > metrics["noisy_psnr"] + 2


@pytest.fixture
def noisy_photos(tmp_path):
    """A folder of noisy pictures only, as a camera gives: no clean copy anywhere."""
    folder = tmp_path / "noisy"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:48, 0:48]
    for index in range(20):
        clean = 0.5 + 0.3 * np.sin(rows / (4 + index % 5) + columns / 7)
        noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
        Image.fromarray(np.round(noisy * 255).astype(np.uint8)).save(folder / f"{index:02d}.png")
    return folder


def test_neighbours_train_on_a_folder_of_noisy_pictures_alone(noisy_photos, tmp_path):
    """--noise-level 0: the pictures are noisy already (their scores are then against the
    noisy pictures themselves, and mean little); the model trains and saves. Without
    --test-dataset, every fifth picture is kept to test on, never trained on; of the other
    16, the last tenth (2) validate. Without the regulariser: the lesson's one change."""
    result = run_script("train_noisy_targets.py", "--dataset", noisy_photos, "--channels", 1,
                        "--image-size", 32, "--target", "neighbours", "--noise",
                        "gaussian-unclipped", "--noise-level", 0, "--epochs", 2,
                        "--batch-size", 4, "--regulariser-weight", 0, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path / "run")
    assert (metrics["target"], metrics["regulariser_weight"]) == ("neighbours", 0)
    assert (metrics["train_images"], metrics["validation_images"]) == (14, 2)
    assert metrics["test_images"] == 4  # every fifth picture of the folder
    assert len(metrics["history"]["val_psnr"]) == 3  # untrained, then each epoch
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        model = keras.saving.load_model(tmp_path / "run" / "model.keras")  # the denoiser alone
    assert model.input_shape == (None, None, None, 1)
    assert not [warning for warning in warned if "optimizer" in str(warning.message)]  # whole


def test_neighbours_on_digits_say_why_not(tmp_path):
    result = run_script("train_noisy_targets.py", "--target", "neighbours", "--out",
                        tmp_path / "run")
    assert result.returncode == 2
    assert "halves of a 28x28 digit (14x14)" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_a_regulariser_weight_for_noise2noise_says_why_not(tmp_path):
    result = run_script("train_noisy_targets.py", "--regulariser-weight", 0, "--out",
                        tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --regulariser-weight: only neighbours have a regulariser: leave it out with "
        "--target noisy")
    assert not (tmp_path / "run").exists()
