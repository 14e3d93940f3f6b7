"""The pictures a learner wants to see after training a denoiser.

- `save_samples`: rows of original, noisy and denoised test images, each noisy and
  denoised image titled with its PSNR, so the number and the picture go together.
- `save_history`: training and validation loss, and validation PSNR, per epoch.
- `save_codes`: what a dense autoencoder keeps of each image: its code, drawn as a tile.

Every figure is written to a PNG file. The scripts call `prepare(show)` first: with
`--show` the figures also open in windows at the end (`show_figures`); without it,
matplotlib draws off-screen (the "Agg" backend), which works on machines with no display.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

from metrics import image_quality


def prepare(show):
    """Draw off-screen unless the figures are to be shown in windows."""
    if not show:
        plt.switch_backend("Agg")


def draw_image(axis, image, title=None):
    """Draw one (H, W, 1) or (H, W, 3) image in [0, 1] without axes."""
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        axis.imshow(np.clip(image, 0.0, 1.0))
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=8)


def save_samples(path, clean, noisy, denoised, count=10):
    """Save rows of original / noisy / denoised images, the last two with their PSNR."""
    count = min(count, len(clean))
    figure, axes = plt.subplots(3, count, figsize=(1.2 * count, 4.2), squeeze=False)
    for column in range(count):
        one = slice(column, column + 1)
        noisy_psnr = image_quality(clean[one], noisy[one])["psnr"]
        denoised_psnr = image_quality(clean[one], denoised[one])["psnr"]
        draw_image(axes[0, column], clean[column])
        draw_image(axes[1, column], noisy[column], f"{noisy_psnr:.1f} dB")
        draw_image(axes[2, column], denoised[column], f"{denoised_psnr:.1f} dB")
    for row, label in enumerate(("original", "noisy", "denoised")):
        axes[row, 0].set_ylabel(label)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


def save_history(path, history, noisy_psnr):
    """Save the loss curves and the validation PSNR per epoch (epoch 0 = untrained).

    `history` maps "loss", "val_loss" and "val_psnr" to lists; "loss" starts at epoch 1,
    the validation lists at epoch 0. The noisy input's PSNR is drawn as the line to beat.
    """
    figure, (loss_axis, psnr_axis) = plt.subplots(1, 2, figsize=(10, 4))
    validation_epochs = range(len(history["val_loss"]))
    loss_axis.plot(range(1, len(history["loss"]) + 1), history["loss"], "o-", label="training")
    loss_axis.plot(validation_epochs, history["val_loss"], "o-", label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_axis.legend()
    psnr_axis.plot(validation_epochs, history["val_psnr"], "o-", label="denoised")
    psnr_axis.axhline(noisy_psnr, color="gray", linestyle="--", label="noisy input")
    psnr_axis.set(xlabel="epoch", ylabel="PSNR (dB)", title="Validation PSNR")
    psnr_axis.legend()
    for axis in (loss_axis, psnr_axis):
        axis.xaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


def save_codes(path, images, codes, reconstructions, count=10):
    """Save each image above its code (drawn as a small tile) and its reconstruction.

    A code of length n is drawn as a tile of rows x columns cells with rows * columns = n
    (a 64-number code as 8 x 8), each cell's brightness the value of one number.
    """
    count = min(count, len(images))
    length = codes.shape[-1]
    rows = max(r for r in range(1, math.isqrt(length) + 1) if length % r == 0)
    tiles = codes[:count].reshape(count, rows, length // rows)
    brightest = max(float(tiles.max()), 1e-12)
    figure, axes = plt.subplots(3, count, figsize=(1.2 * count, 4.2), squeeze=False)
    for column in range(count):
        draw_image(axes[0, column], images[column])
        axes[1, column].imshow(tiles[column], cmap="viridis", vmin=0.0, vmax=brightest)
        axes[1, column].set_xticks([])
        axes[1, column].set_yticks([])
        draw_image(axes[2, column], reconstructions[column])
    for row, label in enumerate(("input", f"code ({length})", "output")):
        axes[row, 0].set_ylabel(label)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


def show_figures():
    """Open the figures made so far in windows (for --show), then wait for them to close."""
    plt.show()


def close_figures():
    """Free the figures made so far."""
    plt.close("all")
