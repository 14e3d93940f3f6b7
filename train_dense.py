# %% active="py"
"""
Title: Denoising digits with a dense autoencoder
Description: Train a fully connected autoencoder to remove noise from MNIST, then score it.

What you will learn: how a dense autoencoder squeezes each image through a narrow code
and widens it back, and why that removes noise (noise is hard to squeeze through a few
numbers, digits are not); how to train it with `compile` and `fit`, score it with PSNR
and SSIM, and look at its codes. A dense model sees each 28x28 image as a flat list of
784 numbers: it knows nothing of which pixels are neighbours, which is why the
convolutional models of train_conv.py beat it.

How to run it:
  python train_dense.py                                   # the deep model on MNIST, noise 0.2
  python train_dense.py --help                            # every knob, and every preset
  python train_dense.py --model shallow32                 # also saves codes.png
  python train_dense.py --model noise-layer --dataset fashion_mnist --noise-level 2
Or as a notebook, one cell at a time (the knobs cell is tagged for papermill):
  jupytext --to ipynb --set-kernel python3 train_dense.py

How this file is laid out: as train_conv.py, a Jupytext "percent" script that runs from
top to bottom, cell by cell, and so is not imported (trying stops with an ImportError,
before any work); its model presets live in dense_models.py, and the machinery that
keeps long runs safe in machinery/runs.py.

Presets (--model), from the write-ups this project reproduces
(docs/models.md names the write-ups):
  deep         the deep dense denoiser, the default: 784-500-300-100-300-500-784, ReLU,
               sigmoid, MSE
  shallow32    the tiny autoencoders: 784-32-784, binary cross-entropy; also saves codes.png
  shallow64    codes and resize-convolution: 784-64-784, binary cross-entropy; also saves
               codes.png
  noise-layer  the noise-layer autoencoder: the noise is a layer inside the model (stddev =
               --noise-level), active only while training; latent 256 with LeakyReLU, binary
               cross-entropy
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

import data
import dense_models
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
# preset's own", listed by `python train_dense.py --help`.

# %% tags=["parameters"]
model = "deep"  # the preset to train: see dense_models.py, or --help
dataset = "mnist"  # mnist or fashion_mnist
noise_kind = None  # gaussian, gaussian-unclipped, poisson or salt-pepper (flag: --noise)
noise_level = None  # how strong; a range "0.05:0.5" trains one blind model for all of it
loss = None  # mse, bce, or psnr (minus each image's PSNR)
epochs = None  # passes over the training images
batch_size = None  # images per training step
learning_rate = 1e-3  # Adam's starting learning rate; it decays along a cosine
train_limit = None  # train on the first N training images only (None: all 60,000)
test_limit = None  # score on the first N test images only (None: all 10,000)
seed = 0  # seeds the weights, the batch order and the training noise
out = None  # the run's folder (None: a new runs/<model>-<dataset>)

# %% [markdown]
# The knobs above, then the command line's flags, make the run's settings, `args`. A bad
# value stops here with a one-line usage error, before any work is done. `runs.start`
# makes the run's folder (or finds the one `--resume` continues) and, from then on,
# turns Ctrl-C into a clean stop that `--resume` can continue.

# %%
args = runs.parse_arguments(__doc__, dense_models.MODELS, knobs=globals(), folders=False)
runs.start(args)
runs.seed_everything(args.seed)  # the same seed, the same weights and scores
plots.prepare(args.show)

# %% [markdown]
# ## 1. Load clean images
#
# Pixels in [0, 1], shaped (N, 28, 28, 1): the same arrays the convolutional models
# eat. Each dense model flattens them to 784 numbers itself.

# %%
(x_train, _), (x_test, _) = data.load_dataset(args.dataset, args.data_dir, args.train_limit,
                                              args.test_limit)
print(f"{len(x_train)} training images, {len(x_test)} test images of {x_test.shape[1:]}")

# %% [markdown]
# ## 2. Corrupt them
#
# A denoiser learns from pairs (noisy, clean). The training batches get fresh noise
# every epoch, so the model never sees the same noisy copy twice. The `noise-layer`
# model is the exception: it gets clean batches and corrupts them itself, with a noise
# layer that acts only while training. The test images get one fixed noisy copy, made
# with a seed of its own: every model is scored on exactly the same noisy images.

# %%
in_model_noise = args.model == "noise-layer"
train_batches = noise.NoisyBatches(x_train, None if in_model_noise else args.noise,
                                   args.noise_level, args.batch_size, seed=args.seed)
x_test_noisy = noise.noisy_test_images(x_test, args.noise, args.noise_level)

# %% [markdown]
# ## 3. Build the model, and say how it learns
#
# The default, `deep`, narrows the 784 pixels down through 500, 300 and 100 numbers and
# widens them back: the 100-number code is the bottleneck that the noise cannot pass.
# dense_models.py holds it (`build_deep`) and every other preset.
#
# `compile` says how it learns: Adam, with a learning rate that falls along a cosine to
# 5% of its start over the whole run, the preset's loss, and PSNR reported after every
# epoch. With `--distribute`, the model is built and compiled in a scope that puts a
# copy of it on each device (machinery/distribute.py); otherwise on one device.

# %%
with distribute.scope(args.distribute):
    autoencoder = dense_models.MODELS[args.model].build(x_train.shape[1:], args.noise_level)
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
# With `--distribute` on JAX, each batch must split evenly between the devices:
# `distribute.divisible` keeps the test images that do, `distribute.shard` gives `fit`
# this process's share of each batch, and `distribute.one_device_copy` brings the
# trained model back onto one device, to score every test image. Without it, all three
# hand back what they are given.

# %%
validation = distribute.divisible(x_test_noisy, x_test)  # what divides between devices
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
# How much closer to the clean images is the output than the noisy input? PSNR (in dB)
# and SSIM (1.0 = identical), before and after; a blind model also at levels across
# its range.

# %%
x_test_denoised = autoencoder.predict(x_test_noisy, batch_size=256, verbose=0)
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
# samples.png: ten test images, original, noisy and denoised, each with its PSNR;
# history.png: the losses and the validation PSNR per epoch. A shallow model also shows
# its codes (codes.png): what it keeps of each noisy image, as a small tile of numbers.
# Then model.keras and, last, metrics.json, the sign that the run finished.

# %%
plots.save_samples(os.path.join(args.out, "samples.png"), x_test, x_test_noisy, x_test_denoised)
plots.save_history(os.path.join(args.out, "history.png"), epoch_log.history,
                   scores["noisy_psnr"])
if "levels" in scores:
    plots.save_levels(os.path.join(args.out, "levels.png"), scores["levels"], args.model,
                      f"trained on {args.noise} {noise.level_text(args.noise_level)}")
if args.model.startswith("shallow"):
    codes = dense_models.code_model(autoencoder).predict(x_test_noisy[:10], verbose=0)
    plots.save_codes(os.path.join(args.out, "codes.png"), x_test_noisy, codes, x_test_denoised)
runs.finish(args, autoencoder, epoch_log, scores, train_images=len(x_train))
if args.show:
    plots.show_figures()
