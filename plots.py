"""The pictures a learner wants to see after training a denoiser.

- `save_samples`: rows of original, noisy and denoised test images, each noisy and
  denoised image titled with its PSNR, so the number and the picture go together.
- `save_side_by_side`: one photo's versions at full resolution, each with its PSNR, above
  the same enlarged crop of each (an inset), where noise and detail show.
- `save_history`: training and validation loss, and validation PSNR, per epoch.
- `save_codes`: what a dense autoencoder keeps of each image: its code, drawn as a tile,
  and how far apart the codes of each pair of classes lie.
- `save_rows`, `save_bar_chart`, `save_sweep`: tools/compare.py's pictures of many denoisers
  on the same test images.
- `save_curves`: tools/curves.py's validation PSNR of several runs, epoch by epoch.
- `save_camera_noise_spreads`, `save_real_and_simulated_crops`: tools/camera_noise.py's
  real camera noise beside the simulated one.

Every figure is written to a PNG file, whole or not at all. The scripts call
`prepare(show)` first: with `--show` the figures also open in windows at the end
(`show_figures`); without it, matplotlib draws off-screen (the "Agg" backend), which
works on machines with no display. In a notebook they appear below their cells.
"""

import math
import textwrap

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np

import noise
from machinery import files
from metrics import image_quality


def prepare(show):
    """Draw off-screen unless the figures are to be shown in windows, or in a notebook
    (whose inline backend draws each figure below its cell)."""
    if not show and "inline" not in matplotlib.get_backend():
        plt.switch_backend("Agg")


def save_figure(figure, path):
    """Save `figure` as a PNG file, whole or not at all."""
    files.replace_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100))


def draw_image(axis, image, title=None):
    """Draw one (H, W, 1) or (H, W, 3) image in [0, 1] without axes, its pixels as squares
    (no smoothing between them)."""
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axis.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=8)


def save_samples(path, clean, noisy, denoised, count=10):
    """Save rows of original / noisy / denoised images, the last two with their PSNR."""
    return save_rows(path, clean, {"noisy": noisy, "denoised": denoised}, count)


def save_rows(path, clean, rows, count=10):
    """Save the originals above one row per entry of `rows` (a dict name -> images),
    every image titled with its PSNR: the same test images under every method."""
    count = min(count, len(clean))
    size = 1.2 if max(clean[0].shape[:2]) <= 64 else 2.4  # inches per image
    figure, axes = plt.subplots(1 + len(rows), count, squeeze=False,
                                figsize=(size * count, (size + 0.2) * (1 + len(rows))))
    for column in range(count):
        draw_image(axes[0, column], clean[column])
        for row, images in enumerate(rows.values(), start=1):
            one_psnr = image_quality(clean[column : column + 1],
                                     images[column : column + 1])["psnr"]
            draw_image(axes[row, column], images[column], f"{one_psnr:.1f} dB")
    for row, label in enumerate(("original", *rows)):
        axes[row, 0].set_ylabel(label, fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def most_detailed_crop(image, height, width):
    """The (top, left) of the height x width window with the most fine detail, away from
    the picture's border: where a denoiser's loss of detail, or the noise it left, is
    easiest to see.

    Detail is the mean difference between neighbouring pixels. A window's spread of
    values (its standard deviation) would favour one strong edge between two flat areas,
    such as a face against the background at the picture's edge, where there is little
    to see enlarged.
    """
    grey = image.mean(axis=-1)
    detail = np.zeros_like(grey)
    detail[:-1, :] += np.abs(np.diff(grey, axis=0))  # to the pixel below
    detail[:, :-1] += np.abs(np.diff(grey, axis=1))  # to the pixel on the right

    def starts(size, length):  # every half window, those that touch the border left out
        every = list(range(0, length - size + 1, max(1, size // 2)))
        inside = [start for start in every if 0 < start and start + size < length]
        return inside or every

    scores = {(top, left): detail[top : top + height, left : left + width].mean()
              for top in starts(height, grey.shape[0]) for left in starts(width, grey.shape[1])}
    return max(scores, key=scores.get)


# The largest window of a photo that a figure of several methods shows (save_side_by_side's
# `largest`): 192 x 192 pixels, so that a few of them at full size stay small enough to commit.
SHOWN_SIDE = 192


def save_side_by_side(path, clean, versions, columns=4, zoom=4, clean_name="original",
                      largest=None):
    """Save a photo and its `versions` (a dict name -> image) side by side, each at full
    resolution (one pixel of the picture to one pixel of the PNG, so nothing is smoothed
    away) with its PSNR, and below each the same crop enlarged `zoom` times (the most
    detailed 1/zoom of the picture, framed in the clean one, titled `clean_name`). At most
    `columns` a row (a title too wide for its picture puts the PSNR on a second line). With
    `largest`, a larger picture shows only its most detailed window of at most `largest` x
    `largest` pixels (and the PSNR is that window's): noise does not compress, and a figure
    of several whole photos at full size is megabytes.

    Shrunk to fit a page, 20 and 29 dB look alike; at full size and enlarged they do not.
    """
    if largest is not None:
        height, width = (min(side, largest) for side in clean.shape[:2])
        top, left = most_detailed_crop(clean, height, width)
        clean = clean[top : top + height, left : left + width]
        versions = {name: image[top : top + height, left : left + width]
                    for name, image in versions.items()}
    height, width = clean.shape[:2]
    crop_height, crop_width = max(1, height // zoom), max(1, width // zoom)
    top, left = most_detailed_crop(clean, crop_height, crop_width)
    panels = {clean_name: clean, **versions}
    psnrs = {name: image_quality([clean], [image])["psnr"] for name, image in versions.items()}
    # A title wider than its picture (about 6 pixels a letter) would run into the next one:
    # then each PSNR goes on a line of its own, and every title gets room for two lines.
    two_lines = any(len(f"{name}: 00.00 dB") * 6 > width for name in versions)
    separator = "\n" if two_lines else ": "
    titles = {clean_name: clean_name,
              **{name: f"{name}{separator}{psnr:.2f} dB" for name, psnr in psnrs.items()}}
    gap, title = 8, (34 if two_lines else 22)  # pixels between panels, and above each for its title
    rows = math.ceil(len(panels) / columns)
    shown_columns = min(columns, len(panels))
    panel_height = title + height + gap + crop_height * zoom
    figure_width = shown_columns * (width + gap) + gap
    figure_height = rows * (panel_height + gap) + gap
    figure = plt.figure(figsize=(figure_width / 100, figure_height / 100), dpi=100)

    def axis_at(x, y, box_width, box_height):  # a box in pixels from the top left
        return figure.add_axes([x / figure_width, 1 - (y + box_height) / figure_height,
                                box_width / figure_width, box_height / figure_height])

    for index, (name, image) in enumerate(panels.items()):
        x = gap + (index % columns) * (width + gap)
        y = gap + (index // columns) * (panel_height + gap) + title
        draw_image(axis_at(x, y, width, height), image, titles[name])
        crop = image[top : top + crop_height, left : left + crop_width]
        draw_image(axis_at(x, y + height + gap, crop_width * zoom, crop_height * zoom), crop)
    figure.axes[0].add_patch(matplotlib.patches.Rectangle(
        (left - 0.5, top - 0.5), crop_width, crop_height, fill=False, edgecolor="red"))
    save_figure(figure, path)
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
    save_figure(figure, path)
    return figure


def save_codes(path, images, codes, reconstructions, distances, count=10):
    """Save each image above its code (drawn as a small tile) and its reconstruction, and
    below them `distances` (`metrics.class_distances`): the mean distance between the codes
    of each pair of classes, which says whether codes of one class are alike.

    A code of length n is drawn as a tile of rows x columns cells with rows * columns = n
    (a 64-number code as 8 x 8), each cell's brightness the value of one number. Tiles show
    what a code is; only the distances can say how alike two classes' codes are.
    """
    count = min(count, len(images))
    length = codes.shape[-1]
    rows = max(r for r in range(1, math.isqrt(length) + 1) if length % r == 0)
    tiles = codes[:count].reshape(count, rows, length // rows)
    brightest = max(float(tiles.max()), 1e-12)
    figure = plt.figure(figsize=(1.2 * count, 9.6))
    grid = figure.add_gridspec(4, count, height_ratios=(1, 1, 1, 4.2))
    for column in range(count):
        image_axis, tile_axis, output_axis = (figure.add_subplot(grid[row, column])
                                              for row in range(3))
        draw_image(image_axis, images[column])
        tile_axis.imshow(tiles[column], cmap="viridis", vmin=0.0, vmax=brightest)
        tile_axis.set_xticks([])
        tile_axis.set_yticks([])
        draw_image(output_axis, reconstructions[column])
        if column == 0:
            for axis, label in zip((image_axis, tile_axis, output_axis),
                                   ("input", f"code ({length})", "output")):
                axis.set_ylabel(label)
    table_axis = figure.add_subplot(grid[3, :])
    table = np.array(distances["table"])
    shown = table_axis.imshow(table, cmap="magma")
    for (row, column), value in np.ndenumerate(table):
        table_axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if value < np.nanmean(table) else "black")
    ticks = range(len(distances["classes"]))
    table_axis.set(xticks=ticks, yticks=ticks, xticklabels=distances["classes"],
                   yticklabels=distances["classes"], xlabel="class", ylabel="class",
                   title=f"mean distance between codes: {number_text(distances['same_class'])} "
                         f"within a class, {number_text(distances['other_class'])} between classes")
    figure.colorbar(shown, ax=table_axis, fraction=0.046)
    save_figure(figure, path)
    return figure


def number_text(value):
    """A number with two decimals, or "-" for None (nothing to measure)."""
    return "-" if value is None else f"{value:.2f}"


def save_bar_chart(path, names, psnrs, colours, title):
    """Save a horizontal bar per method, in its colour, with its mean PSNR beside it.

    The axis starts at 0 dB (or below, for scores under 0), so that a bar's length is its
    score: an axis cut just below the lowest bar would make a 0.3 dB gap look like a
    doubling. The labels give the gaps.
    """
    shown = [(name, psnr, colour) for name, psnr, colour in zip(names, psnrs, colours)
             if np.isfinite(psnr)]  # a model gone wrong (-inf dB) stays in the table only
    figure, axis = plt.subplots(figsize=(7, 0.4 * len(shown) + 1.4))
    if shown:
        names, psnrs, colours = zip(*shown)
        bars = axis.barh(names, psnrs, color=colours)
        axis.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    axis.invert_yaxis()  # the first method on top, as in the table
    axis.set(xlabel="mean PSNR (dB)")
    axis.set_title(textwrap.fill(title, 60), fontsize=10)  # wrapped, never cut off
    values = [0.0, *(psnr for _, psnr, _ in shown)]
    low, high = min(values), max(values)
    room = 0.12 * (high - low) or 1  # for the labels beside the bars
    axis.set_xlim(low - (room if low < 0 else 0), high + room)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def save_sweep(path, levels, curves, title, xlabel="test noise level", emphasised=None):
    """Save PSNR against the test noise level, one line per method (`curves`: name -> PSNRs;
    None where a method failed, left as a gap). The methods named in `emphasised` (the
    models a comparison is about) are drawn bold; the others thin and faint, as a
    backdrop, so that the lines the page asks about are not lost among ten."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, psnrs in curves.items():
        if all(psnr is None for psnr in psnrs):  # a method that failed at every level
            continue
        if name == "noisy input":
            style = {"linestyle": "--", "color": "gray"}
        elif emphasised is None or name in emphasised:
            style = {"marker": "o", "linewidth": 2.2}
        else:
            style = {"marker": ".", "linewidth": 0.9, "alpha": 0.45}
        axis.plot(levels, np.array(psnrs, dtype=float), label=name, **style)
    axis.set(xlabel=xlabel, ylabel="mean PSNR (dB)", title=title)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def save_curves(path, curves, noisy_psnr, title, ylabel):
    """Save the validation PSNR per epoch of several runs (`curves`: run name -> its
    history's "val_psnr", epoch 0 = untrained), beside the noisy input's PSNR; and, in a
    second panel, the last half of the epochs on an axis fitted to them, where a gap of a
    few hundredths of a dB between the runs shows (on the first panel's axis, from the
    untrained score up, it would be a hair; whether such a gap is more than chance, one run
    of each cannot say)."""
    figure, (axis, zoom) = plt.subplots(1, 2, figsize=(11, 4.5))
    longest = max(len(psnrs) for psnrs in curves.values())
    start = min(longest // 2, max(longest - 2, 0))  # at least the last two points
    for name, psnrs in curves.items():
        line, = axis.plot(range(len(psnrs)), psnrs, "-", label=name)
        zoom.plot(range(start, len(psnrs)), psnrs[start:], ".-", color=line.get_color())
    axis.axhline(noisy_psnr, color="gray", linestyle="--", label="noisy input")
    axis.set(xlabel="epoch", ylabel=ylabel, title=title)
    zoom.set(xlabel="epoch", ylabel=ylabel,
             title=f"epochs {start} to {longest - 1}, closer (one run each)")
    for panel in (axis, zoom):
        panel.xaxis.get_major_locator().set_params(integer=True)
        panel.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def save_blind_levels(path, scores, model_name, kind, level):
    """With the scores of a model trained on a range of levels (metrics.blind_scores),
    save its PSNR across the range (`save_levels`); without, draw nothing."""
    if "levels" in scores:
        save_levels(path, scores["levels"], model_name,
                    f"trained on {kind} {noise.level_text(level)}")


def save_levels(path, levels, model_name, how_trained):
    """Save a blind model's PSNR across its range of noise levels, beside the noisy
    input's (`levels`: metrics.score_at_levels' list)."""
    return save_sweep(path, [entry["noise_level"] for entry in levels], {
        "noisy input": [entry["noisy_psnr"] for entry in levels],
        model_name: [entry["psnr"] for entry in levels]}, f"one {model_name} {how_trained}")


def save_knob(path, told_levels, curves, autos, title):
    """Save PSNR against the noise level a model is told, one curve per true level
    (`curves`: true level -> PSNRs at `told_levels`, which hold the true levels), a ring
    where it is told the truth, and a cross for the model told each picture's estimate
    (`autos`: true level -> {"estimated_level": mean estimate, "psnr"}). Levels are drawn
    as sigma of 255."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    told = np.array(told_levels) * 255
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, len(curves)))
    for (true_level, psnrs), colour in zip(curves.items(), colours):
        axis.plot(told, psnrs, "o-", color=colour, markersize=3,
                  label=f"true sigma {true_level * 255:.0f}")
        axis.plot(true_level * 255, psnrs[told_levels.index(true_level)], "o", markersize=10,
                  markerfacecolor="none", color=colour)
        axis.plot(autos[true_level]["estimated_level"] * 255, autos[true_level]["psnr"], "x",
                  markersize=9, color=colour)
    axis.plot([], [], "o", markerfacecolor="none", color="black", label="told the truth")
    axis.plot([], [], "x", color="black", label="told its estimate (auto)")
    axis.set(xlabel="the noise level the model is told (sigma of 255)",
             ylabel="mean PSNR (dB)", title=title)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def save_camera_noise_spreads(path, spreads):
    """Save the noise's spread against brightness, a panel a camera: `spreads` maps a
    camera's name to (real, simulated), each (3 channels, bins) of spreads out of 255, NaN
    where a bin was not measured. Solid lines real, dashed simulated, in each channel's
    colour."""
    figure, axes = plt.subplots(1, len(spreads), figsize=(3.2 * len(spreads), 3.2),
                                sharey=True, squeeze=False)
    for axis, (name, (real, simulated)) in zip(axes[0], spreads.items()):
        bins = real.shape[1]
        brightness = (np.arange(bins) + 0.5) / bins
        for channel, colour in enumerate(("red", "green", "blue")):
            axis.plot(brightness, real[channel], color=colour, marker="o", markersize=3)
            axis.plot(brightness, simulated[channel], color=colour, linestyle="--")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("brightness of the reference")
        axis.set_xlim(0, 1)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("noise spread (of 255)")
    axes[0][0].legend(handles=[
        matplotlib.lines.Line2D([], [], color="black", marker="o", markersize=3, label="real"),
        matplotlib.lines.Line2D([], [], color="black", linestyle="--", label="simulated")],
        fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def save_real_and_simulated_crops(path, reference, real, simulated, size=128, zoom=2):
    """Save the flattest `size` x `size` crop of a reference (where noise shows best), of
    its real noisy shot and of the simulated one, enlarged `zoom` times, and the two noises
    (shot minus reference), four times brighter around grey, where their grain shows."""
    starts = [(top, left) for top in range(0, reference.shape[0] - size + 1, size // 2)
              for left in range(0, reference.shape[1] - size + 1, size // 2)]
    top, left = min(starts, key=lambda start: reference[start[0] : start[0] + size,
                                                        start[1] : start[1] + size].std())
    crops = [picture[top : top + size, left : left + size]
             for picture in (reference, real, simulated)]
    panels = {"reference": crops[0], "real shot": crops[1], "simulated shot": crops[2],
              "real noise x4": 0.5 + 4 * (crops[1] - crops[0]),
              "simulated noise x4": 0.5 + 4 * (crops[2] - crops[0])}
    inches = size * zoom / 100
    figure, axes = plt.subplots(1, len(panels), figsize=(inches * len(panels), inches + 0.3))
    for axis, (name, picture) in zip(axes, panels.items()):
        draw_image(axis, picture, name)
    figure.tight_layout()
    save_figure(figure, path)
    return figure


def show_figures():
    """Open the figures made so far in windows (for --show), then wait for them to close."""
    plt.show()


def close_figures():
    """Free the figures made so far."""
    plt.close("all")
