"""Corrupt clean images with the noise a denoiser learns to remove.

Five kinds of noise, each a function (images, level, rng) -> new float32 images:

- gaussian:    images + level * N(0, 1), clipped to [0, 1]; `level` is the "noise factor".
- gaussian-unclipped: the same, not clipped, as the denoising literature measures it
               on photos: "BSD68 at sigma 25" means level 25/255 (write it just so).
- poisson:     shot noise, as in a camera that counts photons: each pixel counts
               Poisson(image * peak) photons, divided back by `peak`. The fewer photons
               (the lower the peak), the noisier the picture.
- salt-pepper: a fraction `level` of the pixels is set to 0 or to 1, half each.
- camera:      a real camera's noise at ISO `level`, from its measured profile: grows
               with brightness, differs per colour, spread between neighbours by the
               camera's demosaicking, multiplied by its white balance, in a JPEG
               (camera.py). "camera:NAME" (such as camera:Nikon D800): the same, from
               that one camera (noise_kind).

Each is one entry of NOISES, with its default level, the levels it takes and what they
mean: the scripts' --noise choices, their help and their checks all come from there.

How a model meets fresh noise while it trains is training.py's part. This module
needs no Keras (NumPy and scikit-image), so that denoise.py (denoiser.py) can run an
exported (ONNX) model without it.

The validation and test sets are different on purpose: `fixed_noisy_copy` corrupts them
with a fixed seed of its own, so every model and every run is scored on exactly the same
noisy images.
"""

import argparse
import functools
import math
from typing import Callable, NamedTuple

import numpy as np
import pywt
import skimage.restoration

import camera
import data


# The seed of the noise on the test images: the same for every script, model and --seed.
TEST_NOISE_SEED = 20240
# The seed of the noise on the validation images: another, so that no validation image gets
# the very noise of a test image.
VALIDATION_NOISE_SEED = 20241
# A model trained on a range of levels (--noise-level LOW:HIGH) is scored at this many
# levels spread evenly over it, both ends included.
RANGE_TEST_LEVELS = 5
# Draws the noise of corrupt_once apart from every batch's (whose seeds are [seed, epoch, index]).
ONCE_NOISE_STREAM = 2**32 - 1
# The ways a square picture can lie: 4 quarter turns, each also mirrored.
ORIENTATIONS = 8
# estimate_noise_level needs details that are not zero in at least this fraction of a
# picture; a wavelet detail smaller than ZERO_DETAIL is zero: rounding on a flat picture
# gives 1e-15, the smallest step of a 16-bit picture (1/65535) details of 1e-7 and more.
MIN_TEXTURED_FRACTION = 0.5
ZERO_DETAIL = 1e-9
# A camera's noise is spread between neighbouring pixels (by demosaicking, the camera's own
# filtering and JPEG), so the finest details, which estimate_noise_level reads, hold little of
# it: on the PolyU pairs about an eighth. estimate_camera_noise_level also reads the picture
# averaged over blocks of CAMERA_NOISE_BLOCK x CAMERA_NOISE_BLOCK pixels, where such noise
# lives on, and scales that estimate by CAMERA_NOISE_FACTOR. Both were chosen on half of the
# PolyU pairs, every other scene (python -m tools.noise_estimator; the other half scores).
CAMERA_NOISE_BLOCK = 4
CAMERA_NOISE_FACTOR = 2.93
# --noise-level camera (CAMERA): for a full-size picture from a camera, tell a model
# CAMERA_LEVEL_FACTOR times the spread of the camera's noise that
# estimate_camera_noise_level estimates. unet-level-cbsd432 learned white Gaussian noise; on
# a camera's noise, spread between neighbouring pixels, it scores best told several times
# its spread. Chosen on half of the PolyU pairs (python -m tools.noise_estimator). A model
# told the level that learns camera noise is told the same (level_told).
CAMERA_LEVEL_FACTOR = 3.5
# Fewer blocks a side than this are too few to estimate from.
MIN_BLOCKS = 16


def gaussian(images, factor, rng):
    """images + factor * N(0, 1), clipped back to the valid pixel range [0, 1]."""
    noisy = images + factor * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)


def gaussian_unclipped(images, sigma, rng):
    """images + sigma * N(0, 1), left unclipped: pixels may fall outside [0, 1]."""
    return images + sigma * rng.standard_normal(images.shape, dtype=np.float32)


def poisson(images, peak, rng):
    """Shot noise: Poisson photon counts at `peak` photons for a white pixel."""
    counts = rng.poisson(images * peak)
    return np.clip(counts / peak, 0.0, 1.0).astype(np.float32)


def salt_pepper(images, fraction, rng):
    """Set a random `fraction` of the pixels to 0 (pepper) or 1 (salt), half each."""
    noisy = np.array(images, dtype=np.float32)
    hit = rng.random(images.shape) < fraction
    noisy[hit] = rng.random(int(hit.sum())) < 0.5
    return noisy


class Noise(NamedTuple):
    """A kind of noise, and all the project knows of it: add a kind by adding one entry
    to NOISES, and every script's --noise choices, help and checks know it."""

    corrupt: Callable  # (images, level, rng) -> noisy float32 images; level may be per image
    default_level: float  # the level a run uses when none is given
    level_range: tuple  # the levels it takes, LOW to HIGH
    meaning: str  # what --noise-level means for it, as --help says it
    level_name: str  # its level in words, for the line that refuses a wrong one
    low_included: bool = True  # False: the level must be above LOW (a photon count)
    sigma_scale: int = 1  # 255: the photo papers name it by its sigma on the 0-255 scale
    # What a model told the level (unet-level) is told of this noise: None, its level, which
    # is the noise's standard deviation; else the name of the estimate (ESTIMATES)
    # it is told, as the level is not one (an ISO, a photon count, a fraction).
    told: str | None = None


# What a model told the level (unet-level) can be told besides a number, as denoise.py
# --noise-level takes it: each picture's estimate, `auto` (estimate_noise_level), or for a
# camera's photo `camera` (estimate_camera_noise_level, times CAMERA_LEVEL_FACTOR).
AUTO = "auto"
CAMERA = "camera"
ESTIMATES = (AUTO, CAMERA)

# Every kind of noise. The ranges: a Gaussian standard deviation up to ten times the pixel
# range (the noise-layer write-up trains at 2 and 6), a Poisson peak above 0 (a photon
# count: a million is as good as clean), a fraction of the pixels, the ISOs darktable's
# profiles measured cameras at.
NOISES = {
    "gaussian": Noise(gaussian, 0.2, (0, 10), "the noise factor (standard deviation on the "
                      "[0, 1] scale), 0 to 10", "a Gaussian noise level"),
    "gaussian-unclipped": Noise(gaussian_unclipped, 25 / 255, (0, 10), "the standard deviation "
                                "on the [0, 1] scale (25/255 for sigma 25), 0 to 10",
                                "a Gaussian noise level", sigma_scale=255),
    "poisson": Noise(poisson, 30.0, (0, 1e6), "the peak photon count (lower is noisier), above "
                     "0, at most 1e6", "a Poisson peak photon count", low_included=False,
                     told=AUTO),
    "salt-pepper": Noise(salt_pepper, 0.1, (0, 1), "the fraction of pixels set to 0 or 1, 0 to 1",
                         "a salt-and-pepper fraction", told=AUTO),
    "camera": Noise(camera.add_camera_noise, 1600.0, (50, 102400), "the camera's ISO, 50 to "
                    "102400 (each picture gets one of darktable's measured cameras at that ISO)",
                    "an ISO", told=CAMERA),
}


# A kind "camera:NAME" is camera noise from one camera of darktable's profiles, named as
# camera.camera_named takes it ("camera:Nikon D800"), in place of one drawn for each picture.
ONE_CAMERA = "camera:"


def noise_kind(kind):
    """The Noise of `kind`: an entry of NOISES, or for "camera:NAME" the camera noise of that
    one camera (one_camera_noise). ValueError, in one line, for a kind that is neither."""
    if kind in NOISES:
        return NOISES[kind]
    if not kind.startswith(ONE_CAMERA):
        raise ValueError(f"unknown noise {kind!r}: choose one of {', '.join(NOISES)}, or "
                         f"{ONE_CAMERA}NAME for one camera")
    return one_camera_noise(kind[len(ONE_CAMERA):])


@functools.lru_cache(maxsize=None)
def one_camera_noise(name):
    """Camera noise from the one camera called `name` (camera.camera_named, which names the
    nearest cameras when there is none), at the ISOs it was measured at: no extrapolation.
    Made once for each name: every batch of a run looks it up. ValueError, in one line, where
    the profiles cannot be had either (data.DatasetError says why)."""
    try:
        taken_by = camera.camera_named(name)
    except data.DatasetError as error:
        raise ValueError(str(error)) from None
    low, high = float(taken_by.isos[0]), float(taken_by.isos[-1])
    return NOISES["camera"]._replace(
        corrupt=functools.partial(camera.add_camera_noise, taken_by=taken_by),
        default_level=min(max(NOISES["camera"].default_level, low), high),
        level_range=(low, high), level_name=f"an ISO of the {taken_by.name}",
        meaning=f"the ISO of the {taken_by.name}, {low:g} to {high:g}")


def kind_argument(text):
    """argparse type of --noise: a kind of NOISES, or "camera:NAME" (noise_kind)."""
    try:
        noise_kind(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def kind_help():
    """The kinds --noise takes, for --help."""
    return (f"{', '.join(NOISES)}, or {ONE_CAMERA}NAME: camera noise of one camera of "
            f"darktable's profiles, such as '{ONE_CAMERA}Nikon D800' (at ISOs within those it was "
            f"measured at)")


def level_help():
    """What --noise-level means for each kind of noise, and its default, for --help."""
    return "; ".join(f"{kind}: {noise.meaning}, default {noise.default_level:g}"
                     for kind, noise in NOISES.items())


def level_argument(text):
    """argparse type of one noise level: a number, or a fraction such as 25/255."""
    numerator, _, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"must be a number or a fraction such as 25/255, "
                                         f"not {text!r}") from None


def level_or_range_argument(text):
    """argparse type of the training scripts' --noise-level: one level, or a range
    LOW:HIGH of levels, [low, high], for a blind model (see `draw_levels`)."""
    ends = text.split(":")
    if len(ends) > 2:
        raise argparse.ArgumentTypeError(f"a range has two ends, LOW:HIGH, not {text!r}")
    levels = [level_argument(end) for end in ends]
    return levels if len(levels) == 2 else levels[0]


def level_of(kind):
    """An argparse type: one noise level (a number, or a fraction such as 25/255) that makes
    sense for noise of `kind` (check_level), or the reason it does not, in one line."""
    def parse(text):
        level = level_argument(text)
        try:
            check_level(kind, level)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return level
    return parse


def level_text(level):
    """0.2 -> '0.2'; [0.05, 0.5] -> '0.05:0.5', as --noise-level takes them."""
    return ":".join(f"{end:g}" for end in level) if is_range(level) else f"{level:g}"


def describe(kind, level):
    """The noise as the literature names it: unclipped Gaussian by its sigma on the 0-255
    scale ("sigma 25", for a level of 25/255); other noise by kind and level."""
    scale = noise_kind(kind).sigma_scale
    if scale == 1:
        return f"{kind} {level_text(level)}"
    # rounded: 0.215686 (55/255 as printed) is sigma 55
    scaled = ([round(end * scale, 1) for end in level] if is_range(level)
              else round(level * scale, 1))
    return f"sigma {level_text(scaled)}"


def is_range(level):
    """Is `level` a range [low, high] (a list, or a tuple) rather than one number?"""
    return isinstance(level, (list, tuple))


def check_level(kind, level):
    """Raise ValueError, with the reason, when `level` (or a range) makes no sense for `kind`."""
    if is_range(level):
        low, high = level
        if not low < high:
            raise ValueError(f"a range LOW:HIGH needs LOW < HIGH, not {low:g}:{high:g}")
        check_level(kind, low)
        check_level(kind, high)
        return
    noise = noise_kind(kind)
    if not math.isfinite(level):
        raise ValueError(f"the noise level must be a finite number, not {level}")
    low, high = noise.level_range
    if not noise.low_included and not low < level <= high:
        raise ValueError(f"{noise.level_name} must be above {low:g} and at most {high:g} "
                         f"(got {level:g})")
    if not low <= level <= high:
        raise ValueError(f"{noise.level_name} must lie in [{low:g}, {high:g}] (got {level:g})")


def add_noise(images, kind, level, seed):
    """Return a corrupted copy of `images`; `seed` is an int or a np.random.Generator."""
    check_level(kind, level)
    return noise_kind(kind).corrupt(np.asarray(images, dtype=np.float32), level,
                                    np.random.default_rng(seed))


def draw_levels(level, count, rng):
    """The noise level of each of `count` images: `level` itself, or, for a range, a level
    per image drawn uniformly from it, shaped (count, 1, 1, 1) to broadcast over images.

    This is how one "blind" model learns every level in the range: it must judge from
    the image itself how noisy it is, and never needs to be told.
    """
    if not is_range(level):
        return level
    return rng.uniform(*level, size=(count, 1, 1, 1)).astype(np.float32)


def estimate_noise_level(image):
    """The Gaussian noise level (standard deviation, on the [0, 1] scale) of one noisy
    (H, W, C) image, as scikit-image estimates it: from the finest wavelet details, where
    a photo has little but noise has as much as anywhere (Donoho's median rule), averaged
    over the channels. Fine texture shows there too, so on a detailed photo it says a
    little more than the truth. NaN where there is too little to estimate from
    (has_texture_to_estimate_from): the caller says what to do."""
    if not has_texture_to_estimate_from(image):
        return math.nan
    return float(skimage.restoration.estimate_sigma(image, average_sigmas=True,
                                                    channel_axis=-1))


def estimate_camera_noise_level(image, block=CAMERA_NOISE_BLOCK, factor=CAMERA_NOISE_FACTOR):
    """The spread (standard deviation, on the [0, 1] scale) of a camera's noise in one noisy
    (H, W, C) picture: the larger of estimate_noise_level's answer and `factor` times its
    answer on the picture averaged over `block` x `block` blocks (block_means).

    White noise averages away in blocks (in 4x4 blocks to a quarter of its spread), so on
    it the first is mostly the larger, and the answer is estimate_noise_level's. Noise
    spread between neighbours, as a camera's is, lives on in the blocks, and the second is
    the larger. So does fine texture: on a photo whose texture is strong beside its noise
    (a small or shrunk photo of grass or fur, with little noise), the second reads the
    texture as noise, and says too much (tools/noise_estimator.py measures how much). On a
    picture of fewer than MIN_BLOCKS blocks a side, the first alone; NaN where
    estimate_noise_level gives none."""
    fine = estimate_noise_level(image)
    blocks = block_means(image, block)
    if math.isnan(fine) or min(blocks.shape[:2]) < MIN_BLOCKS:
        return fine
    coarse = estimate_noise_level(blocks)
    return fine if math.isnan(coarse) else max(fine, factor * coarse)


def block_means(image, block):
    """An (H, W, C) picture averaged over `block` x `block` blocks: (H // block, W // block,
    C); the last rows and columns that fill no block are left out."""
    if np.ndim(image) != 3:
        raise ValueError(f"block_means takes a picture (height, width, channels), not one of "
                         f"shape {np.shape(image)}")
    height, width = image.shape[0] // block * block, image.shape[1] // block * block
    blocks = np.asarray(image, np.float32)[:height, :width].reshape(
        height // block, block, width // block, block, image.shape[-1])
    return blocks.mean(axis=(1, 3))


def has_texture_to_estimate_from(image):
    """Are most finest wavelet details of each channel of an (H, W, C) image not zero?

    scikit-image leaves out the details that are exactly zero and takes the median of the
    rest. Where most are zero (a flat picture, or one almost all of one value), that
    median says nothing about noise: flat white gave 0 (its rounding errors), flat black
    nothing at all, and black with a few white dots sigma 40.9 (the dots' edges). So such
    a picture gets no estimate. A photo, clean or noisy, has details almost everywhere
    (79% to 100% on the test sets' clean photos, 100% with any noise).
    """
    for channel in np.moveaxis(np.asarray(image, np.float32), -1, 0):
        details = pywt.dwtn(channel, "db2")["dd"]  # the wavelet and details scikit-image uses
        if np.mean(np.abs(details) > ZERO_DETAIL) < MIN_TEXTURED_FRACTION:
            return False
    return True


def takes_noise_level(model):
    """Is `model` told the noise level, as a second input named noise_level (unet-level)?"""
    return "noise_level" in [tensor.name for tensor in model.inputs]


def model_inputs(noisy, level, told_the_level):
    """What a model is given: the noisy images or, for a model told the noise level, the
    images and each one's level, {"noisy": (N, H, W, C), "noise_level": (N, 1)}.
    `level` is one number, or one per image."""
    if not told_the_level:
        return noisy
    levels = np.broadcast_to(np.asarray(level, np.float32).reshape(-1, 1), (len(noisy), 1))
    return {"noisy": noisy, "noise_level": levels}


def can_be_told(kind):
    """Whether a model told the level (unet-level) can learn noise of `kind`: the Gaussian
    kinds, whose level is their standard deviation, and camera noise, told its measured
    spread (level_told); not a kind whose level is a photon count or a fraction."""
    return noise_kind(kind).told in (None, CAMERA)


def level_told(kind, level, clean, noisy):
    """The level a model told the level learns with, or is scored with, for the `noisy`
    images (N, H, W, C) made from `clean` by noise of `kind` at `level`: the level itself,
    the standard deviation of the Gaussian kinds. For camera noise, whose level is an ISO,
    what `denoise.py --noise-level camera` will tell it of a camera's photo:
    CAMERA_LEVEL_FACTOR times the noise's spread, here measured (each image's standard
    deviation of noisy minus clean), where denoise.py estimates it."""
    if noise_kind(kind).told != CAMERA:
        return level
    return CAMERA_LEVEL_FACTOR * np.std(noisy - clean, axis=tuple(range(1, np.ndim(noisy))))


def levels_to_score(level):
    """The levels to score a model at: `level`, or RANGE_TEST_LEVELS levels spread evenly
    over a range, its middle one the level the run validates on (`middle_level`)."""
    if not is_range(level):
        return [level]
    return [float(value) for value in np.linspace(*level, RANGE_TEST_LEVELS)]


def middle_level(level):
    """`level`, or the middle of a range: the fixed noisy test images are made at it."""
    return levels_to_score(level)[RANGE_TEST_LEVELS // 2] if is_range(level) else level


def fixed_noisy_copy(images, kind, level, seed=TEST_NOISE_SEED):
    """One fixed noisy copy of the test images (or, with seed=VALIDATION_NOISE_SEED, of the
    validation images): the same noise for every model, run and --seed, so that scores
    compare.

    `images` is an array (N, H, W, C), or a list of (H, W, C) arrays of any sizes
    (a folder of photos), each corrupted in turn by one seeded generator. For a range
    of levels, they are made at its middle.
    """
    level = middle_level(level)
    if isinstance(images, np.ndarray):
        return add_noise(images, kind, level, seed)
    return corrupt_each(images, kind, level, seed)


def corrupt_once(images, kind, level, seed):
    """One noisy copy of each training image, made once and kept: what a camera gives,
    for a model that trains on noisy pictures alone (target "neighbours"). A range of
    levels gives each image a level of its own."""
    rng = np.random.default_rng([seed, ONCE_NOISE_STREAM])
    if isinstance(images, np.ndarray):
        return noise_kind(kind).corrupt(images, draw_levels(level, len(images), rng), rng)
    return [noise_kind(kind).corrupt(image[None], draw_levels(level, 1, rng), rng)[0]
            for image in images]


def corrupt_each(images, kind, level, seed):
    """Corrupt a list of images of any sizes in turn, drawing from one generator."""
    generator = np.random.default_rng(seed)
    return [add_noise(image, kind, level, generator) for image in images]


def orient(images, orientations):
    """`images` (..., H, W, C) in one of their ORIENTATIONS, a number from 0 to 7:
    mirrored left to right when it is 4 or more, then turned by `orientation % 4` quarter
    turns (anticlockwise). The training flips (training.py) and the self-ensemble
    (denoiser.py) both turn pictures with it.

    `orientations` is one number, for all the images alike, or one number per image of
    a batch (N, S, S, C): each image then in its own orientation (square ones, so that
    the batch keeps its shape)."""
    if np.ndim(orientations) == 0:
        mirrored = np.flip(images, axis=-2) if orientations >= 4 else images
        return np.rot90(mirrored, orientations % 4, axes=(-3, -2))
    return np.stack([orient(image, orientation)
                     for image, orientation in zip(images, orientations)])


def orient_back(images, orientation):
    """Undo orient(images, orientation): turn back, then mirror back."""
    turned_back = np.rot90(images, -(orientation % 4), axes=(-3, -2))
    return np.flip(turned_back, axis=-2) if orientation >= 4 else turned_back
