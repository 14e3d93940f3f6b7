# %% active="py"
"""
Title: Denoising images with a convolutional autoencoder
Description: Train a small U-Net to take the noise out of handwritten digits, then score it.

What you will learn: how to corrupt clean pictures with noise, so that a network has
pairs to learn from; what a convolutional autoencoder is made of (convolutions, pooling,
upsampling, skip connections), layer by layer; how to train it with Keras' `compile`
and `fit`; how to score it with PSNR and SSIM; and how to look at what it does.

How to run it:
  python train_conv.py                       # the default U-Net on MNIST, noise 0.2
  python train_conv.py --help                # every knob, and every model preset
  python train_conv.py --model small --dataset fashion_mnist --noise-level 0.5
  python train_conv.py --train-limit 2000 --epochs 1    # a quick try
Or as a notebook, one cell at a time (the knobs cell is tagged for papermill; jupytext
and papermill come with requirements-dev.txt):
  jupytext --to ipynb --set-kernel python3 train_conv.py

Why a U-Net: of the digit models at noise 0.2 in docs/results.md it scores highest on the
validation digits (training digits held back to score on, never trained on; one run each),
it trains in about three minutes on 2 CPU cores (docs/results.md), and none of its
parts is hard once named. This script explains each part where it appears; the glossary
(docs/glossary.md) has every term in one place. Other scripts tell other stories the
same way: train_dense.py a dense autoencoder, train_photos.py photos,
train_noisy_targets.py learning without clean pictures; the lessons in docs/ compare them.
"""

# %% [markdown]
# ## Setup
#
# This file is a Jupytext "percent" script: each `# %%` line starts a cell of a notebook,
# and Python also runs it from top to bottom. It is a story to run, not a module to
# import (importing it stops with an ImportError, before any work).
#
# `tensorflow_logs` comes first: it keeps TensorFlow's harmless start-up lines off the
# terminal. Then Keras, the library that builds and trains networks (it runs on an
# engine, TensorFlow by default), and this project's modules, one per idea: `data` loads
# pictures, `noise` corrupts them, `conv_models` holds the other model presets (ready-made
# models, each with its training recipe: the knobs below say more),
# `training` feeds a model fresh noise and holds the PSNR loss, `metrics` scores,
# `plots` draws, `settings` reads the knobs and flags; `runs` and `distribute` are the
# machinery that keeps a long run safe and spreads it over several devices.

# %%
try:  # the project's modules sit beside this file, and Python looks for them from here
    from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)
except ModuleNotFoundError:
    raise SystemExit("error: run this lesson from the project's folder, where train_conv.py is")

import os

import keras
from keras import layers

import conv_models
import data
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
# command line) inject new values (`papermill ... -p epochs 1`).
#
# A preset is a model with its recipe: the layers, and how it trains by default (its
# loss, epochs, batch size and noise). None means "the preset's own" (for the noise
# level: the noise kind's own): `settings.start` below prints what each None became,
# and `python train_conv.py --help` lists every preset's recipe and what each noise
# kind's level means. A few words the knobs use, each explained again where it acts:
# - the weights: the numbers the model learns; it learns by small steps, each on a batch
#   of a few images; an epoch is one pass over all the training images;
# - the loss: the number each step makes smaller: mse, the mean squared difference from
#   the clean image; bce, binary cross-entropy, which scores each pixel as a probability
#   of white; psnr, minus the score itself (the compile step says more); Adam: the rule
#   that takes the steps;
# - a seed: the number that random draws start from; a device: a processor that trains,
#   the CPU, or a GPU (a graphics card);
# - validation images: training images held back, never trained on, that score the model
#   after every epoch (step 1 says why);
# - blind: one model for a range of noise levels, which it must guess from each picture;
# - keras.io: Keras' website; its denoising example trains on one fixed noisy copy of each
#   image.

# %% tags=["parameters"]
# What to learn from
model = "unet-psnr"  # the preset to train: the U-Net built below; --help lists the others
dataset = "mnist"  # mnist (digits) or fashion_mnist (clothes)
train_limit = None  # use the first N training images only (None: all)
test_limit = None  # score on the first N test images only (None: all)
validation_split = 0.1  # hold out the last 10% of the training images to validate on
data_dir = None  # where the datasets are (None: $DENOISE_DATA_DIR, or download them once)
# The noise it learns to remove
noise_kind = None  # gaussian, gaussian-unclipped, poisson, salt-pepper, camera (flag: --noise)
noise_level = None  # how strong (gaussian: 0.2); a range "0.05:0.5" trains one blind model
fixed_noise = False  # True: one noisy copy of each training image, drawn once (keras.io's way)
# How it learns
loss = None  # mse (mean squared error), bce (binary cross-entropy), or psnr
epochs = None  # passes over the training images (unet-psnr: 3)
batch_size = None  # images per training step (unet-psnr: 64)
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
# (`args.epochs` is the knob `epochs`, or `--epochs` if given; `globals()` hands
# `settings.start` the knobs by name, and `__doc__`, the text at the top of this file,
# becomes `--help`). A bad value stops here with a one-line usage error, before any
# work is done. `settings.start` fills each None from the preset, prints the settings
# and the run's folder (runs/unet-psnr-mnist, numbered if taken), makes that folder (or
# finds the one `--resume` continues) and, from then on, turns Ctrl-C into a clean stop
# that `--resume` can continue. Then one seed fixes every random draw: on the same
# machine and backend (the engine under Keras: TensorFlow, JAX or PyTorch), the same
# seed gives the same weights and the same scores. Figures go into files, not windows.

# %%
args = settings.start(__doc__, conv_models.MODELS, knobs=globals())
keras.utils.set_random_seed(args.seed)  # Python's, NumPy's and the backend's random numbers
plots.prepare(args.show)  # figures drawn off-screen, unless --show or in a notebook

# %% [markdown]
# ## 1. Load clean images
#
# A picture is an array of numbers, one per pixel, here from 0 (black) to 1 (white).
# An array of N pictures is shaped (N, height, width, channels): (N, 28, 28, 1) for
# MNIST, 28x28 pixels and 1 channel, as the pictures are grey (a colour photo has 3).
#
# The images fall into three sets, each with one job:
#
# - training images: the model learns from these;
# - validation images: the last `validation_split` of the training images (0.1, a
#   tenth: 6,000 of MNIST's 60,000, leaving 54,000 to train on), held out and never
#   trained on. The model is scored on them after every epoch; when you compare
#   settings (which model, how many epochs), compare these scores. The script itself
#   chooses nothing: it keeps the weights of the last epoch;
# - test images: the dataset's own 10,000 (fewer with `test_limit`), scored once, at
#   the end, to report. Nothing is chosen by their score, so it says how the model does
#   on pictures no choice has seen.

# %%
# Each set comes with labels (which digit), which a denoiser does not need: `_`.
(x_train, _), (x_test, _) = data.load_dataset(args.dataset, args.data_dir,
                                              args.train_limit, args.test_limit)
x_train, x_val = data.hold_out(x_train, args.validation_split)
print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
      f"of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them, and look
#
# A denoiser learns from pairs: a noisy picture in, its clean original as the answer.
# The default noise is Gaussian: each pixel plus a random number from a bell curve
# whose spread (its standard deviation, the noise level) is `noise_level`, 0.2 unless
# you set it, then clipped back to [0, 1].
#
# Training images: fresh noise every time. `training.NoisyBatches` cuts them into
# batches of (noisy, clean) pairs and adds new noise to every batch of every epoch, so
# the model never sees the same noisy copy twice: there is no copy's noise to learn by
# heart. The noise is drawn from (seed, epoch, batch), so a run is repeatable.
#
# Validation and test images: one fixed noisy copy each, from a fixed seed of each set's
# own (noise.VALIDATION_NOISE_SEED and TEST_NOISE_SEED, not the `seed` knob), so every
# model and every run is scored on exactly the same noisy images. Both kinds of image
# get the same corruption, `noise.noise_kind(kind).corrupt`.
#
# Two knobs change the training noise. `fixed_noise` draws one noisy copy of each
# training image once, from the `seed` knob, as keras.io's example does: over this run's
# 3 epochs the two end level; over 30 epochs on 2,000 digits, fresh noise scored 0.20 dB
# higher (three seeds each: docs/results-one-change.md, "Fresh noise or one fixed copy,
# over three seeds"). A range of levels, such as 0.05:0.5, gives each training image its
# own level drawn from it: one model for every level, never told how noisy a picture
# is, a blind model (docs/blind.md).

# %%
x_val_noisy = noise.fixed_noisy_copy(x_val, args.noise_kind, args.noise_level,
                                   seed=noise.VALIDATION_NOISE_SEED)
x_test_noisy = noise.fixed_noisy_copy(x_test, args.noise_kind, args.noise_level)
train_batches = training.NoisyBatches(x_train, args.noise_kind, args.noise_level,
                                      args.batch_size, seed=args.seed,
                                      fixed_noise=args.fixed_noise)

# %% [markdown]
# How noisy is that? PSNR, the peak signal-to-noise ratio, says how far a picture is
# from its clean original: MSE is the mean of the squared pixel differences, and
# PSNR = 10 * log10(1 / MSE), in decibels (dB), for pixels from 0 to 1. Higher is
# better: +10 dB is a tenth of the squared error, +3 dB about half. Noise of level 0.2
# alone would give an MSE of 0.04, 14 dB; the noisy digits score more, because the
# clip to [0, 1] cuts away half of the noise on the black background (below 0) and
# on the white strokes (above 1). SSIM, the structural similarity, compares the local
# brightness, contrast and structure of the two pictures: 1 means identical. Both are
# printed as the mean over the test images. The first ten test digits and their noisy
# copies are drawn in noisy.png, in the run's folder (below this cell, in a notebook).

# %%
before = metrics.image_quality(x_test, x_test_noisy)
print(f"noisy test images: PSNR {before['psnr']:.2f} dB, SSIM {before['ssim']:.3f}")
plots.save_rows(os.path.join(args.out, "noisy.png"), x_test, {"noisy": x_test_noisy})

# %% [markdown]
# ## 3. Build the model
#
# A model (a network) is layers of numbers it learns, its weights. The default,
# `unet-psnr`, is a U-Net: an autoencoder (a network that shrinks a picture into
# smaller maps and grows it back) made of convolutions, with skip connections that
# hand each size straight across. Its layers, for a 28x28 digit, top to bottom:
#
#     28x28: Conv2D(16) Conv2D(16) ........................ skip to the last 28x28 ....
#     14x14:   MaxPooling2D Conv2D(32) Conv2D(32) .... skip to the last 14x14 ....   .
#      7x7:      MaxPooling2D Conv2D(64) Conv2D(64)                            .   .
#     14x14:   UpSampling2D Concatenate(skip) Conv2D(32) Conv2D(32)  <.........    .
#     28x28: UpSampling2D Concatenate(skip) Conv2D(16) Conv2D(16)  <................
#            Conv2D(1, 1x1) ReLU(max_value=1.0): the denoised digit
#
# In Keras, a layer is made, then called on pictures: `layers.MaxPooling2D(2)` makes a
# layer that keeps the largest number of each 2x2 block, and calling it on an array of
# pictures gives pictures half as high and half as wide. Try it on one test digit:

# %%
one_digit = x_test[:1]  # an array of one picture: (1, 28, 28, 1)
smaller = layers.MaxPooling2D(2)(one_digit)
print(f"one digit {one_digit.shape}, pooled {smaller.shape}, "
      f"grown back {layers.UpSampling2D(2)(smaller).shape}")

# %% [markdown]
# Each kind of layer in the drawing:
#
# - A convolution, `Conv2D(16, 3, padding="same", activation="relu")`, slides 16
#   filters over the picture, each a 3x3 grid of learned weights (one per input channel)
#   and a bias: at each pixel it multiplies the 3x3 neighbourhood by its weights, adds
#   them up and the bias, a number that is large where the neighbourhood looks like the
#   filter's pattern. Each filter gives one map (a feature map, or channel);
#   `padding="same"` pads the border with zeros, so each map keeps the picture's size.
# - ReLU, the activation of each convolution, keeps positive numbers and turns
#   negative ones into 0. Without such a bend between them, stacked convolutions would
#   add up to a single one.
# - `MaxPooling2D(2)` shrinks the maps (28, 14, 7), so that the same 3x3 convolutions
#   cover a wider part of the digit; `UpSampling2D(2)` repeats each number into a 2x2
#   block, and the convolutions after it refine the blocks into detail.
# - A skip connection, `Concatenate()`, lays the maps of the shrinking half (the
#   encoder) beside the grown ones of the same size: fine detail need not pass through
#   the smallest maps (docs/unet.md shows what the skips bring).
# - The output: a 1x1 convolution, at each pixel a weighted sum of the 16 channels
#   there, down to the picture's one channel; then `ReLU(max_value=1.0)`, which clips
#   it to [0, 1], the range of a pixel, so that a black background can come out exactly
#   0 (docs/aim-at-the-score.md).
#
# Below, `keras.Input` stands for the pictures to come, each layer is called on the
# previous one's output `x`, and `keras.Model(inputs, outputs)` ties the chain into one
# model. Height and width are None, "any": the model takes a photo of any size whose
# sides divide by 4 (a convolution's weights do not depend on the size).

# %%
def build_unet(channels):
    """The U-Net drawn above, for pictures of any size with `channels` channels."""
    inputs = keras.Input(shape=(None, None, channels))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)  # 28x28
    skip_28 = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(skip_28)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)  # 14x14
    skip_14 = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(skip_14)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)  # 7x7
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Concatenate()([x, skip_14])  # 14x14
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Concatenate()([x, skip_28])  # 28x28
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(channels, 1)(x)  # the output: a weighted sum of the 16 channels
    outputs = layers.ReLU(max_value=1.0)(x)  # clipped to [0, 1]
    return keras.Model(inputs, outputs, name="unet_psnr")

# %% [markdown]
# `compile` says how it learns. The loss is the number training makes smaller: here
# `psnr`, minus each image's PSNR, the very score we report, so it prints as about
# -26 for 26 dB. The optimizer, Adam, moves every weight a small step downhill on the
# loss after each batch (against its gradient, the slope of the loss along that
# weight), the step of each weight scaled down where its recent gradients were large.
# The learning rate sets the size of those steps: it starts at `learning_rate` and
# falls along a cosine curve to 5% of it by the end: large steps first, fine ones last.
# PSNR is also reported after every epoch. `--model` builds another preset instead,
# from conv_models.py (which builds this U-Net too, so that the tools and tests can
# import it; this script cannot be imported). With `--distribute`, `distribute.scope`
# puts a copy of the model on each device (docs/long-runs.md); without, the `with`
# block changes nothing. The summary lists every layer: its kind, "Output Shape"
# (images, height, width, channels; None where any number fits), "Param #", the
# weights it learns (the first convolution: 3x3x1 weights and 1 bias for each of 16
# filters, 160), and "Connected to": two layers at each Concatenate, one the skip.

# %%
with distribute.scope(args.devices):
    if args.model == "unet-psnr":
        autoencoder = build_unet(channels=x_test.shape[-1])
    else:  # another preset, from conv_models.py
        autoencoder = conv_models.MODELS[args.model].build(conv_models.input_shape(
            args.model, x_test.shape[1:]))
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule),
                        loss=training.LOSSES[args.loss], metrics=[training.psnr])
if not args.quiet:
    autoencoder.summary(line_length=100)

# %% [markdown]
# ## 4. Train it
#
# Why will the output come out clean? Not because noise cannot get through: the skips
# pass every pixel across, noise and all. It is what the weights learn: trained on
# thousands of (noisy, clean) pairs, the network learns to answer with the clean
# picture, and the smaller maps help it see which dots are stroke and which are noise.
#
# An epoch is one pass over every training image; a batch is the few images of one
# training step (`batch_size`): the model denoises them, the loss says how far off it
# was, and Adam moves every weight. After each epoch, `fit` scores the fixed noisy
# validation images (`validation_data`), pictures it never trains on: a model that only
# remembered its training pictures would score well on them and badly here.
# First `evaluate` scores the untrained model: epoch 0 of the curves in history.png.
# (`*validation` passes the pair's two arrays, noisy and clean, as two arguments.)
#
# The callbacks are what Keras calls at the start and end of each epoch and batch,
# each commented where it is listed. `shuffle=False`: the batches shuffle themselves,
# reproducibly per epoch. `distribute.split_evenly` hands `fit` this machine's share of
# each batch when `--distribute` splits it between devices, and `one_device_copy` brings
# the model back onto one device after; on one device, both hand back what they got.

# %%
train_batches, validation = distribute.split_evenly(train_batches, (x_val_noisy, x_val))
untrained = autoencoder.evaluate(*validation, batch_size=args.batch_size, verbose=0,
                                 return_dict=True)
print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
epoch_log = runs.EpochLog(args.out, untrained, quiet=args.quiet)
callbacks = [
    training.DrawEpochNoise(train_batches),  # tells the batches the epoch: its noise
    keras.callbacks.TerminateOnNaN(),  # stop at once if the loss is no number (NaN)
    keras.callbacks.ProgbarLogger(),  # the progress bar, listed to end before epoch_log prints
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
# `predict` denoises every noisy test image, 256 at a time (no weights change here, so
# larger batches than in training are fine); then PSNR and SSIM against the clean
# originals, after and (from step 2) before. `scores` gathers every number for
# metrics.json (`**after` adds the dictionary's entries). A model trained on a range of
# levels is also scored at levels across its range (`metrics.blind_scores`; none otherwise).

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
# samples.png: ten test images, original, noisy (with its PSNR) and denoised (with
# its PSNR). history.png: the losses and the validation PSNR per epoch, and the noisy
# validation images' PSNR as the line to beat. For a model trained on a
# range of levels, levels.png: its PSNR across the range. Then `runs.finish` saves the
# model itself (model.keras, with `autoencoder.save`; `denoise.py` uses it on your own
# pictures) and, last, metrics.json: every score and setting, and the sign that the run
# finished.

# %%
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_validation_psnr"])
plots.save_blind_levels(os.path.join(args.out, "levels.png"), scores, args.model,
                        args.noise_kind, args.noise_level)
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train),
            validation_images=len(x_val))
if args.show:
    plots.show_figures()
