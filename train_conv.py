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
Or as a notebook, one cell at a time (the knobs cell is tagged for papermill):
  jupytext --to ipynb --set-kernel python3 train_conv.py

Why this script starts with a U-Net: of the digit models in docs/results.md it scores
highest (one run each), it trains in minutes on a laptop CPU (the time of each run is
in the results too), and none of its parts is hard once named. So rather than climb
from the simplest model to it, this script explains each part where it appears, in
the cells below, and the glossary (docs/glossary.md) has every term in one place.
The lessons in docs/ then take it apart: a dense autoencoder, plain convolutional
ones, what the skips and the PSNR loss each bring, one model for every noise level,
photos.

How this file is laid out: it is a Jupytext "percent" script, whose `# %%` lines start
the cells of a notebook, and which Python also runs from top to bottom. The story runs
at the top level, cell by cell, so that a notebook can stop after any step and look at
its variables; so the file is not imported (trying stops with an ImportError, before
any work). The model presets live in conv_models.py, where the tools and the tests
import them too. What keeps a long run safe (the run's folder, --resume, Ctrl-C,
several devices) lives in machinery/, and comes in by name where it is used.
"""

# %% [markdown]
# ## Setup
#
# `tensorflow_logs` comes first: it keeps TensorFlow's harmless start-up lines off the
# terminal. Then Keras, and this project's modules, one per idea: `data` loads
# pictures, `noise` corrupts them, `conv_models` builds the models, `training` feeds them
# fresh noise and holds the PSNR loss, `noisy_targets` trains them without clean pictures,
# `metrics` scores them, `plots` draws them, `settings` reads the knobs and flags; `runs`
# and `distribute` are the machinery.

# %%
try:  # the project's modules sit beside this file, and Python looks for them from here
    from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)
except ModuleNotFoundError:
    raise SystemExit("error: run this lesson from the project's folder, where train_conv.py is")

import os

import keras

import conv_models
import data
import metrics
import noise
import noisy_targets
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
# loss, epochs, batch size and noise). None means "the preset's own": `settings.start`
# below prints what each None became, and `python train_conv.py --help` lists every
# preset's. A few words the knobs use, each explained again where it acts: the model
# learns by small steps, each on a batch of a few images; an epoch is one pass over
# all the training images; the loss is the number each step makes smaller; Adam is
# the rule that takes the steps. A seed is the number that random draws start from.

# %% tags=["parameters"]
# What to learn from
model = "unet-psnr"  # the preset to train: the U-Net described below; --help lists the others
dataset = "mnist"  # mnist, fashion_mnist, a photo set (python data.py --list) or a folder
test_dataset = None  # photos only: the set or folder to test on (None: a fifth of dataset)
image_size = 128  # photos only: the side of the square crops it trains and tests on
channels = 3  # photos only: 1 = grey, 3 = colour
flip_rotate = None  # show each training picture turned/mirrored at random (None: photos only)
train_limit = None  # train on the first N training images only (None: all)
test_limit = None  # score on the first N test images only (None: all)
data_dir = None  # where the datasets are (None: $DENOISE_DATA_DIR, or download them once)
# The noise it learns to remove
noise_kind = None  # gaussian, gaussian-unclipped, poisson or salt-pepper (flag: --noise)
noise_level = None  # how strong (gaussian: 0.2); a range "0.05:0.5" trains one blind model
target = "clean"  # the answer it learns: clean, noisy (another noisy copy) or neighbours
# How it learns
loss = None  # mse, bce, or psnr (minus each image's PSNR)
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
# `settings.start` the knobs by name). A bad value stops here with a one-line usage error,
# before any work is done. `settings.start` fills each None from the preset, prints the
# settings and the run's folder (runs/unet-psnr-mnist, numbered if taken), makes that
# folder (or finds the one `--resume` continues) and, from then on, turns Ctrl-C into
# a clean stop that `--resume` can continue. Then one seed fixes every random draw: on
# the same machine and backend (the engine under Keras: TensorFlow, JAX or PyTorch),
# the same seed gives the same weights and the same scores.

# %%
args = settings.start(__doc__, conv_models.MODELS, knobs=globals())
keras.utils.set_random_seed(args.seed)  # Python's, NumPy's and the backend's random numbers
plots.prepare(args.show)  # figures drawn off-screen, unless --show or in a notebook

# %% [markdown]
# ## 1. Load clean images
#
# A picture is an array of numbers, one per pixel, here from 0 (black) to 1 (white).
# An array of N pictures is shaped (N, height, width, channels): (N, 28, 28, 1) for
# MNIST, 1 channel for grey, 3 for colour. Photos come in by name or from a folder
# (docs/photos.md): the training photos stay whole, each batch cuts them afresh, and
# the test photos are centre crops of `image_size`.

# %%
if args.dataset in data.DATASETS:  # MNIST or Fashion-MNIST: 28x28 grey pictures
    # Each set comes with labels (which digit), which a denoiser does not need: `_`.
    (x_train, _), (x_test, _) = data.load_dataset(args.dataset, args.data_dir,
                                                  args.train_limit, args.test_limit)
    crop_size = None
else:  # photos: a set by name or a folder, downloaded and checked if need be
    x_train, x_test = data.load_picture_dataset(args.dataset, args.channels, args.image_size,
                                                args.test_dataset, args.train_limit,
                                                args.test_limit, args.data_dir)
    crop_size = args.image_size
print(f"{len(x_train)} training images, {len(x_test)} test images of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them, and look
#
# A denoiser learns from pairs: a noisy picture in, its clean original as the answer.
# The default noise is Gaussian: each pixel plus a random number from a bell curve
# whose spread (its standard deviation, the noise level) is `noise_level`, 0.2 unless
# you set it, then clipped back to [0, 1]. The training batches get fresh noise every epoch, so the
# model never sees the same noisy copy twice and cannot memorise one. The test images
# get one fixed noisy copy, made with a seed of its own: every model and every run is
# scored on exactly the same noisy images. For photos, each training crop is also shown in
# one of its 8 orientations, picked at random (0 to 3 quarter turns, mirrored or not:
# `flip_rotate`): most of what a photo shows has no up or down, so over the epochs the
# model sees it every way round. Digits and clothes stay upright, as their test images
# are (and a 6 turned over is a 9).
#
# How noisy is that? PSNR, the peak signal-to-noise ratio, says how far a picture is
# from its clean original: MSE is the mean of the squared pixel differences, and
# PSNR = 10 * log10(1 / MSE), in decibels (dB), for pixels from 0 to 1. Higher is
# better: +10 dB is a tenth of the squared error, +3 dB about half. Noise of level 0.2
# alone would give an MSE of 0.04, 14 dB; the noisy digits score more, because the
# clip to [0, 1] cuts away half of the noise on the black background (below 0) and
# on the white strokes (above 1). SSIM, the structural similarity, compares the local
# brightness, contrast and structure of the two pictures: 1 means identical. Both are
# in the glossary (docs/glossary.md). The first ten test digits and their noisy copies
# are drawn in noisy.png, in the run's folder (below this cell, in a notebook).
#
# One preset, `unet-level`, is also told how noisy each image is (a second input,
# docs/told-the-level.md): its test inputs then carry that level beside the pixels.
#
# No clean pictures? `target` (noisy_targets.py explains both): with "noisy", the
# answer is another noisy copy of the picture (Noise2Noise; a simulation, both copies
# made from the clean picture; use --loss mse --noise gaussian-unclipped); with
# "neighbours", each training picture gets one noisy copy, made once, and the clean ones
# are forgotten: the model learns from pairs of neighbour pixels of that copy alone
# (Neighbor2Neighbor).
# Only the test pictures stay clean, to score it.

# %%
told_the_level = conv_models.MODELS[args.model].told_the_level  # unet-level only
if args.target == "neighbours":  # from here on, training sees noisy pictures only
    x_train = noise.corrupt_once([data.to_float(image) for image in x_train], args.noise_kind,
                                 args.noise_level, args.seed)
train_batches = training.NoisyBatches(x_train, args.noise_kind, args.noise_level, args.batch_size,
                                   seed=args.seed, crop_size=crop_size, tell_level=told_the_level,
                                   flip_rotate=args.flip_rotate, target=args.target)
x_test_noisy = noise.noisy_test_images(x_test, args.noise_kind, args.noise_level)
test_inputs = noise.model_inputs(x_test_noisy, noise.middle_level(args.noise_level),
                                 told_the_level)  # x_test_noisy itself, unless told the level
before = metrics.image_quality(x_test, x_test_noisy)
print(f"noisy test images: PSNR {before['psnr']:.2f} dB, SSIM {before['ssim']:.3f}")
plots.save_rows(os.path.join(args.out, "noisy.png"), x_test, {"noisy": x_test_noisy})

# %% [markdown]
# ## 3. Build the model, and say how it learns
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
# Each part in turn:
#
# - A convolution, `Conv2D(16, 3, padding="same", activation="relu")`, slides 16 small
#   filters over the picture, each a 3x3 grid of learned weights (a grid per input
#   channel) and one more number, its bias. At each pixel a filter multiplies the 3x3
#   neighbourhood by its weights, adds them up and adds the bias: one number, large
#   where the neighbourhood looks like the filter's pattern. Each filter gives one map
#   of these numbers (a feature map, or channel). `padding="same"` pads the border with
#   zeros, so that each map keeps the picture's height and width.
# - ReLU, the activation of each convolution, keeps positive numbers and turns
#   negative ones into 0. Without such a bend between them, stacked convolutions would
#   add up to a single one.
# - `MaxPooling2D(2)` keeps the largest number of each 2x2 block: the maps shrink to
#   half their height and width (28, 14, 7), so that the same 3x3 convolutions now
#   cover a wider part of the digit.
# - `UpSampling2D(2)` repeats each number into a 2x2 block: the maps grow back (7, 14,
#   28), and the convolutions after it refine the blocks into detail.
# - A skip connection, `Concatenate()`, lays the encoder's maps of the same size beside
#   the grown ones: fine detail need not pass through the smallest maps (docs/unet.md
#   shows what the skips bring).
# - The output: a 1x1 convolution, at each pixel a weighted sum of the 16 channels
#   there (no neighbours), down to the picture's one channel; then
#   `ReLU(max_value=1.0)`, which clips it to [0, 1], the range of a pixel, so that a
#   black background can come out exactly 0 (docs/aim-at-the-score.md).
#
# Why does the output come out clean? Not because noise cannot get through: the
# skips pass every pixel across, noise and all. It is what the weights learn: trained
# on thousands of (noisy, clean) pairs, the network learns to answer with the clean
# picture, and the larger, smaller maps help it see which dots are stroke and which
# are noise. (A dense autoencoder, train_dense.py, does squeeze each digit through a
# code too small for the noise.)
#
# The summary below lists every layer the code made: its name and kind, "Output
# Shape" (images, height, width, channels; None where any number fits, the height and
# width too, as the model takes pictures of any size), "Param #", the weights it
# learns (the first convolution: 3x3x1 weights and 1 bias for each of 16 filters,
# 160), and "Connected to", the layer that feeds it: two at each Concatenate, one of
# them the skip. The source is `conv_models.build_unet_psnr`, with `unet_features`,
# the body the U-Nets share. Every preset but `small` and `unet-dense` is built for
# pictures of any height and width (`height = width = None`): a convolution's weights
# do not depend on the size, so the trained model can take a photo of any size whose
# sides divide by 4 (denoise.py pads the others).
#
# `compile` says how it learns. The loss is the number training makes smaller: here
# `psnr`, minus each image's PSNR, the very score we report, so it prints as about
# -26 for 26 dB (other presets use the mean squared error, or binary cross-entropy:
# see the glossary). The optimizer, Adam, moves every weight a small step downhill on
# the loss after each batch (against its gradient, the slope of the loss along that
# weight), the step of each weight scaled down where its recent gradients were large.
# The learning rate sets the size of those steps: it starts at `learning_rate` and
# falls along a cosine curve to 5% of it by the end (a learning-rate schedule): large
# steps first, fine ones last. PSNR is also reported after every epoch. With
# `--distribute`, `distribute.scope` puts a copy of the model on each device; without
# it, it does nothing. `trainee` is the model `fit` trains: the autoencoder itself,
# except with `target="neighbours"`: then a model around it that halves each noisy
# picture into neighbour pixels, denoises the first half and aims at the second, its
# loss `noisy_targets.neighbour_loss`, with the regulariser (noisy_targets.py).

# %%
height, width, image_channels = x_test.shape[1:]
if args.model in conv_models.FULLY_CONVOLUTIONAL:
    height = width = None  # any size
with distribute.scope(args.devices):
    autoencoder = conv_models.MODELS[args.model].build((height, width, image_channels))
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    optimizer = keras.optimizers.Adam(learning_rate_schedule)
    autoencoder.compile(optimizer=optimizer, loss=training.LOSSES[args.loss],
                        metrics=[training.psnr])
    trainee = autoencoder  # the model `fit` trains
    if args.target == "neighbours":  # the autoencoder, inside a model of neighbour pairs
        trainee = noisy_targets.neighbour_trainer(autoencoder,
                                                  (crop_size, crop_size, image_channels))
        # The same optimizer: it trains the autoencoder's weights, and is saved with them.
        trainee.compile(optimizer=optimizer, loss=noisy_targets.neighbour_loss)
if not args.quiet:
    autoencoder.summary(line_length=100)

# %% [markdown]
# ## 4. Train it
#
# An epoch is one pass over every training image; a batch is the few images of one
# training step (`batch_size`): the model denoises them, the loss says how far off it
# was, and Adam moves every weight. After each epoch, `fit` scores the fixed noisy
# test images (`validation_data`), pictures it never trains on: a model that only
# remembered its training pictures would score well on them and badly here. (Here the
# validation images are the test images: fine, as nothing is chosen by their score.)
# First the untrained model's score, the start of the curve.
#
# The callbacks are what Keras calls at the start and end of each epoch and batch,
# each commented where it is listed. `shuffle=False`: the batches shuffle themselves,
# reproducibly per epoch. With `--distribute` on JAX, each batch must split evenly
# between the devices: the one `if` below hands `fit` this process's share of each
# batch and the test images that divide evenly, and the other, after training, brings
# the model back onto one device to score every test image (machinery/distribute.py).
# With neighbour pairs, what `fit` trains is the trainee, whose output is the denoised
# first half stacked with the regulariser's shift, not a picture to score:
# `noisy_targets.ScoreTheDenoiser` scores the autoencoder itself after each epoch instead.

# %%
validation = (test_inputs, x_test)
if args.devices:  # several devices: their share of each batch (see above)
    train_batches, validation = distribute.split_evenly(train_batches, validation)
untrained = autoencoder.evaluate(*validation, batch_size=args.batch_size, verbose=0,
                                 return_dict=True)
print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
epoch_log = runs.EpochLog(args.out, untrained, quiet=args.quiet)
callbacks = [
    training.DrawEpochNoise(train_batches),  # tells the batches the epoch: new noise each one
    keras.callbacks.TerminateOnNaN(),  # stop at once if the loss is no number (NaN)
    keras.callbacks.ProgbarLogger(),  # Keras' progress bar (on a terminal; see verbose)
    epoch_log,  # a line per epoch, and the history, kept in epochs.json across a --resume
    runs.Backup(args.out),  # the weights after each epoch: --resume goes on from there
]
if args.tensorboard:
    callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard")))
if args.target == "neighbours":  # fit would score the trainee: score the autoencoder instead
    callbacks.insert(0, noisy_targets.ScoreTheDenoiser(autoencoder, *validation, args.batch_size))
    validation = None
trainee.fit(train_batches, epochs=args.epochs, validation_data=validation, shuffle=False,
            callbacks=callbacks, verbose=runs.progress_bar(args.quiet))  # bar or none
print(f"trained for {epoch_log.train_seconds:.0f} s")
if args.devices:  # back on one device, to score every test image
    autoencoder = distribute.one_device_copy(autoencoder)

# %% [markdown]
# ## 5. Evaluate
#
# `predict` denoises every noisy test image; then PSNR and SSIM against the clean
# originals, after and (from step 2) before. A model trained on a range of levels is
# also scored at levels across its range.

# %%
x_test_denoised = autoencoder.predict(test_inputs, batch_size=256, verbose=0)
after = metrics.image_quality(x_test, x_test_denoised)
print(f"test PSNR: noisy {before['psnr']:.2f} dB -> denoised {after['psnr']:.2f} dB; "
      f"SSIM: noisy {before['ssim']:.3f} -> denoised {after['ssim']:.3f}")
scores = {"test_images": len(x_test), "noisy_psnr": before["psnr"],
          "noisy_ssim": before["ssim"], **after}
if noise.is_range(args.noise_level):
    scores["levels"] = metrics.score_at_levels(autoencoder, x_test, args.noise_kind,
                                               noise.levels_to_score(args.noise_level))

# %% [markdown]
# ## 6. Show and save
#
# samples.png: ten test images, original, noisy and denoised, each with its PSNR.
# history.png: the losses and the validation PSNR per epoch. For a blind model,
# levels.png: its PSNR across the range. Then `runs.finish` saves the model itself
# (model.keras, with `autoencoder.save`; `denoise.py` uses it on your own pictures)
# and, last, metrics.json: every score and setting, and the sign that the run finished.

# %%
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_psnr"])
if "levels" in scores:
    plots.save_levels(os.path.join(args.out, "levels.png"), scores["levels"], args.model,
                      f"trained on {args.noise_kind} {noise.level_text(args.noise_level)}")
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train))
if args.show:
    plots.show_figures()
