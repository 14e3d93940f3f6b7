"""Training a denoiser without clean pictures: Noise2Noise and Neighbor2Neighbor.

A denoiser usually learns from pairs (a noisy picture, its clean original). Where no
clean picture exists (a camera's own photos), two ideas still give it something to aim at:

- Noise2Noise (Lehtinen et al., 2018): answer with *another noisy copy* of the same
  picture. The second copy's noise is independent of the first's and averages to zero, so
  the answer that makes the mean squared error smallest is still the clean picture: the
  loss never gets near 0 (no model can predict the second copy's noise), but what it
  learns is the clean picture. Train with the mean squared error: its best answer is the
  mean. (Clipped noise does not average to zero near black and white: use unclipped.)
- Neighbor2Neighbor (Huang et al., 2021): one noisy picture is enough. From each 2x2 cell
  of pixels draw two that share an edge: two half-size pictures, whose pixels are
  neighbours, with independent noise. The model denoises the first half and
  aims at the second, as in Noise2Noise. The two halves are not quite the same picture
  (each pixel is shifted from its neighbour), so a second term, the regulariser, keeps the
  model's answer on the halves consistent with its answer on the whole picture.

`NoisyBatches` (training.py) makes the pairs; this module makes the masks that pick the
pixels, the model that trains a denoiser on neighbour pairs, and its loss.
"""

import math

import keras
import numpy as np
from keras import ops

# What a model can learn to answer in place of the clean picture: another noisy copy of
# it (Noise2Noise), or, from one noisy picture, its neighbour pixels (Neighbor2Neighbor).
NOISY = "noisy"
NEIGHBOURS = "neighbours"
# Each target and what it is, for --help.
TARGETS = {
    NOISY: "another noisy copy of it (Noise2Noise: use --loss mse and unclipped noise, whose "
           "mean is the clean picture)",
    NEIGHBOURS: "from one noisy copy of each training picture made once, its neighbour pixels "
                "(Neighbor2Neighbor; photos, one device)",
}


def target_help():
    """What --target takes, in words: each target and what it is."""
    return "; ".join(f"{name}: {what}" for name, what in TARGETS.items())


def check_target(target, model, digits, any_size, several_devices):
    """ValueError unless `target` can train here. Neighbour pairs halve the training
    crops, and train the model through another model (`neighbour_trainer`): photos, a
    model of any size, alone, on one device."""
    if target not in TARGETS:
        raise ValueError(f"choose one of {', '.join(TARGETS)}, not {target}")
    if target != NEIGHBOURS:
        return
    if digits:
        raise ValueError("neighbours halve each picture, and the halves of a 28x28 digit "
                         "(14x14) do not pass the U-Nets' two poolings: train on photos")
    if not any_size:
        raise ValueError(f"neighbours train a model on half-size pictures, and {model} "
                         "takes one size only: choose another")
    if several_devices:
        raise ValueError("neighbours train on one device: leave out --distribute")


# The weight of Neighbor2Neighbor's regulariser (the paper's gamma), by default;
# train_noisy_targets.py's --regulariser-weight sets another (0: none). It stays the same
# all through training here, where the paper's own code raises it from 0 to 2 over the
# epochs: a simplification of ours.
REGULARISER_WEIGHT = 1.0
# The weight of the runs recorded before it was a setting (their metrics.json and
# arguments.json do not name it): it was fixed at 1 then, whatever the default is now.
REGULARISER_WEIGHT_BEFORE_THE_SETTING = 1.0


# The ordered pairs of pixels of a 2x2 cell (0 1 / 2 3) that share an edge, as the paper
# draws them: side by side or one above the other, never diagonal, which would be further
# apart.
NEIGHBOUR_PAIRS = np.array([(0, 1), (1, 0), (2, 3), (3, 2), (0, 2), (2, 0), (1, 3), (3, 1)])


def neighbour_masks(count, height, width, rng):
    """Two one-hot masks (count, height / 2, width / 2, 4): for each 2x2 cell of each of
    `count` pictures, two pixels of the cell's 4 that share an edge, drawn from `rng`."""
    pairs = NEIGHBOUR_PAIRS[rng.integers(len(NEIGHBOUR_PAIRS), size=(count, height // 2,
                                                                     width // 2))]
    one_hot = np.eye(4, dtype="float32")
    return one_hot[pairs[..., 0]], one_hot[pairs[..., 1]]


def subsample(images, mask):
    """The half-size picture of the pixels `mask` picks, one per 2x2 cell of `images`
    (N, H, W, C); H and W must be even. Works on NumPy arrays and Keras tensors alike."""
    _, height, width, channels = images.shape
    cells = ops.reshape(images, (-1, height // 2, 2, width // 2, 2, channels))
    cells = ops.reshape(ops.transpose(cells, (0, 1, 3, 2, 4, 5)),
                        (-1, height // 2, width // 2, 4, channels))
    return ops.sum(cells * ops.expand_dims(mask, -1), axis=3)


def neighbour_pairs(noisy, rng):
    """Neighbor2Neighbor's training pair from noisy pictures alone: the inputs of
    `neighbour_trainer` (the pictures and the two masks), and the second half, its target."""
    first, second = neighbour_masks(len(noisy), noisy.shape[1], noisy.shape[2], rng)
    return (noisy, first, second), ops.convert_to_numpy(subsample(noisy, second))


def neighbour_trainer(denoiser, shape):
    """A model that trains `denoiser` on neighbour pairs of noisy pictures of `shape`
    (height, width, channels): its inputs, the noisy pictures and the two masks; its
    output, the denoised first half, and beside it (channels after channels) the gap
    between the halves of the denoiser's answer on the whole picture. Training it
    trains `denoiser`, whose layers it shares; only `denoiser` is saved."""
    height, width, channels = shape
    noisy = keras.Input(shape, name="noisy")
    first_mask = keras.Input((height // 2, width // 2, 4), name="first_mask")
    second_mask = keras.Input((height // 2, width // 2, 4), name="second_mask")
    denoised_first_half = denoiser(subsample(noisy, first_mask))
    whole = ops.stop_gradient(denoiser(noisy))  # the regulariser's fixed reference
    shift = subsample(whole, first_mask) - subsample(whole, second_mask)
    return keras.Model([noisy, first_mask, second_mask],
                       ops.concatenate([denoised_first_half, shift], axis=-1))


def check_regulariser_weight(weight, target):
    """ValueError unless `weight` is a finite number >= 0, and, where it is not the
    default, the target is neighbours: the only loss that has the regulariser."""
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"must be a finite number >= 0, not {weight}")
    if weight != REGULARISER_WEIGHT and target != NEIGHBOURS:
        raise ValueError(f"only {NEIGHBOURS} have a regulariser: leave it out with --target "
                         f"{target}")


def neighbour_loss(regulariser_weight=REGULARISER_WEIGHT):
    """Neighbor2Neighbor's loss, as a function of (second half, trainee's outputs): the
    squared gap between the denoised first half and the noisy second half (Noise2Noise's
    loss), plus `regulariser_weight` times the squared difference between that gap and the
    one the denoiser's answer on the whole picture has between its halves (which would be
    the same, were the halves one picture). With a weight of 0, the first term alone."""
    def neighbour_loss(second_half, outputs):
        channels = second_half.shape[-1]
        denoised_first_half, shift = outputs[..., :channels], outputs[..., channels:]
        gap = denoised_first_half - second_half
        return (ops.mean(ops.square(gap), axis=(1, 2, 3))
                + regulariser_weight * ops.mean(ops.square(gap - shift), axis=(1, 2, 3)))
    return neighbour_loss


class ScoreTheDenoiser(keras.callbacks.Callback):
    """After each epoch, score `denoiser`'s answers to the noisy validation images against the
    clean ones, as `fit`'s validation does for a model trained on clean targets: val_loss
    and val_psnr, for the history. Where the model that trains is not the denoiser
    (neighbour pairs), `fit` cannot."""

    def __init__(self, denoiser, test_inputs, clean, batch_size):
        super().__init__()
        self.denoiser, self.test_inputs, self.clean = denoiser, test_inputs, clean
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        scores = self.denoiser.evaluate(self.test_inputs, self.clean, verbose=0,
                                        batch_size=self.batch_size, return_dict=True)
        logs["val_loss"], logs["val_psnr"] = scores["loss"], scores["psnr"]
