# %% active="py"
"""
Title: Denoising images with a convolutional autoencoder
Description: Train a small U-Net to remove noise from handwritten digits, then score it.

What you will learn: how to corrupt images with noise a model never sees twice; how a
convolutional autoencoder (here a U-Net, with skip connections) maps a noisy image back
to a clean one; how to train it with `compile` and `fit`, score it with PSNR and SSIM,
and look at what it does.

How to run it:
  python train_conv.py                       # the default U-Net on MNIST, noise 0.2
  python train_conv.py --help                # every knob, and every model preset
  python train_conv.py --model small --dataset fashion_mnist --noise-level 0.5
  python train_conv.py --model rgb128 --dataset faces    # photos: a set by name, or a folder
  python train_conv.py --noise-level 0.05:0.5    # one "blind" model for every level in the range
  python train_conv.py --distribute              # a copy of the model on every GPU
  python train_conv.py --distribute multi-worker # one model, several machines (JAX)
Or as a notebook, one cell at a time (the knobs cell is tagged for papermill):
  jupytext --to ipynb --set-kernel python3 train_conv.py

How this file is laid out: it is a Jupytext "percent" script, whose `# %%` lines start
the cells of a notebook, and which Python also runs from top to bottom. The story runs
at the top level, cell by cell, so that a notebook can stop after any step and look at
its variables; a notebook cannot split the `if __name__ == "__main__":` block that would
make the file safe to import. So the file is not imported (trying stops with an
ImportError, before any work): the model presets live in conv_models.py (as nanoGPT
keeps its model in model.py), where tools/speed.py and the tests import them; the machinery that makes long runs safe (run folders, --resume, signals)
lives in machinery/runs.py, named where it is used.

Presets (--model): unet-psnr (the default: the U-Net below), unet-dense, unet-level (told
the noise level), unet, small, wide, transpose, strided, rgb128 and dncnn; conv_models.py
describes each.
"""

# %% [markdown]
# ## Setup
#
# `tensorflow_logs` comes first: it keeps TensorFlow's harmless C++ log lines off the
# terminal. The rest are the libraries, and this project's modules, one per idea.

# %%
from machinery import tensorflow_logs  # noqa: F401  (first, before Keras starts TensorFlow)

import os

import keras

import conv_models
import data
from machinery import distribute
import metrics
import noise
import plots
from machinery import runs

# %% [markdown]
# ## The knobs
#
# Every setting of the run, in one place. From the terminal, a flag of the same name
# overrides each (`--batch-size 32` for `batch_size`); in a notebook, edit them here, or
# let papermill inject new values (`papermill ... -p epochs 1`). None means "the
# preset's own", listed by `python train_conv.py --help`.

# %% tags=["parameters"]
model = "unet-psnr"  # the preset to train: see conv_models.py, or --help
dataset = "mnist"  # mnist, fashion_mnist, a photo set (python data.py --list) or a folder
noise_kind = None  # gaussian, gaussian-unclipped, poisson or salt-pepper (flag: --noise)
noise_level = None  # how strong; a range "0.05:0.5" trains one blind model for all of it
loss = None  # mse, bce, or psnr (minus each image's PSNR)
epochs = None  # passes over the training images
batch_size = None  # images per training step
learning_rate = 1e-3  # Adam's starting learning rate; it decays along a cosine
train_limit = None  # train on the first N training images only (None: all)
test_limit = None  # score on the first N test images only (None: all)
seed = 0  # seeds the weights, the batch order and the training noise
out = None  # the run's folder (None: a new runs/<model>-<dataset>)
image_size = 128  # for a folder of pictures: the side of the square crops it trains on
channels = 3  # for a folder of pictures: 1 = grey, 3 = colour

# %% [markdown]
# The knobs above, then the command line's flags, make the run's settings, `args`. A bad
# value stops here with a one-line usage error, before any work is done. `runs.start`
# makes the run's folder (or finds the one `--resume` continues) and, from then on,
# turns Ctrl-C into a clean stop that `--resume` can continue.

# %%
args = runs.parse_arguments(__doc__, conv_models.MODELS, knobs=globals())
runs.start(args)
runs.seed_everything(args.seed)  # the same seed, the same weights and scores
plots.prepare(args.show)

# %% [markdown]
# ## 1. Load clean images
#
# Pixels in [0, 1], shaped (N, height, width, channels): (N, 28, 28, 1) for MNIST. From
# a photo set or a folder of pictures, the training pictures stay whole (a list: each
# batch crops them afresh) and the test pictures are centre crops of `image_size`. A
# photo set that is not on this machine yet is downloaded first, and checked.

# %%
if args.dataset in data.DATASETS:
    (x_train, _), (x_test, _) = data.load_dataset(args.dataset, args.data_dir,
                                                  args.train_limit, args.test_limit)
    crop_size = None
else:
    x_train, x_test = data.load_picture_dataset(args.dataset, args.channels, args.image_size,
                                                args.test_dataset, args.train_limit,
                                                args.test_limit, args.data_dir)
    crop_size = args.image_size
print(f"{len(x_train)} training images, {len(x_test)} test images of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them
#
# A denoiser learns from pairs (noisy, clean). The training batches get fresh noise
# every epoch, so the model never sees the same noisy copy twice and cannot memorise
# one. The test images get one fixed noisy copy, made with a seed of its own: every
# model and every run is scored on exactly the same noisy images.
#
# One preset, `unet-level`, is also told how noisy each image is: a second input,
# `noise_level`, beside the pixels. Its batches then carry each image's level, drawn
# from the range, and its test images the level they were made at.

# %%
told_the_level = conv_models.MODELS[args.model].told_the_level
train_batches = noise.NoisyBatches(x_train, args.noise, args.noise_level, args.batch_size,
                                   seed=args.seed, crop_size=crop_size, tell_level=told_the_level)
x_test_noisy = noise.noisy_test_images(x_test, args.noise, args.noise_level)
test_inputs = noise.model_inputs(x_test_noisy, noise.middle_level(args.noise_level),
                                 told_the_level)  # x_test_noisy itself, unless told the level

# %% [markdown]
# ## 3. Build the model, and say how it learns
#
# The default, `unet-psnr`, is a small U-Net: two convolutions at each scale, halved by
# max-pooling down to a bottleneck, then doubled back; each upsampled map is joined with
# the encoder's map of the same scale (a skip connection), so the bottleneck need only
# carry "what is noise", and the skips carry "where exactly". Its output is a linear
# convolution clipped to [0, 1], so a black background can come out exactly 0.
# conv_models.py holds it (`build_unet_psnr`) and every other preset.
#
# Every preset except `small` and `unet-dense` is fully convolutional: built for
# pictures of any height and width, it denoises a photo of any size once trained.
#
# `compile` says how it learns: Adam, with a learning rate that falls along a cosine to
# 5% of its start over the whole run, the preset's loss (`psnr`: minus each image's
# PSNR, the very score we report), and PSNR reported after every epoch. With
# `--distribute`, the model is built and compiled in a scope that puts a copy of it on
# each device (machinery/distribute.py); otherwise on one device.

# %%
height, width, image_channels = x_test.shape[1:]
if args.model in conv_models.FULLY_CONVOLUTIONAL:
    height = width = None  # any size
with distribute.scope(args.distribute):
    autoencoder = conv_models.MODELS[args.model].build((height, width, image_channels))
    learning_rate_schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=args.epochs * len(train_batches), alpha=0.05)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule),
                        loss=metrics.LOSSES[args.loss], metrics=[metrics.psnr])
    print(f"{autoencoder.name}: {autoencoder.count_params():,} parameters, training on "
          f"{distribute.replicas()} device(s) at once")

# %% [markdown]
# ## 4. Train it
#
# First the untrained model's score, the start of the curve. Then `fit` maps noisy
# batches to clean ones, validating on the fixed noisy test images after each epoch.
# The callbacks, in order: draw each epoch's noise (the same after a resume); stop at
# once if the loss turns NaN; Keras' progress bar; print and record each epoch in
# epochs.json; back up the weights after each epoch, from which `--resume` continues.
# `shuffle=False`: the batches shuffle themselves, reproducibly per epoch.
# With `--distribute` on JAX, each batch must split evenly between the devices:
# `distribute.divisible` keeps the test images that do, `distribute.shard` gives `fit`
# this process's share of each batch, and `distribute.one_device_copy` brings the
# trained model back onto one device, to score every test image. Without it, all three
# hand back what they are given.

# %%
validation = distribute.divisible(test_inputs, x_test)  # what divides between devices
untrained = autoencoder.evaluate(*validation, batch_size=args.batch_size, verbose=0,
                                 return_dict=True)
print(f"untrained: val_loss {untrained['loss']:.4f}, val_psnr {untrained['psnr']:.2f} dB")
epoch_log = runs.EpochLog(args.out, untrained, quiet=args.quiet)
callbacks = [
    noise.DrawEpochNoise(train_batches),
    keras.callbacks.TerminateOnNaN(),
    keras.callbacks.ProgbarLogger(),
    epoch_log,
    runs.Backup(args.out),
]
if args.tensorboard:
    callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard")))
autoencoder.fit(distribute.shard(train_batches), epochs=args.epochs, validation_data=validation,
                shuffle=False, callbacks=callbacks, verbose=runs.progress_bar(args.quiet))
print(f"trained for {epoch_log.train_seconds:.0f} s")
autoencoder = distribute.one_device_copy(autoencoder)  # from here on, as on one device

# %% [markdown]
# ## 5. Evaluate
#
# How much closer to the clean images is the output than the noisy input? PSNR (in dB:
# +3 dB halves the squared error) and SSIM (1.0 = identical), both before and after. A
# model trained on a range of levels is also scored at levels across its range.

# %%
x_test_denoised = autoencoder.predict(test_inputs, batch_size=256, verbose=0)
before = metrics.image_quality(x_test, x_test_noisy)
after = metrics.image_quality(x_test, x_test_denoised)
scores = {"test_images": len(x_test), "noisy_psnr": before["psnr"],
          "noisy_ssim": before["ssim"], **after}
print(f"test PSNR: noisy {before['psnr']:.2f} dB -> denoised {after['psnr']:.2f} dB; "
      f"SSIM: noisy {before['ssim']:.3f} -> denoised {after['ssim']:.3f}")
if noise.is_range(args.noise_level):
    scores["levels"] = metrics.score_at_levels(autoencoder, x_test, args.noise,
                                               noise.levels_to_score(args.noise_level))

# %% [markdown]
# ## 6. Show and save
#
# samples.png: ten test images, original, noisy and denoised, each with its PSNR.
# history.png: the losses and the validation PSNR per epoch. For a blind model,
# levels.png: its PSNR across the range. Then the model itself (model.keras, which
# `denoise.py` uses on your own pictures) and, last, metrics.json: every score and
# setting, and the sign that the run finished.

# %%
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_psnr"])
if "levels" in scores:
    plots.save_levels(os.path.join(args.out, "levels.png"), scores["levels"], args.model,
                      f"trained on {args.noise} {noise.level_text(args.noise_level)}")
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train))
if args.show:
    plots.show_figures()
