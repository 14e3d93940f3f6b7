# %% active="py"
"""
Title: Learning to denoise without clean pictures
Description: Train a U-Net on noisy pictures alone: Noise2Noise and Neighbor2Neighbor.

What you will learn: why a denoiser can learn from noisy answers as well as from clean
ones (Noise2Noise), and how one noisy picture is enough when its neighbour pixels are
split into two (Neighbor2Neighbor); why the loss must be the mean squared error and the
noise unclipped; and how such a model is still scored against clean pictures.

How to run it:
  python train_noisy_targets.py              # Noise2Noise on MNIST digits
  python train_noisy_targets.py --help       # every knob, and every model preset
  python train_noisy_targets.py --dataset train400 --test-dataset bsd68 --channels 1 \\
      --image-size 64 --batch-size 32 --noise-level 25/255 --target neighbours
Or as a notebook: jupytext --to ipynb --set-kernel python3 train_noisy_targets.py

It tells the story of train_conv.py again (read that one first), with another answer to
aim at; docs/noisy-targets.md has the results, noisy_targets.py the mechanism, and
docs/glossary.md every term.
"""

# %% [markdown]
# ## Setup
#
# The modules of train_conv.py, and `noisy_targets`, which makes Neighbor2Neighbor's
# pairs of neighbour pixels, the model that trains on them and its loss.

# %%
try:  # the project's modules sit beside this file, and Python looks for them from here
    from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)
except ModuleNotFoundError:
    raise SystemExit("error: run this lesson from the project's folder, "
                     "where train_noisy_targets.py is")

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
# As in train_conv.py, and `target`, the answer the model learns to give:
#
# - "noisy" (Noise2Noise, Lehtinen et al., 2018): another noisy copy of the same
#   picture. Its noise is independent of the input's and averages to zero, so the
#   answer that makes the mean squared error smallest is still the clean picture. So:
#   the loss is `mse` (its best answer is the mean), and the noise is unclipped (noise
#   clipped to [0, 1] does not average to zero near black and white). Both copies are
#   made here from the clean picture: a simulation of two shots of the same scene.
# - "neighbours" (Neighbor2Neighbor, Huang et al., 2021): one noisy copy of each
#   training picture, made once; the clean pictures are then forgotten. Photos only:
#   each picture is halved into neighbour pixels, and the halves of a digit are 14x14,
#   which the U-Net's two poolings cannot halve twice (14, 7, 3.5). The two halves are
#   not quite one picture (each pixel sits beside its neighbour), so their loss has a
#   second term that corrects for it, a regulariser (section 3); `regulariser_weight`
#   sets how much it counts, 0 for not at all.

# %% tags=["parameters"]
# What to learn from
model = "unet-psnr"  # the preset to train (built by conv_models.py); --help lists them
dataset = "mnist"  # mnist, fashion_mnist, a photo set (python data.py --list) or a folder
test_dataset = None  # photos only: the set or folder to test on (None: a fifth of dataset)
image_size = 64  # photos only: the side of the square crops it trains and tests on
channels = 1  # photos only: 1 = grey, 3 = colour
flip_rotate = None  # turn and mirror each training crop at random (None: photos only)
train_limit = None  # use the first N training images only (None: all)
test_limit = None  # score on the first N test images only (None: all)
validation_split = 0.1  # hold out the last 10% of the training images to validate on
data_dir = None  # where the datasets are (None: $DENOISE_DATA_DIR, or download them once)
# The noise, and the answer
noise_kind = "gaussian-unclipped"  # unclipped: its mean is the clean picture
noise_level = None  # how strong (gaussian-unclipped: 25/255, "sigma 25")
target = "noisy"  # noisy (Noise2Noise) or neighbours (Neighbor2Neighbor)
regulariser_weight = None  # neighbours only: their regulariser's weight (None: 1; 0: none)
# How it learns
loss = "mse"  # the mean squared error: its best answer is the mean of the noisy answers
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
# The knobs, then the flags, make the run's settings `args`, checked before any work
# (neighbours on digits stop here); then the seed.

# %%
args = settings.start(__doc__, conv_models.MODELS, knobs=globals(),
                      takes=(settings.DIGITS, settings.PHOTOS, settings.TARGETS))
keras.utils.set_random_seed(args.seed)  # Python's, NumPy's and the backend's random numbers
plots.prepare(args.show)  # figures drawn off-screen, unless --show or in a notebook

# %% [markdown]
# ## 1. Load clean images
#
# Digits as in train_conv.py, or photos as in train_photos.py (whole pictures, cut
# into fresh crops by each batch). The last 10% of the training images are held out
# to validate on, as in train_conv.py (photos: their centre crops). The clean
# validation and test images stay, to score the model.

# %%
if args.dataset in data.DATASETS:  # MNIST or Fashion-MNIST: one array of 28x28 pictures
    (x_train, _), (x_test, _) = data.load_dataset(args.dataset, args.data_dir,
                                                  args.train_limit, args.test_limit)
    x_train, x_val = data.hold_out(x_train, args.validation_split)
    crop_size = None
else:  # photos: a set by name or a folder
    x_train, x_test = data.load_picture_dataset(args.dataset, args.channels, args.image_size,
                                                args.test_dataset, args.train_limit,
                                                args.test_limit, args.data_dir)
    x_train, x_val = data.hold_out(x_train, args.validation_split)
    x_val = data.centre_crops(x_val, args.image_size)  # the same every time, as the test's
    crop_size = args.image_size
print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
      f"of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them: pairs without a clean answer
#
# With "neighbours", each training picture gets one noisy copy here (`corrupt_once`,
# on the pictures as floats: photos are kept in their file's 8 or 16 bits until a batch
# uses them), and from then on training sees nothing else. `NoisyBatches` then makes the pairs:
# for "noisy", two independent noisy copies of each clean crop, fresh every epoch (one
# in, the other the answer); for "neighbours", the two neighbour-pixel halves of each
# noisy crop. The validation and test images get one fixed noisy copy each, scored
# against the clean ones.

# %%
if args.target == noisy_targets.NEIGHBOURS:  # from here on, training sees noisy ones only
    x_train = noise.corrupt_once([data.to_float(image) for image in x_train], args.noise_kind,
                                 args.noise_level, args.seed)
train_batches = training.NoisyBatches(x_train, args.noise_kind, args.noise_level, args.batch_size,
                                      seed=args.seed, crop_size=crop_size,
                                      flip_rotate=args.flip_rotate, target=args.target)
x_val_noisy = noise.fixed_noisy_copy(x_val, args.noise_kind, args.noise_level,
                                   seed=noise.VALIDATION_NOISE_SEED)
x_test_noisy = noise.fixed_noisy_copy(x_test, args.noise_kind, args.noise_level)
before = metrics.image_quality(x_test, x_test_noisy)
print(f"noisy test images: PSNR {before['psnr']:.2f} dB, SSIM {before['ssim']:.3f}")
plots.save_rows(os.path.join(args.out, "noisy.png"), x_test, {"noisy": x_test_noisy})

# %% [markdown]
# ## 3. Build the model
#
# The preset's model, the denoiser, built by conv_models.py and compiled as in
# train_conv.py. `trainee` is what `fit` trains: the denoiser itself for "noisy"; for
# "neighbours", a model around it that halves each noisy crop into neighbour pixels,
# denoises the first half and aims at the second, with Neighbor2Neighbor's loss and
# its regulariser (noisy_targets.py). It trains the denoiser's weights, with the same
# optimizer, and the denoiser alone is saved.

# %%
with distribute.scope(args.devices):
    autoencoder = conv_models.MODELS[args.model].build(
        conv_models.input_shape(args.model, x_test.shape[1:]))
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    optimizer = keras.optimizers.Adam(learning_rate_schedule)
    autoencoder.compile(optimizer=optimizer, loss=training.LOSSES[args.loss],
                        metrics=[training.psnr])
    trainee = autoencoder  # the model `fit` trains
    if args.target == noisy_targets.NEIGHBOURS:  # the denoiser, inside a model of pairs
        trainee = noisy_targets.neighbour_trainer(autoencoder,
                                                  (crop_size, crop_size, x_test.shape[-1]))
        trainee.compile(optimizer=optimizer,
                        loss=noisy_targets.neighbour_loss(args.regulariser_weight))
if not args.quiet:
    autoencoder.summary(line_length=100)

# %% [markdown]
# ## 4. Train it
#
# As in train_conv.py. With neighbour pairs, the trainee's output is the denoised
# first half stacked with the regulariser's shift, not a picture to score:
# `noisy_targets.ScoreTheDenoiser` scores the denoiser itself after each epoch instead,
# on the validation images, and `fit` validates nothing.

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
if args.target == noisy_targets.NEIGHBOURS:  # fit would score the trainee, not the denoiser
    callbacks.insert(0, noisy_targets.ScoreTheDenoiser(autoencoder, *validation, args.batch_size))
    validation = None
trainee.fit(train_batches, epochs=args.epochs, validation_data=validation, shuffle=False,
            callbacks=callbacks, verbose=runs.progress_bar(args.quiet))  # bar or none
print(f"trained for {epoch_log.train_seconds:.0f} s")
autoencoder = distribute.one_device_copy(autoencoder)

# %% [markdown]
# ## 5. Evaluate, show and save
#
# As in train_conv.py: the denoiser, never shown a clean training picture, scored
# against the clean test images (and, trained on a range of levels, across it);
# samples.png, history.png (levels.png for a range), model.keras, metrics.json.

# %%
x_test_denoised = autoencoder.predict(x_test_noisy, batch_size=256, verbose=0)
after = metrics.image_quality(x_test, x_test_denoised)
print(f"test PSNR: noisy {before['psnr']:.2f} dB -> denoised {after['psnr']:.2f} dB; "
      f"SSIM: noisy {before['ssim']:.3f} -> denoised {after['ssim']:.3f}")
scores = {"test_images": len(x_test), "noisy_psnr": before["psnr"],
          "noisy_ssim": before["ssim"], **after,
          "noisy_validation_psnr": metrics.psnr(x_val, x_val_noisy),
          **metrics.blind_scores(autoencoder, x_test, args.noise_kind, args.noise_level)}
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_validation_psnr"])
plots.save_blind_levels(os.path.join(args.out, "levels.png"), scores, args.model,
                        args.noise_kind, args.noise_level)
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train),
            validation_images=len(x_val))
if args.show:
    plots.show_figures()
