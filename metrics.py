"""How close is a denoised image to the clean one? PSNR and SSIM, for pixels in [0, 1].

PSNR (peak signal-to-noise ratio) is 10 * log10(peak^2 / MSE) in decibels, with peak 1.0
for images in [0, 1]: +3 dB halves the squared error. SSIM (structural similarity)
compares local means, contrasts and correlations, and is closer to what an eye notices;
1.0 means identical.

`psnr` is written with keras.ops so that Keras can report it after every epoch of
training (Keras has no PSNR metric); the final scores use TensorFlow's tested
implementations, tf.image.psnr and tf.image.ssim.
"""

import math

import keras
import numpy as np
import tensorflow as tf

# A floor on the mean squared error, so that a perfect image scores 100 dB, not infinity.
MIN_MSE = 1e-10
# tf.image.ssim compares 11x11 windows, so images must be at least that large.
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


def image_quality(clean, images, batch_size=500):
    """Mean PSNR and SSIM of `images` against `clean` (float arrays in [0, 1], NHWC).

    Works batch by batch so that memory stays small for large test sets.
    """
    if clean.shape != images.shape:
        raise ValueError(f"shapes differ: clean {clean.shape}, images {images.shape}")
    if min(clean.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                         f"not {clean.shape[1]}x{clean.shape[2]}")
    psnr_values, ssim_values = [], []
    for start in range(0, len(clean), batch_size):
        a = tf.convert_to_tensor(clean[start : start + batch_size], tf.float32)
        b = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
        psnr_values.append(tf.minimum(tf.image.psnr(a, b, max_val=1.0), 100.0).numpy())
        ssim_values.append(tf.image.ssim(a, b, max_val=1.0).numpy())
    return {
        "psnr": float(np.mean(np.concatenate(psnr_values))),
        "ssim": float(np.mean(np.concatenate(ssim_values))),
    }
