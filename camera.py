"""Camera noise: what a real camera adds to a picture, from its measured noise profile.

A camera's sensor counts light. Its noise grows with the brightness (shot noise, the
randomness of photons: a variance of a*x at a pixel whose true value is x) on top of a
floor (read noise, a variance of b), with (a, b) per colour channel: the
Poisson-Gaussian model of Foi et al. ("Practical Poissonian-Gaussian noise modeling and
fitting for single-image raw-data", IEEE TIP 2008). darktable measured (a, b) for 374
cameras at each of their ISO settings (data.camera_profiles_path: downloaded by URL and
checksum, GPL-3.0 data, never part of this repository).

Those numbers hold for the raw sensor values, before the camera turns them into a
picture. So, as Brooks et al. do ("Unprocessing images for learned raw denoising", CVPR
2019), a clean sRGB picture is first taken back to linear sensor values (the inverse of
a simple tone curve, then of the sRGB curve), and, in colour, to a Bayer mosaic (each
sensor pixel sees one colour: red, green or blue in an RGGB pattern). The noise is added
there. Then the picture goes forward again: demosaicked (each pixel's two missing
colours interpolated from its neighbours, which spreads its noise to them, as in a real
camera), then through the sRGB curve and the tone curve. Only the noise is demosaicked,
and added to the clean picture's own colours: interpolating the picture itself would
also blur it, and a model would learn to undo that blur as well, which is another task.
Around the sensor, two steps of a camera's own processing are drawn as Brooks et al. draw
them: white balance, which multiplies red and blue (and their noise) to make a white wall
white, and a brightening of the whole picture. Last, the picture is saved as a JPEG, as a
camera or phone saves it, at a quality drawn as CBDNet does (Guo et al., "Toward
convolutional blind denoising of real photographs", CVPR 2019): JPEG's blocks then shape the
noise. What is left out: the camera's colour matrix, its own denoising and sharpening
(tools/camera_noise.py measures how far the result is from real noise).

`add_camera_noise` is the corruption of the noise kind "camera" (noise.NOISES), whose
level is the ISO: each picture gets a camera drawn at random among those measured at
that ISO; of the kind "camera:NAME" (noise.noise_kind), that one camera takes every picture.
"""

import difflib
import functools
import io
import json

import numpy as np
from PIL import Image
from scipy import ndimage

import data

# The kernels of bilinear demosaicking: a missing green is the mean of its 4 green
# neighbours; a missing red or blue the mean of its 2 or 4 nearest of that colour.
GREEN_KERNEL = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4
RED_BLUE_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4
# White balance (Brooks et al., Sec. 3.2): the gains of red and blue are drawn from these
# ranges; green's is 1.
RED_GAINS = (1.9, 2.4)
BLUE_GAINS = (1.5, 1.9)
# The brightening after the sensor (Brooks et al.): the sensor saw the picture's light times
# a factor drawn from a normal distribution of this mean and standard deviation.
EXPOSURE = (0.8, 0.1)
# The JPEG qualities drawn from (CBDNet: 60 to 100).
JPEG_QUALITIES = (60, 100)


class Camera:
    """One camera's measured noise: (a, b) per channel at each ISO it was measured at."""

    def __init__(self, maker, model, profiles):
        self.name = f"{maker} {model}"
        by_iso = {}
        for profile in profiles:  # several profiles at one ISO: their mean
            by_iso.setdefault(profile["iso"], []).append((profile["a"], profile["b"]))
        self.isos = np.array(sorted(by_iso), np.float64)
        self.a = np.array([np.mean([a for a, _ in by_iso[iso]], axis=0) for iso in self.isos])
        # darktable's fit of the read noise's variance b is now and then a little below 0
        # (at low ISOs, where the shot noise a*x is most of it): taken as no read noise.
        self.b = np.maximum(
            np.array([np.mean([b for _, b in by_iso[iso]], axis=0) for iso in self.isos]), 0)

    def noise_at(self, iso):
        """(a, b), each one number per channel (R, G, B), at `iso`: interpolated between
        the ISOs measured (both grow about in proportion to the ISO)."""
        a = [np.interp(iso, self.isos, self.a[:, channel]) for channel in range(3)]
        b = [np.interp(iso, self.isos, self.b[:, channel]) for channel in range(3)]
        return np.array(a, np.float32), np.array(b, np.float32)


@functools.lru_cache(maxsize=1)
def cameras():
    """Every camera of darktable's profiles whose (a, b) are three numbers each, a positive."""
    with open(data.camera_profiles_path()) as file:
        makers = json.load(file)["noiseprofiles"]
    found = []
    for maker in makers:
        for model in maker["models"]:
            profiles = [profile for profile in model["profiles"]
                        if len(profile["a"]) == 3 and len(profile["b"]) == 3
                        and min(profile["a"]) > 0]
            if profiles:
                found.append(Camera(maker["maker"], model["model"], profiles))
    return found


def camera_named(name):
    """The camera of darktable's profiles called `name` ("Nikon D800": its maker and model,
    any case); ValueError naming the nearest names if there is none."""
    found = {camera.name.lower(): camera for camera in cameras()}
    if name.lower() in found:
        return found[name.lower()]
    near = difflib.get_close_matches(name.lower(), found, n=3)
    raise ValueError(f"no camera called {name!r} in darktable's profiles" + (
        f" (did you mean {', '.join(repr(found[key].name) for key in near)}?)" if near else ""))


def cameras_at(iso):
    """The cameras measured at ISOs on both sides of `iso` (or at it): no extrapolation."""
    return [camera for camera in cameras() if camera.isos[0] <= iso <= camera.isos[-1]]


def srgb_to_linear(picture):
    """The inverse of the sRGB curve: a pixel's brightness as light, linear in photons."""
    return np.where(picture <= 0.04045, picture / 12.92, ((picture + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear):
    """The sRGB curve, which cameras and screens put on light: more levels for the darks."""
    linear = np.maximum(linear, 0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def inverse_tone_curve(picture):
    """The inverse of the smoothstep tone curve that Brooks et al. put after the sRGB
    curve, a stand-in for a camera's own contrast curve."""
    return 0.5 - np.sin(np.arcsin(np.clip(1 - 2 * picture, -1, 1)) / 3)


def tone_curve(linear):
    """The smoothstep tone curve, 3x^2 - 2x^3: a little more contrast in the middle."""
    linear = np.clip(linear, 0, 1)
    return 3 * linear ** 2 - 2 * linear ** 3


def bayer_channel(height, width):
    """Which colour each sensor pixel sees in an RGGB Bayer mosaic: 0 red, 1 green, 2 blue."""
    rows, columns = np.indices((height, width))
    return np.where(rows % 2 == 0, np.where(columns % 2 == 0, 0, 1),
                    np.where(columns % 2 == 0, 1, 2))


def demosaic(raw, channel):
    """A colour picture from a mosaic `raw` (height, width) whose pixel sees colour
    `channel`: bilinear interpolation of each colour from the pixels that see it. It is
    linear: the demosaicked noise of a picture is the demosaicked mosaic of its noise."""
    planes = []
    for colour, kernel in ((0, RED_BLUE_KERNEL), (1, GREEN_KERNEL), (2, RED_BLUE_KERNEL)):
        seen = np.where(channel == colour, raw, 0).astype(np.float32)
        planes.append(ndimage.convolve(seen, kernel, mode="mirror"))
    return np.stack(planes, axis=-1)


def noisy_raw(raw, a, b, rng):
    """Raw sensor values with Poisson-Gaussian noise: a * Poisson(raw / a) photons (shot
    noise, variance a * raw) plus Gaussian read noise of variance b. `a` and `b` are
    per pixel (or one number each)."""
    shot = a * rng.poisson(np.maximum(raw, 0) / a)
    return shot + np.sqrt(b) * rng.standard_normal(raw.shape)


def as_jpeg(picture, quality):
    """`picture` (H, W, C) in [0, 1] saved as a JPEG of `quality` and read back, as a camera
    writes its pictures: in 8 bits, colour at half resolution, each 8x8 block in steps."""
    pixels = np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
        buffer, "JPEG", quality=int(quality))
    read = np.asarray(Image.open(buffer), np.float32) / 255
    return read.reshape(picture.shape)


def add_camera_noise(images, iso, rng, mosaic=True, taken_by=None, processing=True,
                     jpeg=True):
    """`images` (N, H, W, C), or one picture (H, W, C), in sRGB [0, 1] as a camera at
    `iso` (one ISO, or one per image) would have taken them: the Camera `taken_by`, or
    else for each image a camera drawn from those measured at its ISO. Colour pictures go
    through a Bayer mosaic (with `mosaic`); grey ones take the green channel's noise,
    without a mosaic. With `processing`, white balance and brightening (drawn) multiply
    the noise as in a camera; with `jpeg`, the picture is saved as a JPEG of a drawn
    quality. float32, in [0, 1]."""
    if images.ndim == 3:
        return add_camera_noise(images[None], iso, rng, mosaic, taken_by, processing,
                                jpeg)[0]
    isos = np.broadcast_to(np.asarray(iso, np.float64).reshape(-1), (len(images),))
    noisy = np.empty(images.shape, np.float32)
    for index, (picture, picture_iso) in enumerate(zip(images, isos)):
        measured = [taken_by] if taken_by else cameras_at(picture_iso)
        if not measured:
            raise ValueError(f"no camera of darktable's profiles was measured at ISO "
                             f"{picture_iso:g}")
        a, b = measured[rng.integers(len(measured))].noise_at(picture_iso)
        gains = np.ones(3, np.float32)  # what multiplies the sensor's values, per channel
        if processing:
            gains[[0, 2]] = rng.uniform(*RED_GAINS), rng.uniform(*BLUE_GAINS)
            gains /= np.clip(rng.normal(*EXPOSURE), 0.5, 1.1)
        linear = srgb_to_linear(inverse_tone_curve(picture))
        if picture.shape[-1] == 1:  # grey: the green channel's noise at every pixel
            a, b, gains = a[1:2], b[1:2], gains[1:2]
        if picture.shape[-1] == 3 and mosaic:  # each pixel's noise spread to its neighbours
            channel = bayer_channel(*picture.shape[:2])
            raw = np.take_along_axis(linear / gains, channel[..., None], axis=-1)[..., 0]
            sensor_noise = noisy_raw(raw, a[channel], b[channel], rng) - raw
            linear = linear + gains * demosaic(sensor_noise, channel)
        else:
            sensed = linear / gains
            linear = linear + gains * (noisy_raw(sensed, a, b, rng) - sensed)
        noisy[index] = np.clip(tone_curve(linear_to_srgb(linear)), 0, 1)
        if jpeg:
            noisy[index] = as_jpeg(noisy[index], rng.integers(JPEG_QUALITIES[0],
                                                              JPEG_QUALITIES[1] + 1))
    return noisy
