# %% active="py"
"""
Title: Denoising photos
Description: Train a U-Net on crops of grey or colour photos, turned and mirrored, then score it.

What you will learn: what changes when the pictures are photos of any size, not 28x28
digits: training on random crops, fresh every epoch; showing each crop turned and
mirrored; the literature's noise ("sigma 25"); a model for every noise level at once,
blind or told each picture's level; scoring on a set of photos never trained on; and
going on from a trained model (fine-tuning).

How to run it:
  python train_photos.py                     # a U-Net on Train400's grey photos, sigma 25
  python train_photos.py --test-dataset bsd68    # tested on BSD68, as the papers do
  python train_photos.py --help              # every knob, and every model preset
  python train_photos.py --dataset cbsd432 --test-dataset cbsd68 --channels 3
  python train_photos.py --model unet-level --noise-level 10/255:55/255
  python train_photos.py --dataset my_photos/ --channels 3    # your own folder
Or as a notebook: jupytext --to ipynb --set-kernel python3 train_photos.py

It tells the story of train_conv.py again, for photos: read that one first, as this one
explains only what is new (docs/photos.md and docs/told-the-level.md have the results,
docs/glossary.md every term).
"""

# %% [markdown]
# ## Setup
#
# The same modules as train_conv.py: `data` loads the photos (and downloads a photo
# set by name, checking its checksum), `noise` corrupts them, `conv_models` builds
# the model, `training` feeds it fresh noise, `metrics` scores, `plots` draws,
# `settings` reads the knobs and flags; `runs` and `distribute` are the machinery.

# %%
try:  # the project's modules sit beside this file, and Python looks for them from here
    from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)
except ModuleNotFoundError:
    raise SystemExit("error: run this lesson from the project's folder, where train_photos.py is")

import os

import keras

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
# As in train_conv.py: a flag of the same name overrides each, and None means the
# preset's own; the noise kind, epochs and batch size are set here for photos instead.
# Photo denoisers are measured with Gaussian noise of a standard deviation sigma on the
# 0-255 scale, not clipped to the pixel range: `gaussian-unclipped`, whose own level is
# 25/255, "sigma 25". The default run is short (30 epochs: a minute or two on 2 CPU
# cores, at the rate of the 100-epoch photo runs in docs/results-one-change.md); the
# shipped photo models trained for hundreds of epochs (docs/trained-models.md has their
# commands).

# %% tags=["parameters"]
# What to learn from
model = "unet-psnr"  # the preset to train (built by conv_models.py); --help lists them
dataset = "train400"  # a photo set (python data.py --list) or a folder of PNG/JPEG pictures
test_dataset = None  # the set or folder to test on, such as bsd68 (None: a fifth of dataset)
image_size = 64  # the side of the square crops (a multiple of 8: some presets pool 3 times)
channels = 1  # 1 = grey, 3 = colour
flip_rotate = True  # show each training crop turned and mirrored at random
train_limit = None  # use the first N training pictures only (None: all)
test_limit = None  # score on the first N test pictures only (None: all)
validation_split = 0.1  # hold out the last 10% of the training pictures to validate on
data_dir = None  # where the datasets are (None: $DENOISE_DATA_DIR, or download them once)
# The noise it learns to remove
noise_kind = "gaussian-unclipped"  # the papers'; rgb128's write-up used poisson (--noise)
noise_level = None  # how strong (None: the kind's own, here 25/255, "sigma 25"); a range
#                     such as "10/255:55/255" trains one model for all levels
# How it learns
loss = None  # mse, bce, or psnr (minus each image's PSNR)
epochs = 30  # passes over the training pictures
batch_size = 32  # crops per training step
learning_rate = 1e-3  # Adam's starting step size; it falls along a cosine
start_from = None  # a trained .keras model, same preset and channels, to go on from
seed = 0  # seeds the weights, the batch order, the crops, the turns and the noise
# Where it runs, and what it writes
out = None  # the run's folder (None: a new runs/<model>-<dataset>)
devices = None  # None: one device; "GPU:0,GPU:1": a copy on each (flag: --distribute)
tensorboard = False  # also write logs for TensorBoard, TensorFlow's live charts
quiet = False  # print no progress, only the final scores
show = False  # also open the figures in windows at the end

# %% [markdown]
# The knobs, then the flags, make the run's settings `args`, checked before any work
# (an image size that does not divide by 8 stops here); then the seed.

# %%
args = settings.start(__doc__, conv_models.MODELS, knobs=globals(), takes=(settings.PHOTOS,))
keras.utils.set_random_seed(args.seed)  # Python's, NumPy's and the backend's random numbers
plots.prepare(args.show)  # figures drawn off-screen, unless --show or in a notebook

# %% [markdown]
# ## 1. Load clean photos
#
# Test pictures must be pictures the model never trains on: another set (BSD68 is the
# papers' test set for Train400), or, by default, every fifth picture of the set, kept
# out of training. As in train_conv.py, the last 10% of the training photos are held
# out too, as validation photos: scored after every epoch, never trained on, and the
# ones to choose settings by; the test photos are scored once, at the end.
#
# Photos come in any size, so they are not one array. The training photos stay whole,
# a list of pictures (N of them, each height x width x channels); each batch cuts a
# fresh random `image_size` crop of each, every epoch: a few hundred photos give endless
# distinct training crops. The validation and test photos are centre crops of
# `image_size`, one array each, the same every time. A photo set named here is
# downloaded once, checked against its checksum, and kept (docs/photos.md).

# %%
x_train, x_test = data.load_picture_dataset(args.dataset, args.channels, args.image_size,
                                            args.test_dataset, args.train_limit,
                                            args.test_limit, args.data_dir)
x_train, x_val = data.hold_out(x_train, args.validation_split)
x_val = data.centre_crops(x_val, args.image_size)  # the same every time, as the test's
print(f"{len(x_train)} training photos, {len(x_val)} validation and {len(x_test)} test "
      f"crops of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them, and look
#
# The validation and test crops get one fixed noisy copy each, each set with a fixed seed
# of its own (not the `seed` knob); the training crops fresh noise in every batch. Each training
# crop is also shown in one of its 8 orientations, drawn at random (0 to 3 quarter
# turns, mirrored or not: `flip_rotate`): most of what a photo shows has no up or down,
# so over the epochs the model sees it every way round (docs/results-flips.md measures
# what that brings).
#
# Given a range of levels, each training crop gets a level drawn from it: one model
# for every level. A blind model must guess each picture's level; the preset
# `unet-level` is told it instead, as a second input beside the pixels (FFDNet's idea,
# docs/told-the-level.md): `noise.model_inputs` gives it the pictures and their level,
# and other models the pictures alone. The validation and test crops are made at the
# middle of a range. The level it is told is the noise's standard deviation; camera
# noise's level is an ISO, so there `noise.level_told` tells it what denoise.py
# --noise-level camera will tell it of a camera's photo: 3.5 times the noise's spread
# (noise.CAMERA_LEVEL_FACTOR), here measured from noisy minus clean, where denoise.py
# estimates it (docs/camera-noise.md).

# %%
told_the_level = conv_models.MODELS[args.model].told_the_level  # unet-level only
train_batches = training.NoisyBatches(x_train, args.noise_kind, args.noise_level, args.batch_size,
                                      seed=args.seed, crop_size=args.image_size,
                                      tell_level=told_the_level, flip_rotate=args.flip_rotate)
middle = noise.middle_level(args.noise_level)
x_val_noisy = noise.fixed_noisy_copy(x_val, args.noise_kind, args.noise_level,
                                   seed=noise.VALIDATION_NOISE_SEED)
val_inputs = noise.model_inputs(
    x_val_noisy, noise.level_told(args.noise_kind, middle, x_val, x_val_noisy), told_the_level)
x_test_noisy = noise.fixed_noisy_copy(x_test, args.noise_kind, args.noise_level)
test_inputs = noise.model_inputs(  # x_test_noisy itself, unless told the level
    x_test_noisy, noise.level_told(args.noise_kind, middle, x_test, x_test_noisy), told_the_level)
before = metrics.image_quality(x_test, x_test_noisy)
print(f"noisy test crops: PSNR {before['psnr']:.2f} dB, SSIM {before['ssim']:.3f}")
plots.save_rows(os.path.join(args.out, "noisy.png"), x_test, {"noisy": x_test_noisy})

# %% [markdown]
# ## 3. Build the model
#
# The default preset is train_conv.py's U-Net, built by conv_models.py. It is fully
# convolutional (no layer depends on the picture's size: height and width None), so
# the model trained on 64x64 crops denoises a whole photo of any size (denoise.py pads
# its sides to fit). With `start_from`, the freshly built model takes the weights of a
# trained one, to go on from what it learned (fine-tuning: docs/camera-noise.md); the
# optimizer starts afresh. `compile` as in
# train_conv.py: Adam, its step size falling along a cosine, PSNR after every epoch.

# %%
with distribute.scope(args.devices):
    autoencoder = conv_models.MODELS[args.model].build(
        conv_models.input_shape(args.model, x_test.shape[1:]))
    training.start_from(autoencoder, args.start_from, args.out)  # fine-tuning: trained weights
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule),
                        loss=training.LOSSES[args.loss], metrics=[training.psnr])
if not args.quiet:
    autoencoder.summary(line_length=100)

# %% [markdown]
# ## 4. Train it
#
# As in train_conv.py: the untrained score first, then `fit` with the same callbacks,
# validating on the fixed noisy validation crops after each epoch.

# %%
train_batches, validation = distribute.split_evenly(train_batches, (val_inputs, x_val))
untrained = autoencoder.evaluate(*validation, batch_size=args.batch_size, verbose=0,
                                 return_dict=True)
print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
epoch_log = runs.EpochLog(args.out, untrained, quiet=args.quiet)
callbacks = [
    training.DrawEpochNoise(train_batches),  # tells the batches the epoch: new crops and noise
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
# PSNR and SSIM of the denoised test crops, and of the noisy ones. A model for a range
# of levels is also scored at levels across it (`metrics.blind_scores`). To score whole
# photos, and beside the classical denoisers, use tools/compare.py (docs/classical.md).

# %%
x_test_denoised = autoencoder.predict(test_inputs, batch_size=64, verbose=0)  # crops: fewer at once
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
# samples.png, history.png and, for a range, levels.png, as in train_conv.py; then
# model.keras (`python denoise.py --model runs/.../model.keras your_photo.png` uses it)
# and, last, metrics.json.

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
