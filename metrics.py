"""How close is a denoised image to the clean one? PSNR and SSIM, for pixels in [0, 1].

PSNR (peak signal-to-noise ratio) is 10 * log10(peak^2 / MSE) in decibels, with peak 1.0
for images in [0, 1]: +3 dB halves the squared error. SSIM (structural similarity)
compares local means, contrasts and correlations, and is closer to what an eye notices;
1.0 means identical.

`psnr` is written with keras.ops so that Keras can report it after every epoch of
training (Keras has no PSNR metric), and `psnr_loss` so that a model can learn on it;
the final scores use tested implementations: TensorFlow's tf.image.psnr, and
scikit-image's SSIM in the form tf.image.ssim computes (`ssim`).
"""

import math

import keras
import numpy as np
import tensorflow as tf
from skimage.metrics import structural_similarity

import noise

# A floor on the mean squared error, so that a perfect image scores 100 dB, not infinity.
MIN_MSE = 1e-10
# SSIM compares 11x11 windows, so images must be at least that large.
SSIM_WINDOW = 11


@keras.saving.register_keras_serializable(package="denoise")
def psnr(y_true, y_pred):
    """PSNR of each image in a batch (peak 1.0): a Keras metric, averaged by Keras.

    Registered, because a saved model.keras names its metrics: loading one needs
    `import metrics` first (or `keras.models.load_model(path, compile=False)`).
    """
    squared_error = keras.ops.square(keras.ops.cast(y_true, y_pred.dtype) - y_pred)
    mse = keras.ops.mean(keras.ops.reshape(squared_error, (keras.ops.shape(y_pred)[0], -1)), axis=1)
    return -10.0 / math.log(10.0) * keras.ops.log(keras.ops.maximum(mse, MIN_MSE))


@keras.saving.register_keras_serializable(package="denoise")
def psnr_loss(y_true, y_pred):
    """Minus the PSNR of each image, in dB: a loss whose best value is the score we report.

    Mean squared error adds up the squared errors of every pixel of a batch, so the
    images with the largest errors dominate each step and an image that is almost right
    hardly counts. We score a model by its mean PSNR per image, a mean of logarithms of
    each image's own error: halving a small error counts as much as halving a large one.
    Training on minus that mean aims at exactly the score (the PSNR loss of HINet,
    Chen et al., 2021). Its value reads directly: -26.0 is 26.0 dB on the training batches.
    """
    return -psnr(y_true, y_pred)


# The losses a training script can name (--loss): psnr is minus each image's PSNR.
LOSSES = {"mse": "mean_squared_error", "bce": "binary_crossentropy", "psnr": psnr_loss}


def image_quality(clean, images, batch_size=500):
    """Mean PSNR and SSIM of `images` against `clean`, pixels in [0, 1].

    Both are arrays (N, H, W, C), or lists of (H, W, C) arrays whose sizes may differ
    (BSD68 mixes portrait and landscape photos). Scored a batch of one size at a time,
    so that memory stays small for large test sets.
    """
    if len(clean) != len(images):
        raise ValueError(f"{len(clean)} clean images but {len(images)} to score")
    psnr_values, ssim_values = [], []
    for batch in same_size_batches(clean, images, batch_size):
        a, b = (tf.convert_to_tensor(np.stack(side), tf.float32) for side in zip(*batch))
        if min(a.shape[1:3]) < SSIM_WINDOW:
            raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} "
                             f"pixels, not {a.shape[1]}x{a.shape[2]}")
        psnr_values.append(tf.minimum(tf.image.psnr(a, b, max_val=1.0), 100.0).numpy())
        ssim_values.append([ssim(x, y) for x, y in batch])
    return {
        "psnr": float(np.mean(np.concatenate(psnr_values))),
        "ssim": float(np.mean(np.concatenate(ssim_values))),
    }


def ssim(clean, image):
    """The SSIM of one (H, W, C) picture against its clean original: Wang et al.'s (2004)
    Gaussian-weighted form, as tf.image.ssim computes it (an 11x11 window of sigma 1.5,
    windows inside the picture only), by scikit-image, which a CPU runs many times faster
    on photos; the two agree to within 1e-5."""
    return structural_similarity(np.asarray(clean, np.float32), np.asarray(image, np.float32),
                                 data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1)


def same_size_batches(clean, images, batch_size):
    """Yield lists of at most `batch_size` (clean, image) pairs, all of one shape."""
    batch = []
    for pair in zip(clean, images):
        if pair[0].shape != pair[1].shape:
            raise ValueError(f"shapes differ: clean {pair[0].shape}, image {pair[1].shape}")
        if batch and (len(batch) == batch_size or pair[0].shape != batch[0][0].shape):
            yield batch
            batch = []
        batch.append(pair)
    if batch:
        yield batch


def score_at_levels(model, clean, kind, levels):
    """How a model trained on a range of noise levels does at each of `levels` (told
    each level, if it takes it):
    for each, the PSNR and SSIM of the noisy input and of the model's output, on a fixed
    noisy copy of the clean test images made at that level. Prints a line per level."""
    scores = []
    for level in levels:
        noisy = noise.noisy_test_images(clean, kind, level)
        inputs = noise.model_inputs(noisy, level, noise.takes_noise_level(model))
        before = image_quality(clean, noisy)
        after = image_quality(clean, model.predict(inputs, batch_size=256, verbose=0))
        scores.append({"noise_level": level, "noisy_psnr": before["psnr"],
                       "noisy_ssim": before["ssim"], "psnr": after["psnr"], "ssim": after["ssim"]})
        print(f"  at {kind} {level:g}: noisy {before['psnr']:.2f} dB -> denoised "
              f"{after['psnr']:.2f} dB")
    return scores
