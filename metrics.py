"""How close is a denoised image to the clean one? PSNR and SSIM, for pixels in [0, 1].

PSNR (peak signal-to-noise ratio) is 10 * log10(peak^2 / MSE) in decibels, with peak 1.0
for images in [0, 1]: +3 dB halves the squared error. SSIM (structural similarity)
compares local means, contrasts and correlations, and is closer to what an eye notices;
1.0 means identical.

The scores here are NumPy and scikit-image's: they score the outputs of any model, also
one run without Keras (denoise.py with an ONNX model). The PSNR that Keras reports after
every epoch of training, and the loss that aims at the score, are written with keras.ops
in training.py.
"""

import numpy as np
from skimage.metrics import structural_similarity

import noise

# A floor on the mean squared error, so that a perfect image scores 100 dB, not infinity.
MIN_MSE = 1e-10
# SSIM compares 11x11 windows, so images must be at least that large.
SSIM_WINDOW = 11


def image_quality(clean, images):
    """Mean PSNR and SSIM of `images` against `clean`, pixels in [0, 1].

    Both are arrays (N, H, W, C), or lists of (H, W, C) arrays whose sizes may differ
    (BSD68 mixes portrait and landscape photos). Each image is scored on its own, and the
    scores are averaged, so that every image counts the same however large it is. PSNR is
    written out (the formula above, in float64), capped at 100 dB by MIN_MSE.
    """
    if len(clean) != len(images):
        raise ValueError(f"{len(clean)} clean images but {len(images)} to score")
    psnr_values, ssim_values = [], []
    for original, image in zip(clean, images):
        if original.shape != image.shape:
            raise ValueError(f"shapes differ: clean {original.shape}, image {image.shape}")
        if min(original.shape[:2]) < SSIM_WINDOW:
            raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} "
                             f"pixels, not {original.shape[0]}x{original.shape[1]}")
        psnr_values.append(picture_psnr(original, image))
        ssim_values.append(ssim(original, image))
    return {"psnr": float(np.mean(psnr_values)), "ssim": float(np.mean(ssim_values))}


def psnr(clean, images):
    """The mean PSNR of `images` against `clean`, as `image_quality` gives it, without the
    SSIM (the slower of the two): for a line to beat, such as the noisy validation images'."""
    if len(clean) != len(images):
        raise ValueError(f"{len(clean)} clean images but {len(images)} to score")
    return float(np.mean([picture_psnr(original, image)
                          for original, image in zip(clean, images)]))


def picture_psnr(clean, image):
    """The PSNR of one picture against its clean original (the formula above, in float64),
    capped at 100 dB by MIN_MSE."""
    squared_error = np.mean(np.square(np.asarray(image, np.float64) - clean))
    with np.errstate(divide="ignore"):  # an infinite error (a model gone wrong): -inf dB
        return 10 * np.log10(1.0 / max(squared_error, MIN_MSE))


def ssim(clean, image):
    """The SSIM of one (H, W, C) picture against its clean original: Wang et al.'s (2004)
    Gaussian-weighted form, as tf.image.ssim computes it (an 11x11 window of sigma 1.5,
    windows inside the picture only), by scikit-image, which a CPU runs many times faster
    on photos; the two agree to within 1e-5."""
    return structural_similarity(np.asarray(clean, np.float32), np.asarray(image, np.float32),
                                 data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1)


def blind_scores(model, clean, kind, level):
    """For a model trained on a range of levels (a blind one), {"levels": its scores at
    levels across the range (`score_at_levels`)}; for one trained at one level, {}."""
    if not noise.is_range(level):
        return {}
    return {"levels": score_at_levels(model, clean, kind, noise.levels_to_score(level))}


def score_at_levels(model, clean, kind, levels):
    """How a model trained on a range of noise levels does at each of `levels` (told
    each level, if it takes it):
    for each, the PSNR and SSIM of the noisy input and of the model's output, on a fixed
    noisy copy of the clean test images made at that level. Prints a line per level."""
    scores = []
    for level in levels:
        noisy = noise.fixed_noisy_copy(clean, kind, level)
        told = noise.level_told(kind, level, clean, noisy)
        inputs = noise.model_inputs(noisy, told, noise.takes_noise_level(model))
        before = image_quality(clean, noisy)
        after = image_quality(clean, model.predict(inputs, batch_size=256, verbose=0))
        scores.append({"noise_level": level, "noisy_psnr": before["psnr"],
                       "noisy_ssim": before["ssim"], "psnr": after["psnr"], "ssim": after["ssim"]})
        print(f"  at {kind} {level:g}: noisy {before['psnr']:.2f} dB -> denoised "
              f"{after['psnr']:.2f} dB")
    return scores


def class_distances(codes, labels):
    """How alike the codes of one class are, against those of other classes: a 10 x 10 table
    (one row and column per label) of the mean Euclidean distance between the codes of
    class i and those of class j, each code against every other (a code is not paired with
    itself), and the mean over all pairs of one class and over all pairs of two.

    Measured, not eyeballed: "are the codes of one class more alike?" is answered by
    same_class < other_class. `codes` is (N, length); keep N to a few thousand (N x N
    distances are made).
    """
    codes = np.asarray(codes, np.float64).reshape(len(codes), -1)
    labels = np.asarray(labels)
    squared = (codes ** 2).sum(axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * codes @ codes.T, 0))
    classes = np.unique(labels)
    table = np.zeros((len(classes), len(classes)))
    for row, first in enumerate(classes):
        for column, second in enumerate(classes):
            block = distances[np.ix_(labels == first, labels == second)]
            if first == second:  # leave out each code's distance to itself
                count = block.shape[0] * (block.shape[0] - 1)
                table[row, column] = block.sum() / count if count else np.nan
            else:
                table[row, column] = block.mean()
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    other = labels[:, None] != labels[None, :]
    return {"classes": classes.tolist(), "table": table.tolist(),  # None: no such pair
            "same_class": float(distances[same].mean()) if same.any() else None,
            "other_class": float(distances[other].mean()) if other.any() else None}
