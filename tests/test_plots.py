"""The figures' choices that a reader would be misled by if they went wrong: which part of
a photo is enlarged, and where a bar chart's axis starts."""

import numpy as np

import plots


def test_the_enlarged_crop_is_fine_detail_inside_the_picture_not_an_edge_at_its_border():
    image = np.zeros((64, 64, 1), np.float32)
    image[:, 56:] = 1.0  # one strong edge near the right border, flat on either side
    checkerboard = (np.indices((16, 16)).sum(axis=0) % 2) * 0.3
    image[24:40, 16:32, 0] = checkerboard  # fine detail, well inside
    top, left = plots.most_detailed_crop(image, 16, 16)
    assert (top, left) == (24, 16)


def test_a_crop_as_large_as_the_picture_is_the_picture():
    assert plots.most_detailed_crop(np.zeros((8, 8, 3)), 8, 8) == (0, 0)


def test_bars_start_at_zero_and_a_long_title_is_wrapped_not_cut(tmp_path):
    plots.prepare(show=False)
    title = "bsd68, sigma 25, 68 test images, with a title long enough to run past the figure"
    figure = plots.save_bar_chart(tmp_path / "psnr.png", ["noisy input", "bm3d", "unet"],
                                  [20.2, 28.6, 28.9], ["gray", "orange", "blue"], title)
    axis = figure.axes[0]
    assert axis.get_xlim()[0] == 0 and axis.get_xlim()[1] > 28.9
    assert "\n" in axis.get_title() and axis.get_title().replace("\n", " ") == title
    assert (tmp_path / "psnr.png").stat().st_size > 0
    plots.close_figures()


def test_negative_and_failed_scores_still_make_a_chart_whose_bars_all_show(tmp_path):
    """A noise-layer run's noisy input scores below 0 dB; a model gone wrong, -inf."""
    plots.prepare(show=False)
    figure = plots.save_bar_chart(tmp_path / "psnr.png", ["noisy input", "model", "broken"],
                                  [-6.0, -3.0, float("-inf")], ["gray", "blue", "red"], "t")
    left, right = figure.axes[0].get_xlim()
    assert left < -6.0 and right >= 0.0
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["noisy input",
                                                                                "model"]
    plots.save_bar_chart(tmp_path / "none.png", ["broken"], [float("-inf")], ["red"], "t")
    assert (tmp_path / "none.png").stat().st_size > 0
    plots.close_figures()


def test_a_long_title_stays_inside_the_figure_beside_long_method_names(tmp_path):
    """The title is centred over the bars, which long method names push to the right."""
    plots.prepare(show=False)
    title = ("bsd68, sigma 25, 68 test images; a bar marked (published) is a paper's score, "
             "on noise of its own draw")
    names = ["noisy input", "unet-psnr-train400-sigma25", "DnCNN-S (published)"]
    figure = plots.save_bar_chart(tmp_path / "psnr.png", names, [20.2, 28.9, 29.2],
                                  ["gray", "blue", "green"], title)
    box = figure.axes[0].title.get_window_extent(figure.canvas.get_renderer())
    assert 0 <= box.x0 and box.x1 <= figure.bbox.width
    plots.close_figures()


def test_side_by_side_titles_too_wide_for_their_picture_break_and_never_overlap(tmp_path):
    """A long model name over a small picture would run into its neighbour's title."""
    plots.prepare(show=False)
    side = plots.SHOWN_SIDE  # as tools/real_pairs.py shows the real pairs, 3 to a row
    clean = np.random.default_rng(0).random((side, side, 3)).astype(np.float32)
    names = ["unet-psnr-cbsd432-camera.keras", "unet-psnr-cbsd432-blind.keras"]
    figure = plots.save_side_by_side(tmp_path / "samples.png", clean,
                                     {name: clean * 0.9 for name in names}, columns=3)
    renderer = figure.canvas.get_renderer()
    titled = [axis for axis in figure.axes if axis.get_title()]
    boxes = [axis.title.get_window_extent(renderer) for axis in titled]
    assert [axis.get_title().split("\n")[0] for axis in titled[1:]] == names
    assert all(axis.get_title().endswith(" dB") for axis in titled[1:])
    assert all(left.x1 <= right.x0 for left, right in zip(boxes, boxes[1:]))
    assert all(box.y1 <= figure.bbox.height for box in boxes)
    plots.close_figures()
