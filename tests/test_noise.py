import argparse

import keras
import numpy as np
import pytest

import noise
import training


def gray_images(value=0.5, shape=(200, 28, 28, 1)):
    return np.full(shape, value, dtype=np.float32)


def test_gaussian_adds_noise_of_the_factor_and_clips():
    clean = gray_images()
    noisy = noise.add_noise(clean, "gaussian", 0.1, seed=1)
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    difference = noisy - clean  # at 0.5 +- 5 sigma, clipping almost never acts
    assert abs(difference.mean()) < 0.002
    assert difference.std() == pytest.approx(0.1, rel=0.02)
    strong = noise.add_noise(clean, "gaussian", 2.0, seed=1)
    assert strong.min() == 0.0 and strong.max() == 1.0


def test_poisson_keeps_the_mean_and_has_variance_image_over_peak():
    clean = gray_images(0.4)
    noisy = noise.add_noise(clean, "poisson", 30.0, seed=2)
    assert noisy.mean() == pytest.approx(0.4, abs=0.003)
    assert noisy.var() == pytest.approx(0.4 / 30.0, rel=0.05)
    fewer_photons = noise.add_noise(clean, "poisson", 5.0, seed=2)
    assert fewer_photons.var() > noisy.var()


def test_salt_and_pepper_hits_the_fraction_with_black_and_white():
    clean = gray_images()
    noisy = noise.add_noise(clean, "salt-pepper", 0.1, seed=3)
    hit = noisy != clean
    assert hit.mean() == pytest.approx(0.1, abs=0.005)
    assert set(np.unique(noisy[hit])) == {0.0, 1.0}
    assert (noisy[hit] == 1.0).mean() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("kind", noise.NOISES)
def test_the_same_seed_gives_the_same_noise(kind):
    clean = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    level = noise.NOISES[kind].default_level
    first = noise.add_noise(clean, kind, level, seed=7)
    np.testing.assert_array_equal(first, noise.add_noise(clean, kind, level, seed=7))
    assert not np.array_equal(first, noise.add_noise(clean, kind, level, seed=8))
    if kind != "gaussian-unclipped":
        assert 0.0 <= first.min() and first.max() <= 1.0


def test_unclipped_gaussian_noise_leaves_the_pixel_range_as_the_literature_measures_it():
    clean = gray_images(0.0)
    noisy = noise.add_noise(clean, "gaussian-unclipped", 25 / 255, seed=4)
    assert noisy.min() < 0.0  # clipping would have made every pixel >= 0
    assert (noisy - clean).std() == pytest.approx(25 / 255, rel=0.02)


@pytest.mark.parametrize("text, level", [("0.2", 0.2), ("25/255", 25 / 255), ("6", 6.0)])
def test_a_noise_level_may_be_written_as_a_fraction(text, level):
    assert noise.level_argument(text) == pytest.approx(level)


@pytest.mark.parametrize("text", ["", "abc", "1/0", "1/x"])
def test_a_noise_level_that_is_no_number_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="a fraction such as 25/255"):
        noise.level_argument(text)


def test_a_range_of_levels_is_written_low_colon_high():
    assert noise.level_or_range_argument("0.05:0.5") == [0.05, 0.5]
    assert noise.level_or_range_argument("10/255:50/255") == pytest.approx([10 / 255, 50 / 255])
    assert noise.level_or_range_argument("0.2") == 0.2
    assert noise.level_text([0.05, 0.5]) == "0.05:0.5" and noise.level_text(0.2) == "0.2"
    for text in ("1:2:3", "0.1:x", ":0.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            noise.level_or_range_argument(text)


def test_photo_noise_is_named_by_its_sigma_of_255_as_papers_name_it():
    assert noise.describe("gaussian-unclipped", 25 / 255) == "sigma 25"
    assert noise.describe("gaussian-unclipped", [15 / 255, 50 / 255]) == "sigma 15:50"
    assert noise.describe("gaussian-unclipped", [0.0392157, 0.215686]) == "sigma 10:55"
    assert noise.describe("gaussian", 0.275) == "gaussian 0.275"
    assert noise.describe("poisson", 30) == "poisson 30"
    assert noise.NOISES["gaussian-unclipped"].sigma_scale == 255 and noise.NOISES["gaussian"].sigma_scale == 1


@pytest.mark.parametrize("kind, level", [
    ("gaussian", [0.5, 0.1]), ("gaussian", [0.2, 0.2]), ("poisson", [0.0, 10.0]),
    ("salt-pepper", [0.1, 1.5]),
])
def test_nonsense_ranges_are_refused(kind, level):
    with pytest.raises(ValueError):
        noise.check_level(kind, level)


def test_a_range_is_scored_at_levels_across_it_and_tested_at_its_middle():
    assert noise.levels_to_score([0.1, 0.5]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert noise.levels_to_score(0.2) == [0.2]
    assert noise.middle_level([0.1, 0.5]) == pytest.approx(0.3)
    clean = gray_images(shape=(4, 28, 28, 1))
    np.testing.assert_array_equal(noise.fixed_noisy_copy(clean, "gaussian", [0.1, 0.5]),
                                  noise.fixed_noisy_copy(clean, "gaussian", 0.3))


def test_batches_over_a_range_give_each_image_its_own_level():
    batches = training.NoisyBatches(gray_images(shape=(256, 28, 28, 1)), "gaussian-unclipped",
                                 [0.05, 0.5], batch_size=256, seed=0)
    noisy, clean = batches[0]
    levels = (noisy - clean).reshape(256, -1).std(axis=1)  # one level per image
    assert 0.04 < levels.min() < 0.08 and 0.47 < levels.max() < 0.52
    assert abs(np.median(levels) - 0.275) < 0.05  # drawn uniformly over the range
    np.testing.assert_array_equal(batches[0][0], noisy)  # still a function of the seed


def test_the_test_noise_ignores_the_global_seed():
    clean = gray_images(shape=(3, 28, 28, 1))
    keras.utils.set_random_seed(1)
    first = noise.fixed_noisy_copy(clean, "gaussian", 0.2)
    keras.utils.set_random_seed(2)
    np.testing.assert_array_equal(first, noise.fixed_noisy_copy(clean, "gaussian", 0.2))


@pytest.mark.parametrize("kind, level", [
    ("gaussian", -0.1), ("poisson", 0.0), ("salt-pepper", 1.5), ("gaussian", float("nan")),
    ("speckle", 0.1),
])
def test_nonsense_levels_are_refused(kind, level):
    with pytest.raises(ValueError):
        noise.add_noise(gray_images(shape=(1, 2, 2, 1)), kind, level, seed=0)


def test_noisy_batches_pair_noisy_inputs_with_their_clean_targets():
    images = np.random.default_rng(0).random((10, 28, 28, 1), dtype=np.float32)
    batches = training.NoisyBatches(images, "gaussian", 0.2, batch_size=4, seed=0)
    assert len(batches) == 3
    sizes = [len(batches[i][0]) for i in range(len(batches))]
    assert sizes == [4, 4, 2]
    seen = np.concatenate([batches[i][1] for i in range(len(batches))])
    np.testing.assert_array_equal(np.sort(seen.ravel()), np.sort(images.ravel()))  # each once
    noisy, clean = batches[0]
    assert not np.array_equal(noisy, clean)


def test_noisy_batches_draw_fresh_noise_and_order_each_epoch_reproducibly():
    images = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    batches = training.NoisyBatches(images, "gaussian", 0.2, batch_size=64, seed=5)
    first_noisy, first_clean = batches[0]
    np.testing.assert_array_equal(first_noisy, batches[0][0])  # same epoch: same batch
    batches.on_epoch_end()
    second_noisy, second_clean = batches[0]
    assert not np.array_equal(first_clean, second_clean)  # new order
    assert not np.array_equal(first_noisy - first_clean, second_noisy - second_clean)
    again = training.NoisyBatches(images, "gaussian", 0.2, batch_size=64, seed=5)
    again.set_epoch(1)  # as a resumed run would
    np.testing.assert_array_equal(again[0][0], second_noisy)


def test_noisy_batches_without_a_kind_give_clean_pairs():
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    inputs, targets = training.NoisyBatches(images, None, 0.2, batch_size=8, seed=0)[0]
    np.testing.assert_array_equal(inputs, targets)


def test_fit_draws_fresh_noise_in_every_epoch():
    class RecordingBatches(training.NoisyBatches):
        def __getitem__(self, index):
            noisy, clean = super().__getitem__(index)
            drawn.append((self.epoch, float((noisy - clean).sum())))
            return noisy, clean

    class TrainingEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            first_draw_of_epoch.append(len(drawn))

    drawn, first_draw_of_epoch = [], []
    images = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    batches = RecordingBatches(images, "gaussian", 0.2, batch_size=8, seed=0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(batches, epochs=3, verbose=0, callbacks=[TrainingEpochs()])
    during_training = drawn[first_draw_of_epoch[0]:]
    assert len(during_training) == 3 * len(batches)
    assert len({epoch for epoch, _ in during_training}) == 3  # one noise draw per epoch
    assert len({noise_sum for _, noise_sum in during_training}) == len(during_training)


def test_the_noise_layer_adds_noise_only_while_training():
    layer = training.TrainingGaussianNoise(6.0, seed=1)
    inputs = np.zeros((100, 784), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(inputs)), inputs)
    trained = keras.ops.convert_to_numpy(layer(inputs, training=True))
    assert trained.std() == pytest.approx(6.0, rel=0.02)  # above Keras' own limit of 1


def test_the_noise_layer_refuses_a_negative_stddev():
    with pytest.raises(ValueError, match="stddev"):
        training.TrainingGaussianNoise(-1.0)


def test_a_model_with_the_noise_layer_saves_and_loads_in_safe_mode(tmp_path):
    inputs = keras.Input((8,))
    noisy = training.TrainingGaussianNoise(2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(noisy))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # safe_mode is on by default
    x = np.ones((2, 8), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.layers[1], training.TrainingGaussianNoise)
    assert loaded.layers[1].stddev == 2.0


def test_the_noise_layer_saves_where_its_noise_generator_stands(tmp_path):
    inputs = keras.Input((8,))
    model = keras.Model(inputs, training.TrainingGaussianNoise(1.0, seed=3)(inputs))
    zeros = np.zeros((2, 8), dtype=np.float32)
    model(zeros, training=True)  # move the generator on
    model.save_weights(tmp_path / "m.weights.h5")
    expected = keras.ops.convert_to_numpy(model(zeros, training=True))
    restored = keras.Model(inputs, training.TrainingGaussianNoise(1.0, seed=3)(inputs))
    restored.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(zeros, training=True)),
                                  expected)


def test_draw_epoch_noise_gives_training_epoch_k_the_noise_of_epoch_k():
    class RecordingBatches(training.NoisyBatches):
        def __getitem__(self, index):
            drawn.append(self.epoch)
            return super().__getitem__(index)

    drawn = []
    images = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    batches = RecordingBatches(images, "gaussian", 0.2, batch_size=8, seed=0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(batches, epochs=3, shuffle=False, verbose=0,
              callbacks=[training.DrawEpochNoise(batches)])
    assert drawn[-6:] == [0, 0, 1, 1, 2, 2]  # after the batches Keras reads to learn shapes


def test_noisy_batches_cut_fresh_crops_from_pictures_of_any_size():
    rng = np.random.default_rng(0)
    pictures = [rng.random((20 + i, 30 - i, 3), dtype=np.float32) for i in range(5)]
    batches = training.NoisyBatches(pictures, "gaussian", 0.1, batch_size=2, seed=0, crop_size=16)
    noisy, clean = batches[0]
    assert noisy.shape == clean.shape == (2, 16, 16, 3) and len(batches) == 3
    np.testing.assert_array_equal(clean, batches[0][1])  # a function of (seed, epoch, index)
    batches.set_epoch(1)
    assert not np.array_equal(clean, batches[0][1])  # the next epoch crops afresh


def test_the_eight_orientations_are_eight_different_pictures_of_the_same_pixels():
    picture = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)  # no symmetry of its own
    oriented = noise.orient(np.repeat(picture, 8, axis=0), range(8))
    assert len({image.tobytes() for image in oriented}) == 8
    for image in oriented:
        assert sorted(image.ravel()) == list(range(9))
    np.testing.assert_array_equal(oriented[0], picture[0])  # orientation 0: as it was
    np.testing.assert_array_equal(oriented[1], np.rot90(picture[0]))
    np.testing.assert_array_equal(oriented[4], picture[0][:, ::-1])


def test_flip_rotate_draws_every_orientation_from_the_seed_epoch_and_batch():
    rng = np.random.default_rng(0)
    pictures = [rng.random((20, 24, 1), dtype=np.float32) for _ in range(64)]
    batches = training.NoisyBatches(pictures, "gaussian", 0.1, batch_size=64, seed=3, crop_size=8,
                                 flip_rotate=True)
    plain = training.NoisyBatches(pictures, "gaussian", 0.1, batch_size=64, seed=3, crop_size=8)
    clean, unturned = batches[0][1], plain[0][1]
    # The same crops (drawn first), each in one of the 8 orientations; all 8 appear.
    found = [next(k for k in range(8) if np.array_equal(noise.orient(crop[None], [k])[0], turned))
             for crop, turned in zip(unturned, clean)]
    assert sorted(set(found)) == list(range(8))
    np.testing.assert_array_equal(clean, batches[0][1])  # a function of (seed, epoch, index)
    again = training.NoisyBatches(pictures, "gaussian", 0.1, batch_size=64, seed=3, crop_size=8,
                               flip_rotate=True)
    np.testing.assert_array_equal(batches[0][0], again[0][0])  # the noise too
    batches.set_epoch(1)
    plain.set_epoch(1)
    refound = [next(k for k in range(8) if np.array_equal(noise.orient(crop[None], [k])[0], turned))
               for crop, turned in zip(plain[0][1], batches[0][1])]
    assert refound != found  # the next epoch draws afresh


def test_a_noise_kind_added_to_the_registry_is_known_to_every_script(monkeypatch):
    """One entry of noise.NOISES is all a new kind needs: the training scripts' --noise
    takes it, their --help says what its level means, and its range is checked."""
    import conv_models
    import settings

    speckle = noise.Noise(lambda images, level, rng: images * (1 + level), 0.3, (0, 2),
                          "the speckle's spread, 0 to 2", "a speckle spread")
    monkeypatch.setitem(noise.NOISES, "speckle", speckle)
    parser = settings.build_parser("", conv_models.MODELS, "unet", takes=(settings.PHOTOS,))
    assert parser.parse_args(["--noise", "speckle"]).noise_kind == "speckle"
    assert "speckle: the speckle's spread, 0 to 2, default 0.3" in " ".join(parser.format_help().split())
    with pytest.raises(ValueError, match=r"a speckle spread must lie in \[0, 2\] \(got 3\)"):
        noise.check_level("speckle", 3)
    assert noise.add_noise(np.ones((1, 2, 2, 1)), "speckle", 0.5, 0).max() == 1.5
