"""What `fit` needs besides the model and the pictures, written for Keras: fresh noise
in every batch, and the PSNR as a metric and a loss.

- Fresh noise, so that a model never sees the same noisy copy twice (a fixed noisy copy's
  noise could be learned by heart over many epochs; noise never seen twice cannot), in one
  of two ways:
  - NoisyBatches hands `fit` its batches (it is a keras.utils.PyDataset, Keras' way to
    make batches in Python), and corrupts each one as it is drawn; DrawEpochNoise, a
    callback (code that `fit` calls as each epoch begins), tells it which epoch it is;
  - TrainingGaussianNoise is a layer inside the model that adds noise only while training.
- `psnr`, which Keras reports after every epoch (Keras has no PSNR metric), and
  `psnr_loss`, minus it, for a model that aims at the score itself; both written with
  keras.ops, which run on every backend. LOSSES names what `--loss` can choose.

The noise itself (its kinds and levels) is noise.py's, and the final scores of a trained
model are metrics.py's; both need no Keras (NumPy and scikit-image), so that denoise.py can
run an exported (ONNX) model without it.
"""

import math
import warnings

import keras
import numpy as np

import data
import noise
import noisy_targets
from machinery import runs
from metrics import MIN_MSE


class NoisyBatches(keras.utils.PyDataset):
    """Batches of (noisy, clean) images, with fresh noise and a fresh order every epoch.

    `images` is an array (N, H, W, C), or, with `crop_size`, a list of pictures of any
    sizes, from which each batch cuts random crop_size x crop_size windows.

    Every batch is a function of (seed, epoch, batch index) alone, so a run is
    reproducible and can be resumed at any epoch. With `kind=None` the batches are
    (clean, clean) pairs, for a model that adds its own noise (TrainingGaussianNoise).
    With `tell_level`, each batch also tells each image's noise level (`noise.model_inputs`).
    `target` is what the model learns to answer (noisy_targets.py): "clean", or
    "noisy", another noisy copy of the same image (Noise2Noise); with "neighbours", the
    images are noisy ones already (`noise.corrupt_once`), no noise is added, and each batch
    is a pair of neighbour-pixel halves of each (Neighbor2Neighbor).
    With `flip_rotate`, each clean image is first turned and mirrored one of its 8 ways
    (`noise.orient`), as DnCNN and its successors train: a photo has no up or down.
    With `fixed_noise`, the noise is not fresh: each image of an array gets one noisy copy,
    drawn once (`noise.corrupt_once`), and every epoch pairs it with its clean original, as
    keras.io's example trains; the lessons compare the two.

    Keras calls `on_epoch_end` after every epoch, and once before the first: on the
    TensorFlow backend it reads two batches to learn their shapes, then starts afresh.
    DrawEpochNoise, below, therefore also sets the epoch as each one begins, so that
    a resumed run draws the same noise.
    """

    def __init__(self, images, kind, level, batch_size, seed, crop_size=None, tell_level=False,
                 flip_rotate=False, target="clean", fixed_noise=False, **kwargs):
        super().__init__(**kwargs)
        if kind is not None:
            noise.check_level(kind, level)
        if fixed_noise and (kind is None or crop_size or tell_level or flip_rotate
                            or target != "clean"):
            raise ValueError("fixed_noise makes one noisy copy of each whole image, for a model "
                             "that is not told the level and answers the clean image upright")
        # One noisy copy of each image, drawn once, or None: fresh noise in every batch.
        self.noisy_once = noise.corrupt_once(images, kind, level, seed) if fixed_noise else None
        self.images = images
        self.kind = kind
        self.level = level
        self.batch_size = batch_size
        self.seed = seed
        self.crop_size = crop_size
        self.tell_level = tell_level
        self.flip_rotate = flip_rotate
        self.target = target
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Draw the order of `epoch` (also how a resumed run catches up)."""
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop_size is None:
            clean = self.images[picked]
        else:  # pictures of any size: a fresh random crop of each, every epoch
            clean = np.stack([data.random_crop(self.images[i], self.crop_size, rng) for i in picked])
        if self.noisy_once is not None:  # the same noisy copy of each image every epoch
            return self.noisy_once[picked], clean
        if self.flip_rotate:  # each picture in one of its 8 orientations
            clean = noise.orient(clean, rng.integers(noise.ORIENTATIONS, size=len(clean)))
        if self.target == noisy_targets.NEIGHBOURS:  # noisy pictures: pairs from each alone
            return noisy_targets.neighbour_pairs(clean, rng)
        if self.kind is None:
            return clean, clean
        levels = noise.draw_levels(self.level, len(clean), rng)
        noisy = noise.noise_kind(self.kind).corrupt(clean, levels, rng)
        told = noise.level_told(self.kind, levels, clean, noisy)  # camera noise: its spread
        if self.target == noisy_targets.NOISY:  # Noise2Noise: the answer is another noisy copy
            answer = noise.noise_kind(self.kind).corrupt(clean, levels, rng)
            return noise.model_inputs(noisy, told, self.tell_level), answer
        return noise.model_inputs(noisy, told, self.tell_level), clean

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)


def start_from(model, path, run_folder):
    """Fine-tuning: give the freshly built `model` the weights of the trained model saved in
    `path` (a .keras file of the same preset and input shape: settings checks both), so
    that training goes on from what it has learned; with no path, nothing changes. Only the
    weights come over: the optimizer, and its falling step size, start afresh. A file that
    does not load (damaged, or refused by safe mode) fails the run in one line, before any
    training."""
    if path is None:
        return
    try:
        with warnings.catch_warnings():  # a damaged file's warnings would come before our line
            warnings.simplefilter("ignore")
            trained = keras.saving.load_model(path, compile=False, safe_mode=True)
            model.set_weights(trained.get_weights())
    except Exception as error:  # damaged weights, a layer safe mode refuses, an unknown one
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        runs.give_up(run_folder, f"--start-from {path} does not load into this model "
                                 f"({reason}); start a new run")


class DrawEpochNoise(keras.callbacks.Callback):
    """Give NoisyBatches the noise and order of each epoch as it begins (pass to fit).

    NoisyBatches counts epochs itself, but Keras also reads a few batches before
    training starts; setting the epoch here makes epoch k draw the same noise whether
    the run went straight through or was resumed at epoch k.
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


@keras.saving.register_keras_serializable(package="denoise")
class TrainingGaussianNoise(keras.layers.Layer):
    """Adds N(0, stddev^2) noise while training; lets inputs through unchanged otherwise.

    Keras has a GaussianNoise layer that does this, but it refuses a stddev above 1, and
    the noise-layer autoencoder's write-up trains at stddev 2 and 6. Writing the layer is
    also the lesson: `training` is how a layer behaves differently in `fit` and in
    `predict`. No clipping: the model sees the raw noisy values, as in that write-up.
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not (math.isfinite(stddev) and stddev >= 0):
            raise ValueError(f"stddev must be a finite number >= 0, not {stddev}")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = keras.random.normal(
            keras.ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype, seed=self.seed_generator
        )
        return inputs + noise

    def compute_output_shape(self, input_shape):
        return input_shape

    def save_own_variables(self, store):
        """Save the noise generator's state with the weights (Keras saves only weights),
        so that a run resumed from a backup draws the noise it would have drawn."""
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_state" in store:
            self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package="denoise")
def psnr(y_true, y_pred):
    """PSNR of each image in a batch (peak 1.0): a Keras metric, averaged by Keras.

    Registered, because a saved model.keras names its metrics: loading one needs
    `import training` first (or `keras.models.load_model(path, compile=False)`).
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
