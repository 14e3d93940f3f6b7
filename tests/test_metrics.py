import keras
import numpy as np
import pytest

import metrics
import training


def test_psnr_of_a_known_error():
    clean = np.full((3, 16, 16, 1), 0.5, dtype=np.float32)
    off_by_a_tenth = clean + 0.1  # MSE 0.01 -> 20 dB
    per_image = keras.ops.convert_to_numpy(training.psnr(clean, off_by_a_tenth))
    np.testing.assert_allclose(per_image, [20.0, 20.0, 20.0], rtol=1e-5)
    assert metrics.image_quality(clean, off_by_a_tenth)["psnr"] == pytest.approx(20.0, rel=1e-5)


def test_identical_images_score_the_ceiling():
    images = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    scores = metrics.image_quality(images, images)
    assert scores["psnr"] == pytest.approx(100.0)
    assert scores["ssim"] == pytest.approx(1.0)
    assert keras.ops.convert_to_numpy(training.psnr(images, images)) == pytest.approx(100.0)


def test_noise_lowers_ssim_and_scores_are_means_over_images():
    rng = np.random.default_rng(0)
    clean = rng.random((6, 16, 16, 1), dtype=np.float32)
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape, dtype=np.float32), 0, 1)
    both = metrics.image_quality(clean, noisy)
    halves = [metrics.image_quality(clean[s], noisy[s]) for s in (slice(0, 3), slice(3, 6))]
    assert both["psnr"] == pytest.approx(np.mean([h["psnr"] for h in halves]), rel=1e-5)
    assert 0.0 < both["ssim"] < 0.9


def test_a_list_of_images_of_different_sizes_is_scored_image_by_image():
    rng = np.random.default_rng(1)
    clean = [rng.random(shape, dtype=np.float32) for shape in ((16, 20, 1), (20, 16, 1), (16, 20, 1))]
    noisy = [np.clip(image + 0.1 * rng.standard_normal(image.shape), 0, 1) for image in clean]
    each = [metrics.image_quality(c[np.newaxis], n[np.newaxis]) for c, n in zip(clean, noisy)]
    together = metrics.image_quality(clean, noisy)
    assert together["psnr"] == pytest.approx(np.mean([e["psnr"] for e in each]), rel=1e-5)
    assert together["ssim"] == pytest.approx(np.mean([e["ssim"] for e in each]), rel=1e-5)


def test_different_shapes_and_too_small_images_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.image_quality(np.zeros((2, 16, 16, 1)), np.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.image_quality(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 8, 1)))


def test_the_psnr_loss_is_minus_each_images_psnr_and_weighs_images_equally():
    clean = np.zeros((2, 16, 16, 1), dtype=np.float32)
    output = clean + np.array([0.1, 0.01], dtype=np.float32).reshape(2, 1, 1, 1)  # 20 and 40 dB
    per_image = keras.ops.convert_to_numpy(training.psnr_loss(clean, output))
    np.testing.assert_allclose(per_image, [-20.0, -40.0], rtol=1e-5)
    # Halving the small error counts as much as halving the large one (MSE: 100 times less).
    for image in (0, 1):
        better = output.copy()
        better[image] /= 2
        gain = per_image - keras.ops.convert_to_numpy(training.psnr_loss(clean, better))
        assert gain[image] == pytest.approx(20 * np.log10(2), rel=1e-4)


def test_a_model_compiled_with_psnr_saves_and_loads(tmp_path):
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    model.compile(optimizer="adam", loss=training.psnr_loss, metrics=[training.psnr])
    images = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    model.fit(images, images, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(images, images, verbose=0, return_dict=True)["psnr"] == pytest.approx(
        model.evaluate(images, images, verbose=0, return_dict=True)["psnr"], rel=1e-5)


@pytest.mark.parametrize("shape", [(28, 28, 1), (40, 53, 3)])
def test_the_scores_psnr_is_tf_image_psnr_and_the_keras_metric(shape):
    """image_quality's PSNR (NumPy) is TensorFlow's and the one Keras reports (training.psnr)."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    clean = rng.random((4, *shape), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    expected = tf.image.psnr(clean, noisy, max_val=1.0).numpy()
    keras_metric = keras.ops.convert_to_numpy(training.psnr(clean, noisy))
    np.testing.assert_allclose(keras_metric, expected, rtol=1e-5)
    each = [metrics.image_quality(a[np.newaxis], b[np.newaxis])["psnr"] for a, b in zip(clean, noisy)]
    np.testing.assert_allclose(each, expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(28, 28, 1), (40, 53, 3)])
def test_ssim_is_what_tf_image_ssim_computes(shape):
    """scikit-image's SSIM, in the form tf.image.ssim computes (metrics.ssim's docstring)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    clean = rng.random((4, *shape), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1).astype(np.float32)
    expected = tf.image.ssim(clean, noisy, max_val=1.0).numpy()
    np.testing.assert_allclose([metrics.ssim(a, b) for a, b in zip(clean, noisy)], expected,
                               atol=1e-5)


def test_class_distances_tell_alike_codes_of_one_class_from_others():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4)
    codes = labels[:, None] * 5.0 + rng.normal(0, 0.1, (12, 2))  # three tight groups, 5 apart
    distances = metrics.class_distances(codes, labels)
    table = np.array(distances["table"])
    assert distances["classes"] == [0, 1, 2] and table.shape == (3, 3)
    assert np.allclose(table, table.T)
    assert table[0, 1] == pytest.approx(5 * np.sqrt(2), rel=0.05)  # (0,0) to (5,5)
    assert table[0, 0] < 0.3 and distances["same_class"] < 0.3 < 5 < distances["other_class"]
    alike = metrics.class_distances(rng.normal(size=(40, 4)), np.arange(40) % 2)
    assert alike["same_class"] == pytest.approx(alike["other_class"], rel=0.15)  # no classes
