# %% active="py"
"""
Title: Denoising digits with a dense autoencoder
Description: Train a fully connected autoencoder to remove noise from MNIST, then score it.

What you will learn: how a dense autoencoder squeezes each image through a narrow code
and widens it back, and why that removes noise (noise is hard to squeeze through a few
numbers, digits are not); how to train it with `compile` and `fit`, score it with PSNR
and SSIM, and look at its codes. A dense model sees each 28x28 image as a flat list of
784 numbers: it knows nothing of which pixels are neighbours, one reason (of several:
docs/dense.md) why train_conv.py's U-Net scores higher.

How to run it:
  python train_dense.py                                   # the deep model on MNIST, noise 0.2
  python train_dense.py --help                            # every knob, and every preset
  python train_dense.py --model shallow32                 # a code of 32 (every run saves codes.png)
  python train_dense.py --model noise-layer --dataset fashion_mnist --noise-level 2
                              # noise twice the pixel range (the write-up also tried 6)
Or as a notebook, one cell at a time (the knobs cell is tagged for papermill):
  jupytext --to ipynb --set-kernel python3 train_dense.py

How this file is laid out: as train_conv.py, a Jupytext "percent" script that runs from
top to bottom, cell by cell, and so is not imported (trying stops with an ImportError,
before any work). The default model is built in this file; the other presets live in
dense_models.py, and what keeps long runs safe in machinery/. Each term is explained
where it first appears, and in the glossary (docs/glossary.md).

Presets (--model), from the write-ups this project reproduces
(docs/models.md names the write-ups):
  deep         the deep dense denoiser, the default: 784-500-300-100-300-500-784, ReLU,
               sigmoid, MSE
  shallow32    the tiny autoencoders: 784-32-784, binary cross-entropy
  shallow64    codes and resize-convolution: 784-64-784, binary cross-entropy
  noise-layer  the noise-layer autoencoder: the noise is a layer inside the model (stddev =
               --noise-level), active only while training; a code (its "latent") of 256
               numbers with LeakyReLU, binary cross-entropy
"""

# %% [markdown]
# ## Setup
#
# `tensorflow_logs` comes first: it keeps TensorFlow's harmless start-up lines off the
# terminal. Then Keras, and this project's modules, one per idea: `data` loads
# pictures, `noise` corrupts them, `dense_models` holds the other presets, `training` feeds
# them fresh noise and holds the PSNR loss, `metrics` scores them, `plots` draws them,
# `settings` reads the knobs and flags; `runs` and `distribute` are the machinery.

# %%
try:  # the project's modules sit beside this file, and Python looks for them from here
    from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)
except ModuleNotFoundError:
    raise SystemExit("error: run this lesson from the project's folder, where train_dense.py is")

import os

import keras
from keras import layers

import data
import dense_models
import metrics
import noise
import plots
import settings
import training
from machinery import distribute, runs

# %% [markdown]
# ## The knobs
#
# Every setting of the run, in one place. From the terminal, a flag of the same name
# overrides each (`--batch-size 32` for `batch_size`; `--noise` for `noise_kind`); in a
# notebook, edit them here, or let papermill (a tool that runs a notebook from the
# command line) inject new values (`papermill ... -p epochs 1`). A preset is a model
# with its recipe (loss, epochs, batch size, noise); None means "the preset's own":
# `settings.start` prints what each None became, and `python train_dense.py --help` lists
# every preset's. The words the knobs use (batch, epoch, loss, Adam, seed) are
# explained where they act below, and in the glossary.

# %% tags=["parameters"]
# What to learn from
model = "deep"  # the preset to train: see the list above, or --help
dataset = "mnist"  # mnist or fashion_mnist
train_limit = None  # use the first N training images only (None: all 60,000)
test_limit = None  # score on the first N test images only (None: all 10,000)
validation_split = 0.1  # hold out the last 10% of the training images to validate on
data_dir = None  # where the datasets are (None: $DENOISE_DATA_DIR, or download them once)
# The noise it learns to remove
noise_kind = None  # gaussian, gaussian-unclipped, poisson, salt-pepper, camera (flag: --noise)
noise_level = None  # how strong (gaussian: 0.2); a range "0.05:0.5" trains one blind model
fixed_noise = False  # True: one noisy copy of each training image, drawn once (keras.io's way)
# How it learns
loss = None  # mse, bce, or psnr (minus each image's PSNR)
epochs = None  # passes over the training images (deep: 10)
batch_size = None  # images per training step (deep: 128)
learning_rate = 1e-3  # Adam's starting step size; it falls along a cosine
seed = 0  # seeds the weights, the batch order and the training noise
# Where it runs, and what it writes
out = None  # the run's folder (None: a new runs/<model>-<dataset>)
devices = None  # None: one device; "GPU:0,GPU:1": a copy on each (flag: --distribute)
tensorboard = False  # also write logs for TensorBoard, TensorFlow's live charts
quiet = False  # print no progress, only the final scores
show = False  # also open the figures in windows at the end

# %% [markdown]
# The knobs above, then the command line's flags, make the run's settings, `args`
# (`args.epochs` is the knob `epochs`, or `--epochs` if given). A bad value stops here
# with a one-line usage error, before any work is done. `settings.start` fills each None
# from the preset, prints the settings and the run's folder, makes that folder (or
# finds the one `--resume` continues) and, from then on, turns Ctrl-C into a clean
# stop that `--resume` can continue. Then one seed, the number every random draw starts
# from, fixes them all: on
# the same machine and backend, the same seed gives the same weights and scores.

# %%
args = settings.start(__doc__, dense_models.MODELS, knobs=globals())
keras.utils.set_random_seed(args.seed)  # Python's, NumPy's and the backend's random numbers
plots.prepare(args.show)  # figures drawn off-screen, unless --show or in a notebook

# %% [markdown]
# ## 1. Load clean images
#
# Pixels from 0 (black) to 1 (white), shaped (N, 28, 28, 1): the same arrays the
# convolutional models eat. Each dense model flattens them to 784 numbers itself.
# As in train_conv.py, three sets: the model learns from the training images; the
# last 10% of them (`validation_split`) are held out as validation images, scored
# after every epoch and never trained on, to choose settings by; the test images are
# scored once, at the end, and nothing is chosen by their score.

# %%
# Each set comes with labels (which digit): a denoiser does not need them (`_`), but the
# test labels (`y_test`) let step 6 ask whether the codes of one digit are alike.
(x_train, _), (x_test, y_test) = data.load_dataset(args.dataset, args.data_dir,
                                                   args.train_limit, args.test_limit)
x_train, x_val = data.hold_out(x_train, args.validation_split)
print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
      f"of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them, and look
#
# A denoiser learns from pairs: a noisy picture in, its clean original as the answer.
# The training batches get fresh noise every epoch, so the model never sees the same
# noisy copy twice (`training.NoisyBatches`, from the seed, the epoch and the batch;
# `fixed_noise` draws one copy of each image once instead, as keras.io's example does).
# The `noise-layer` model is the exception: it gets clean batches and corrupts them
# itself, with a noise layer that acts only while training (docs/noise-layer.md):
# `dense_models.noise_of_batches` says which. The validation and test images get one
# fixed noisy copy each, each set with a fixed seed of its own (not the `seed` knob):
# every model is scored on exactly the same noisy images.
#
# PSNR says how far a picture is from its clean original: MSE is the mean of the
# squared pixel differences, and PSNR = 10 * log10(1 / MSE), in decibels (dB), for
# pixels from 0 to 1; higher is better. SSIM compares local brightness, contrast and
# structure: 1 means identical (docs/glossary.md). noisy.png, in the run's folder,
# shows the first ten test digits and their noisy copies.

# %%
train_batches = training.NoisyBatches(x_train,
                                      dense_models.noise_of_batches(args.model, args.noise_kind),
                                      args.noise_level, args.batch_size, seed=args.seed,
                                      fixed_noise=args.fixed_noise)
x_val_noisy = noise.fixed_noisy_copy(x_val, args.noise_kind, args.noise_level,
                                   seed=noise.VALIDATION_NOISE_SEED)
x_test_noisy = noise.fixed_noisy_copy(x_test, args.noise_kind, args.noise_level)
before = metrics.image_quality(x_test, x_test_noisy)
print(f"noisy test images: PSNR {before['psnr']:.2f} dB, SSIM {before['ssim']:.3f}")
plots.save_rows(os.path.join(args.out, "noisy.png"), x_test, {"noisy": x_test_noisy})

# %% [markdown]
# ## 3. Build the model, and say how it learns
#
# The default, `deep`, is made of dense (fully connected) layers. `Flatten` lays the
# 28x28 picture out as 784 numbers. A `Dense(500)` layer computes 500 numbers, each a
# weighted sum of all 784 inputs plus a bias, every weight learned; ReLU then turns
# the negative sums into 0 (without such a bend, stacked layers would add up to a
# single one). The layers narrow the picture down through 500, 300 and 100 numbers and
# widen it back: the 100-number code is the bottleneck that the noise cannot pass.
# The last `Dense(784)` ends in a sigmoid, which squeezes any number into (0, 1), the
# range of a pixel, and `Reshape` makes it a 28x28 picture again. The summary below
# lists every layer, the shape of its output (None: any number of images) and how
# many weights it learns (784 x 500 weights and 500 biases for the first Dense).
# `--model` picks another preset instead, built by dense_models.py (where `deep` is a
# preset too, for the tools and the tests).

# %%
def build_deep(image_shape):
    """The deep dense denoiser, 784-500-300-100-300-500-784, for images of `image_shape`."""
    inputs = keras.Input(shape=image_shape)
    x = layers.Flatten()(inputs)  # 28x28x1 -> 784 numbers
    x = layers.Dense(500, activation="relu")(x)
    x = layers.Dense(300, activation="relu")(x)
    x = layers.Dense(100, activation="relu", name="code")(x)  # the bottleneck
    x = layers.Dense(300, activation="relu")(x)
    x = layers.Dense(500, activation="relu")(x)
    x = layers.Dense(784, activation="sigmoid")(x)  # back to 784 numbers in (0, 1)
    outputs = layers.Reshape(image_shape)(x)  # -> 28x28x1
    return keras.Model(inputs, outputs, name="deep")

# %% [markdown]
# `compile` says how it learns. The loss is the number training makes smaller: for
# `deep`, the mean squared error (MSE) between output and clean picture; the shallow
# models use binary cross-entropy (see the glossary). The optimizer, Adam, moves every
# weight a small step downhill on the loss after each batch (against its gradient, the
# slope of the loss along that weight). The learning rate sets
# the size of those steps: it starts at `learning_rate` and falls along a cosine curve
# to 5% of it by the end. PSNR is also reported after every epoch. With
# `--distribute`, `distribute.scope` puts a copy of the model on each device; without
# it, it does nothing.

# %%
with distribute.scope(args.devices):
    if args.model == "deep":
        autoencoder = build_deep(x_train.shape[1:])
    else:  # another preset, from dense_models.py
        autoencoder = dense_models.MODELS[args.model].build(x_train.shape[1:], args.noise_level)
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule),
                        loss=training.LOSSES[args.loss], metrics=[training.psnr])
if not args.quiet:
    autoencoder.summary(line_length=100)

# %% [markdown]
# ## 4. Train it
#
# An epoch is one pass over every training image; a batch is the few images of one
# training step. After each epoch, `fit` scores the fixed noisy validation images
# (`validation_data`), which it never trains on: a model that only remembered its
# training pictures would score badly here. First the untrained model's score,
# the start of the curve. The callbacks are what Keras calls at each epoch and batch,
# each commented where it is listed. With `--distribute`, `distribute.split_evenly`
# hands `fit` this process's share of each batch, and `one_device_copy` brings the
# model back onto one device after; on one device, both hand back what they got.

# %%
train_batches, validation = distribute.split_evenly(train_batches, (x_val_noisy, x_val))
untrained = autoencoder.evaluate(*validation, batch_size=args.batch_size, verbose=0,
                                 return_dict=True)
print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
epoch_log = runs.EpochLog(args.out, untrained, quiet=args.quiet)
callbacks = [
    training.DrawEpochNoise(train_batches),  # tells the batches the epoch: its noise
    keras.callbacks.TerminateOnNaN(),  # stop at once if the loss is no number (NaN)
    keras.callbacks.ProgbarLogger(),  # Keras' progress bar (on a terminal; see verbose)
    epoch_log,  # a line per epoch, and the history, kept in epochs.json across a --resume
    runs.Backup(args.out),  # the weights after each epoch: --resume goes on from there
    *runs.tensorboard_logs(args),  # with --tensorboard: its logs in <out>/tensorboard
]
autoencoder.fit(train_batches, epochs=args.epochs, validation_data=validation, shuffle=False,
                callbacks=callbacks, verbose=runs.progress_bar(args.quiet))  # bar or none
print(f"trained for {epoch_log.train_seconds:.0f} s")
autoencoder = distribute.one_device_copy(autoencoder)

# %% [markdown]
# ## 5. Evaluate
#
# `predict` denoises every noisy test image; then PSNR and SSIM against the clean
# originals, after and (from step 2) before; a model trained on a range of levels also
# at levels across it (`metrics.blind_scores`; none otherwise).

# %%
x_test_denoised = autoencoder.predict(x_test_noisy, batch_size=256, verbose=0)
after = metrics.image_quality(x_test, x_test_denoised)
print(f"test PSNR: noisy {before['psnr']:.2f} dB -> denoised {after['psnr']:.2f} dB; "
      f"SSIM: noisy {before['ssim']:.3f} -> denoised {after['ssim']:.3f}")
scores = {"test_images": len(x_test), "noisy_psnr": before["psnr"],
          "noisy_ssim": before["ssim"], **after,
          "noisy_validation_psnr": metrics.psnr(x_val, x_val_noisy),
          **metrics.blind_scores(autoencoder, x_test, args.noise_kind, args.noise_level)}

# %% [markdown]
# ## 6. Show and save
#
# samples.png: ten test images, original, noisy and denoised, each with its PSNR;
# history.png: the losses and the validation PSNR per epoch; codes.png: what the
# model keeps of each noisy image, its code, drawn as a small tile of numbers (the
# model's part up to its code, `dense_models.code_model`, predicts it), and below, for
# the first 2,000 test images, the mean distance between the codes of each pair of
# classes (`metrics.class_distances`): if codes of one digit are alike, the diagonal
# (same digit) is darker than the rest. Both means go into metrics.json too. Then
# `runs.finish` saves model.keras (with `autoencoder.save`) and, last,
# metrics.json, the sign that the run finished.

# %%
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_validation_psnr"])
plots.save_blind_levels(os.path.join(args.out, "levels.png"), scores, args.model,
                        args.noise_kind, args.noise_level)
codes = dense_models.code_model(autoencoder).predict(x_test_noisy[:2000], verbose=0)
code_distances = metrics.class_distances(codes, y_test[:2000])
scores["codes"] = {key: code_distances[key] for key in ("same_class", "other_class")}
plots.save_codes(os.path.join(args.out, "codes.png"), x_test_noisy, codes, x_test_denoised,
                 code_distances)
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train),
            validation_images=len(x_val))
if args.show:
    plots.show_figures()
