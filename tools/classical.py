"""Classical denoisers, the bar any learned denoiser has to clear.

Each method is a few lines around scikit-image (and the optional `bm3d` package), with
one number to set: how strongly it smooths. Smooth too little and the noise stays;
too much and the edges go. The right number depends on the noise, so `tune` tries a
few candidates on *training* images corrupted like the test images and keeps the best.
The test images never choose a parameter: that would flatter the classical methods the
way testing a network on its training images flatters the network.

- gaussian-filter: blur with a Gaussian of `sigma` pixels: noise and edges alike.
- median: the median of each k x k window; good against salt-and-pepper noise.
- total-variation: the closest image with little total variation (Chambolle); keeps
  sharp edges, flattens textures ("cartoon" look).
- non-local-means: average each pixel with pixels whose surrounding patches look alike,
  anywhere nearby; `h` is how alike they must be.
- wavelet: shrink the small wavelet coefficients, where noise lives (BayesShrink sets
  the threshold per image from its estimated noise; nothing to tune).
- bm3d: group similar patches into 3-D stacks and filter each stack together; the
  classical state of the art. From the `bm3d` package, only when it is installed
  (`pip install bm3d`; free for non-commercial use only, so not in requirements.txt).

Candidate strengths are multiples of the noise's standard deviation as scikit-image
estimates it from the noisy images (`estimate_sigma`), so the same grid fits every
noise kind and level.

Run alone, it lists each method with the strengths `tune` tries for noise of a given
sigma; tools/compare.py scores them:

  python -m tools.classical --noise-sigma 25/255
  python -m tools.compare --classical median wavelet --limit 300
"""

import argparse
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import skimage.filters
import skimage.restoration

import noise

try:
    import bm3d
except ImportError:  # optional: see the module docstring
    bm3d = None

BM3D_MISSING = "not installed (pip install bm3d; free for non-commercial use only)"


@dataclass(frozen=True)
class Method:
    """A classical denoiser: how to apply it and which strengths `tune` tries."""

    parameter: str  # the name of the number that is tuned, for the results table
    candidates: Callable[[float], tuple]  # estimated noise sigma -> values to try
    denoise: Callable[[np.ndarray, float], np.ndarray]  # (image (H, W, C), value) -> image


def is_colour(image):
    return image.shape[-1] == 3


def gaussian_filter(image, sigma):
    return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1, preserve_range=True)


def median(image, size):
    return skimage.filters.median(image, footprint=np.ones((size, size, 1), dtype=bool))


def total_variation(image, weight):
    return skimage.restoration.denoise_tv_chambolle(image, weight=weight, channel_axis=-1)


def non_local_means(image, h):
    # Patches of 5x5 searched within 6 pixels: small enough for 28x28 digits too.
    return skimage.restoration.denoise_nl_means(image, h=h, patch_size=5, patch_distance=6,
                                                fast_mode=True, channel_axis=-1)


def wavelet(image, _):
    return skimage.restoration.denoise_wavelet(image, method="BayesShrink", mode="soft",
                                               rescale_sigma=True, channel_axis=-1,
                                               convert2ycbcr=is_colour(image))


def block_matching_3d(image, sigma):
    if is_colour(image):
        return bm3d.bm3d_rgb(image, sigma_psd=sigma)
    return bm3d.bm3d(image[..., 0], sigma_psd=sigma)[..., np.newaxis]


def times(*factors):
    """Candidates that are multiples of the estimated noise sigma."""
    return lambda sigma: tuple(round(factor * sigma, 4) for factor in factors)


METHODS = {
    "gaussian-filter": Method("sigma (pixels)", lambda _: (0.35, 0.5, 0.75, 1.0, 1.5, 2.0),
                              gaussian_filter),
    "median": Method("window (pixels)", lambda _: (3, 5), median),
    "total-variation": Method("weight", times(0.125, 0.25, 0.5, 1.0, 2.0), total_variation),
    "non-local-means": Method("h", times(0.5, 1.0, 1.5, 2.0, 3.0), non_local_means),
    "wavelet": Method("threshold (BayesShrink, per image)", lambda _: (None,), wavelet),
}
if bm3d is not None:
    METHODS["bm3d"] = Method("sigma", times(0.75, 1.0, 1.5, 2.0, 3.0), block_matching_3d)
METHOD_NAMES = (*METHODS, "bm3d") if bm3d is None else tuple(METHODS)


def estimate_noise_sigma(images):
    """The mean noise standard deviation that scikit-image estimates in `images`: a scale
    for the strengths tried, not a level told to a model, so taken also where
    noise.estimate_noise_level refuses to guess (digits whose black background Poisson
    noise leaves at 0); a picture of one flat colour, which gives no estimate, is left out."""
    with warnings.catch_warnings():  # a flat picture's empty median, and an all-flat mean
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean([skimage.restoration.estimate_sigma(
            image, average_sigmas=True, channel_axis=-1) for image in images]))


def denoise_images(name, value, images):
    """Apply method `name` with strength `value` to each image; float32 in [0, 1].

    A plain function of picklable arguments, so that a process pool can run it on
    chunks of images in parallel.
    """
    method = METHODS[name]
    # reshape: some scikit-image functions drop a channel axis of size 1.
    return [np.clip(method.denoise(image.astype(np.float64), value), 0.0, 1.0)
            .reshape(image.shape).astype(np.float32) for image in images]


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.classical", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noise-sigma", type=noise.level_of("gaussian-unclipped"),
                        default=25 / 255, metavar="SIGMA",
                        help="the noise's standard deviation on the 0-1 scale, as "
                             "estimate_noise_sigma would find it, for which to list the "
                             "strengths tried (default: 25/255)")
    return parser.parse_args(argv)


def method_line(name, sigma):
    """One method in words: what it tunes and the values tried at `sigma`, or why it is
    missing."""
    if name not in METHODS:
        return f"{name}: {BM3D_MISSING}"
    method = METHODS[name]
    values = [f"{value:g}" for value in method.candidates(sigma) if value is not None]
    return f"{name}: {method.parameter}" + (f", tried {', '.join(values)}" if values else "")


def main(argv=None):
    args = parse_arguments(argv)
    print(f"The classical denoisers, and the strengths tried for noise of sigma "
          f"{args.noise_sigma:.4g} (x255: {args.noise_sigma * 255:.3g}):")
    for name in METHOD_NAMES:
        print("  " + method_line(name, args.noise_sigma))


if __name__ == "__main__":
    main()
