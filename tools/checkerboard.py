"""Why a transposed convolution can paint a checkerboard, and resize-then-convolve cannot.

  python -m tools.checkerboard --out DIR      # writes DIR/checkerboard.png

A decoder must grow a small map back into a picture. Conv2DTranspose with stride 2 does it
by stamping its 3x3 kernel, scaled by each input pixel, onto a grid twice as large, one
stamp every 2 pixels. Stamps of 3 pixels at a step of 2 overlap on every other row and
column, so some output pixels get one stamp, some two and some four. Feed it a flat map and
a kernel of ones, and the output is not flat: it is a checkerboard. A trained network can
learn weights that hide it, but it has to spend its training on that.

UpSampling2D followed by Conv2D makes every output pixel the same way: each pixel is
repeated, then every output is the sum over the same 3x3 neighbourhood. The same flat map
comes out flat (but at the border, where the zero padding begins).

The lesson docs/convolutional.md shows this figure; docs/ is made by tools/make_docs.py.
"""

import argparse
import os

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import keras
import matplotlib.pyplot as plt
import numpy as np

import plots

# The flat input map: every value 1, this many pixels a side.
MAP_SIDE = 8


def upsamplers():
    """The two ways to double a map's size, each with a 3x3 kernel of ones and no bias."""
    return {
        "Conv2DTranspose, stride 2": keras.layers.Conv2DTranspose(
            1, 3, strides=2, padding="same", kernel_initializer="ones", use_bias=False),
        "UpSampling2D, then Conv2D": keras.Sequential([
            keras.layers.UpSampling2D(2),
            keras.layers.Conv2D(1, 3, padding="same", kernel_initializer="ones",
                                use_bias=False)]),
    }


def save_checkerboard(path):
    """Save the flat input beside what each upsampler makes of it, each scaled to its
    own largest value, with the values of one 4x4 corner of its inside printed."""
    flat = np.ones((1, MAP_SIDE, MAP_SIDE, 1), dtype="float32")
    outputs = {name: keras.ops.convert_to_numpy(layer(flat))[0]
               for name, layer in upsamplers().items()}
    figure, axes = plt.subplots(1, 3, figsize=(10, 3.8))
    plots.draw_image(axes[0], flat[0], f"a flat {MAP_SIDE}x{MAP_SIDE} map")
    for axis, (name, output) in zip(axes[1:], outputs.items()):
        plots.draw_image(axis, output / output.max(), name)
        inside = output[4:8, 4:8, 0].astype(int)  # away from the zero-padded border
        axis.set_xlabel("inside: " + " / ".join(" ".join(map(str, row)) for row in inside[:2]),
                        fontsize=8)
    figure.tight_layout()
    plots.save_figure(figure, path)
    return outputs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.checkerboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/checkerboard",
                        help="the folder for checkerboard.png (default: runs/checkerboard)")
    args = parser.parse_args(argv)
    plots.prepare(show=False)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "checkerboard.png")
    save_checkerboard(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
