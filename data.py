"""Load the images our denoisers learn from: MNIST, Fashion-MNIST and folders of pictures.

Every image array this module returns is float32 in [0, 1] with shape
(N, height, width, channels), the layout Keras convolutions expect, so the dense and
the convolutional scripts read exactly the same data. Labels are kept (uint8): a
denoiser does not need them, but a learner exploring the codes may.

Where the images come from:
- a local folder with the original IDX files, given as `--data-dir DIR` or in the
  environment variable DENOISE_DATA_DIR, laid out as DIR/mnist/*.gz and
  DIR/fashion-mnist/*.gz (the layout of the official downloads);
- otherwise `keras.datasets`, which downloads each dataset once and caches it in
  ~/.keras/datasets.

A folder of PNG, JPEG or TIFF pictures (photos: BSD68, Kodak24, faces, your own) loads with
`load_folder` as a list of float32 images in [0, 1], one (height, width, channels) array
each, since the pictures of a folder need not share one size; `load_picture_dataset`
splits one into training pictures (cropped at random while training) and test crops. The
training pictures are kept whole, which takes much memory, so they are stored as their
file's own 8- or 16-bit integers (`compact`) and each crop is made float32 as it is cut: a quarter of the memory of float32 for 8-bit
photos (ten 12-megapixel photos: 360 MB, not 1.4 GB).

The standard photo sets of the denoising literature also go by name wherever a folder
does (`PHOTO_SETS`: bsd68, set12, train400, cbsd68, cbsd432, kodak24, mcmaster, faces).
A name is found, in this order: in DIR/images/<Set>/ of `--data-dir DIR` or
$DENOISE_DATA_DIR; in the Keras cache (~/.keras/datasets/<Set>/, where keras.datasets
keeps MNIST); else it is downloaded there from the set's public source, pinned to a
commit, and every file is checked against its sha256 in photo_sets.sha256. A download
is made in a temporary folder, renamed into place only when every file is in and
checked: an interrupted or corrupted download leaves nothing behind.
$DENOISE_DATA_MIRROR points downloads at a mirror of raw.githubusercontent.com.

From the terminal: `python data.py --list` shows each set, its size, source and licence,
and whether it is here; `python data.py --download bsd68 cbsd68` (or `all`) fetches ahead.
"""

import argparse
import contextlib
import gzip
import hashlib
import http.client
import io
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
import warnings
import zlib
from typing import NamedTuple

import numpy as np
import png
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from machinery import files, signals

# The sets of 28x28 pictures (keras.datasets' names), each with its folder in a data directory.
DATASETS = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
DATA_DIR_VARIABLE = "DENOISE_DATA_DIR"
# The four files of each of them, under the names of the official downloads.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# Pictures smaller than this many pixels a side are refused, for training and denoising.
MIN_SIDE = 16
# With no test folder, every TEST_EVERY-th picture of a folder is kept for testing.
TEST_EVERY = 5
# The share of the training images a lesson holds out to validate on (`hold_out`).
VALIDATION_SPLIT = 0.1
# The files a folder of pictures is read from; anything else in the folder is left alone.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# The 8-bit pixel modes of Pillow a picture may come in, and the mode each is read as
# (None: RGB, or RGBA where the palette has a transparent colour).
EIGHT_BIT_MODES = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "P": None, "PA": "RGBA",
                   "RGB": "RGB", "RGBA": "RGBA", "RGBa": "RGBA"}
# The formats read with Pillow: those whose pixels are 8 bits a channel (or 16-bit grey,
# for TIFF). A 16-bit PPM, for one, Pillow would cut to 8 bits without a word.
PILLOW_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")
# Pillow's modes of 16-bit grey pictures (16-bit PNGs go to pypng, which reads them all).
SIXTEEN_BIT_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# The first 8 bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The weights of R, G and B in a grey level (ITU-R BT.601, as Pillow's "L" mode uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DatasetError(RuntimeError):
    """The dataset could not be read or downloaded; the message says how to fix it."""


class PhotoSet(NamedTuple):
    """A standard photo set: where it lives here, and where it comes from."""

    folder: str  # its folder: DIR/images/<folder>, or <Keras cache>/<folder>
    description: str
    repository: str  # on GitHub, the files at `commit` under `prefix`
    commit: str
    prefix: str
    licence: str
    convert: str = ""  # "" (files kept as they are), "tif-to-png" or "face-128"
    place: str = "images"  # where its folder is in a data folder: DIR/<place>/<folder>


DNCNN = ("cszn/DnCNN", "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a")  # the DnCNN authors' own
FFDNET = ("cszn/FFDNet", "e787f46df2f374ff3591186706229cb9a0591fea")  # the FFDNet authors'
BSDS_LICENCE = ("Berkeley Segmentation Dataset: for non-commercial research and teaching; "
                "no licence file in the repository")
# Every photo set by the name --dataset takes.
PHOTO_SETS = {
    "bsd68": PhotoSet("BSD68", "68 grey test photos, 481x321, the BSDS300 test set",
                      *DNCNN, "testsets/BSD68/", BSDS_LICENCE),
    "set12": PhotoSet("Set12", "12 grey test pictures, 256x256 and 512x512 (Lena, House, ...)",
                      *DNCNN, "testsets/Set12/", "classic test images; no licence stated"),
    "train400": PhotoSet("Train400", "400 grey training photos, 180x180 (from BSDS)",
                         *DNCNN, "TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400/",
                         BSDS_LICENCE),
    "cbsd68": PhotoSet("CBSD68", "BSD68 in colour: 68 test photos, 481x321",
                       *FFDNET, "testsets/CBSD68/", BSDS_LICENCE),
    "cbsd432": PhotoSet("CBSD432", "432 colour training photos, 481x321: BSDS500 minus CBSD68",
                        "Sisso16/ssn_pytorch", "c4f9ac8c43397cbacbf2e2ba1505efafa769435d",
                        "BSR/BSDS500/data/images/", BSDS_LICENCE),
    "kodak24": PhotoSet("Kodak24", "24 colour test photos, 500x500 crops of the Kodak PhotoCD set",
                        *FFDNET, "testsets/Kodak24/",
                        "Kodak's sample images, free for research; no licence file"),
    "mcmaster": PhotoSet("McMaster", "18 colour test photos, 500x500 (TIFF upstream, PNG here)",
                         *FFDNET, "testsets/McMaster/",
                         "McMaster colour set (Zhang et al., 2011); no licence stated",
                         convert="tif-to-png"),
    "faces": PhotoSet("faces128", "2,500 colour faces, 128x128: UTKFace crops, resized",
                      "Mohanish-5744/Major_Ensemble_Gender",
                      "2f8aa4a5932c395d465f4f58d864b6a17a1b03f6", "crop_part1/",
                      "UTKFace: non-commercial research use only", convert="face-128"),
}
# Real noisy pictures with clean references, by name: for scoring (tools/real_pairs.py),
# never for training. Each pair is a noisy shot, <scene>_real, and its clean reference,
# <scene>_mean, the mean of many shots of the same scene from a tripod.
REAL_PAIRS = {
    "polyu100": PhotoSet("PolyU100", "100 real camera-noise pairs, 512x512 JPEG: one shot and "
                         "the mean of a tripod burst (Xu et al., 2018), 5 cameras, ISO 800 to "
                         "12800", "csjunxu/PolyU-Real-World-Noisy-Images-Dataset",
                         "3af0f2646b267a00446fe4b7113a15e67bc80b4e", "CroppedImages/",
                         "PolyU: non-commercial use only (teaching, research, demonstrations); "
                         "not to be redistributed", place="real-noise"),
}
# The sha256 and size of every file of every photo set, as its repository holds it.
PHOTO_SET_CHECKSUMS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "photo_sets.sha256")
# Where downloads come from: this host, or the mirror $MIRROR_VARIABLE names.
DOWNLOAD_HOST = "https://raw.githubusercontent.com"
MIRROR_VARIABLE = "DENOISE_DATA_MIRROR"
# Seconds a download waits for the server before giving up.
DOWNLOAD_TIMEOUT = 60
# The slowest a file may come, in bytes a second: a file of n bytes must be whole within
# DOWNLOAD_TIMEOUT + n / MIN_BYTES_PER_SECOND seconds, or its download is given up.
MIN_BYTES_PER_SECOND = 10_000
# How much of a file is read from the network at a time.
DOWNLOAD_CHUNK = 64 * 1024
# The side the face photos are resized to from their 200x200 upstream chips.
FACE_SIZE = 128


def read_idx(path):
    """Read one IDX file of unsigned bytes (gzip-compressed or not) into a NumPy array.

    IDX is the tiny format MNIST ships in, so reading it by hand is part of the lesson:
    two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
    dimension as a big-endian 32-bit integer, then the pixels (or labels) row by row.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:  # missing, truncated, corrupt, not gzip
        raise DatasetError(f"cannot read {path}: {error}") from error
    if len(content) < 4 or content[:3] != b"\x00\x00\x08":
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes")
    dimensions = content[3]
    header_size = 4 + 4 * dimensions
    shape = tuple(
        int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions)
    )
    values = np.frombuffer(content, dtype=np.uint8, offset=header_size)
    if values.size != np.prod(shape):
        raise DatasetError(
            f"{path}: the header promises {shape} values but the file holds {values.size}"
        )
    return values.reshape(shape)


def read_local_copy(name, data_dir):
    """Read the four IDX files of `name` from `data_dir`/<dataset folder>/."""
    folder = os.path.join(data_dir, DATASETS[name])
    if not os.path.isdir(folder):
        raise DatasetError(
            f"no folder {folder}: the data directory must hold {DATASETS[name]}/ "
            f"with the four IDX .gz files of {name}"
        )
    arrays = {key: read_idx(os.path.join(folder, file)) for key, file in IDX_FILES.items()}
    return (arrays["train_images"], arrays["train_labels"]), (
        arrays["test_images"],
        arrays["test_labels"],
    )


def download_with_keras(name):
    """Let `keras.datasets` download (or read from its cache) the dataset `name`."""
    import keras  # imported here: reading a local copy does not need Keras at all

    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as error:  # offline: URL errors, or a failed checksum of a partial file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(
            f"could not download {name} ({reason}). Connect to the internet, or pass "
            f"--data-dir DIR (or set {DATA_DIR_VARIABLE}=DIR) where DIR holds "
            f"{DATASETS[name]}/ with the IDX files"
        ) from error


def to_images(pixels):
    """uint8 pixels (N, H, W) -> float32 images in [0, 1] with a channel axis (N, H, W, 1)."""
    return (pixels.astype("float32") / 255.0)[..., np.newaxis]


def load_dataset(name, data_dir=None, train_limit=None, test_limit=None):
    """Return (x_train, y_train), (x_test, y_test) for MNIST or Fashion-MNIST.

    `data_dir` defaults to the environment variable DENOISE_DATA_DIR; without either,
    `keras.datasets` downloads the data. `train_limit` / `test_limit` keep only the
    first N images of each split, for quick runs and tests.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    data_dir = data_dir or os.environ.get(DATA_DIR_VARIABLE)
    if data_dir:
        (x_train, y_train), (x_test, y_test) = read_local_copy(name, data_dir)
    else:
        (x_train, y_train), (x_test, y_test) = download_with_keras(name)
    return (to_images(x_train[:train_limit]), y_train[:train_limit]), (
        to_images(x_test[:test_limit]),
        y_test[:test_limit],
    )


def hold_out(images, fraction):
    """Split training images into (train, validation): the last `fraction` of them are held
    out, as Keras' `fit(validation_split=...)` holds them out (the first images stay the
    first, so `--train-limit` keeps the same ones). A lesson scores the validation images
    after every epoch and chooses its settings by that score, never by the test images',
    which it scores once at the end: a setting chosen by the test score would have seen
    the test. Works on an array of images or a list of pictures of any sizes."""
    split_at = int(len(images) * (1 - fraction))
    if not 0 < split_at < len(images):
        raise DatasetError(f"{len(images)} training images cannot spare a validation share "
                           f"of {fraction:g} and keep some to train on: give more images "
                           "(--train-limit) or another --validation-split")
    return images[:split_at], images[split_at:]


def validation_split_argument(text):
    """argparse type of --validation-split: a share of the training images, above 0 and
    below 1."""
    try:
        fraction = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not 0 < fraction < 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1, not {text}")
    return fraction


@contextlib.contextmanager
def open_picture(path):
    """Image.open, without Pillow's DecompressionBombWarning above 89 million pixels: its
    callers bound the size themselves (denoise.py at 100 million), and above twice that
    Pillow still refuses with DecompressionBombError. The warning comes from the open
    itself, so it is silenced before it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as picture:
            yield picture


def read_image(path):
    """Read one PNG, JPEG or TIFF file: (float32 array (H, W, C) in [0, 1], bits per channel).

    C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), as stored; bits is 8 or 16. A
    picture whose EXIF orientation says it is stored turned (a phone's upright photo is
    stored sideways) is turned upright, as a viewer shows it: upright_as_shown.
    Accepted: 8-bit pictures of every kind (palette and black-and-white ones are expanded
    to RGB or grey), 16-bit PNGs of every kind (pypng reads them: Pillow would cut them
    to 8 bits), and 16-bit grey TIFFs. Each is divided by its largest value, 255 or
    65535, so a picture written back at its own bit depth has its own pixels again.
    Refused, with DatasetError: float or 32-bit pixels (their range is not fixed), CMYK
    and other colour spaces, and 16-bit colour TIFFs, which Pillow cannot read whole.
    """
    try:
        if png_bit_depth(path) == 16:
            return read_png16(path), 16
        with open_picture(path) as picture:
            picture.load()
            bits = max(picture.tag_v2.get(258, (8,))) if picture.format == "TIFF" else 8
            upright = upright_as_shown(picture)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, png.Error,
            zlib.error, EOFError) as error:  # zlib: compressed data that fails its check
        raise DatasetError(f"cannot read {path}: {error}") from error
    if picture.mode in SIXTEEN_BIT_GREY_MODES:
        return (np.asarray(upright, dtype=np.float32) / 65535.0)[..., np.newaxis], 16
    if picture.format not in PILLOW_FORMATS:
        raise DatasetError(f"cannot read {path}: {picture.format} pictures are not read; save "
                           "it as a PNG")
    if picture.mode not in EIGHT_BIT_MODES or bits > 8:
        kind = f"{picture.format} {picture.mode}" + (f", {bits} bits a channel" if bits > 8 else "")
        raise DatasetError(f"cannot read {path}: its pixels ({kind}) are none of 8-bit, 16-bit "
                           "grey or 16-bit PNG; save it as an 8- or 16-bit PNG")
    mode = EIGHT_BIT_MODES[picture.mode] or "RGB"
    if "transparency" in picture.info and mode in ("L", "RGB"):  # a transparent colour:
        mode += "A"  # kept as an alpha channel, as in a palette picture and in pypng
    pixels = np.asarray(upright.convert(mode), dtype=np.float32) / 255.0
    return pixels.reshape(*pixels.shape[:2], -1), 8


def upright_as_shown(picture):
    """The loaded `picture` turned or mirrored as its EXIF orientation tells a viewer to show
    it (cameras and phones store a portrait photo sideways, and say so there); itself where
    the tag is absent or says "as stored"."""
    if picture.getexif().get(ExifTags.Base.Orientation, 1) == 1:
        return picture
    return ImageOps.exif_transpose(picture)


def png_bit_depth(path):
    """The bit depth a PNG file's header states, or None for any other file."""
    with open(path, "rb") as file:
        header = file.read(26)  # signature (8), IHDR length and type (8), size (8), depth (1)
    return header[24] if header[:8] == PNG_SIGNATURE and header[12:16] == b"IHDR" else None


def read_png16(path):
    """A 16-bit PNG (grey, grey + alpha, RGB or RGBA) as float32 (H, W, C) in [0, 1]."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    largest = 2 ** info["bitdepth"] - 1  # 65535, or less where an sBIT chunk says so
    return (pixels.reshape(height, width, info["planes"]) / largest).astype(np.float32)


def to_channels(image, channels):
    """Turn an (H, W, 1|2|3|4) image into grey (1) or RGB (3): drop alpha, weigh or repeat."""
    image = image[..., :-1] if image.shape[-1] in (2, 4) else image
    if channels == image.shape[-1]:
        return image
    if channels == 1:
        return (image @ LUMA_WEIGHTS)[..., np.newaxis]
    return np.repeat(image, 3, axis=-1)


def image_files(folder, data_dir=None):
    """The PNG and JPEG files of `folder`, or of the photo set of that name, sorted by name."""
    if folder in PHOTO_SETS:
        folder = photo_set_folder(folder, data_dir)
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder} is not a folder of images (nor one of "
                           f"{', '.join([*DATASETS, *PHOTO_SETS])})")
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise DatasetError(f"{folder} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
    return [os.path.join(folder, name) for name in names]


def load_folder(folder, channels=3, limit=None, data_dir=None):
    """Every picture in `folder` or photo set (sorted by file name, the first `limit` only
    if given) as a list of float32 arrays (H, W, `channels`) in [0, 1]."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")
    return [to_channels(read_image(path)[0], channels)
            for path in image_files(folder, data_dir)[:limit]]


def pad_to(image, size):
    """Pad an (H, W, C) image by reflection until both sides are at least `size`."""
    extra_rows, extra_columns = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if not (extra_rows or extra_columns):
        return image
    return np.pad(image, ((0, extra_rows), (0, extra_columns), (0, 0)), mode="reflect")


def centre_crop(image, size):
    """The central `size` x `size` window of an (H, W, C) image (padded first if smaller)."""
    image = pad_to(image, size)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def random_crop(image, size, rng):
    """A `size` x `size` window of an (H, W, C) image at a place drawn from `rng`, as
    float32 in [0, 1] (`image` may be kept as integers: `compact`)."""
    image = pad_to(image, size)
    top = rng.integers(0, image.shape[0] - size + 1)
    left = rng.integers(0, image.shape[1] - size + 1)
    return to_float(image[top : top + size, left : left + size])


def compact(image, bits):
    """An image in [0, 1] kept as the integers of a file of `bits` (8 or 16) bits a
    channel: uint8 or uint16, a quarter or half of float32's memory. A grey picture made
    from a colour one is rounded to those bits, as a grey file of that depth would be."""
    integer_type = np.uint16 if bits == 16 else np.uint8
    return np.round(image * np.iinfo(integer_type).max).astype(integer_type)


def to_float(image):
    """An image kept by `compact` (or one already float32) as float32 in [0, 1]."""
    if image.dtype.kind == "f":
        return image
    return image.astype(np.float32) / np.iinfo(image.dtype).max


def load_picture_dataset(folder, channels, image_size, test_folder=None,
                         train_limit=None, test_limit=None, data_dir=None):
    """Training and test pictures from folders or photo sets: (train, test).

    `train` is a list of whole pictures, each kept in its file's bits (`compact`): the
    training batches cut fresh random crops of `image_size` from them every epoch, each
    float32 (`random_crop`). `test` is one float32 array (N, image_size, image_size,
    channels) of centre crops, the same every time. Test pictures come from `test_folder`,
    or else every fifth picture of `folder` (a fixed 20%) is kept for testing and never
    trained on.
    """
    paths = image_files(folder, data_dir)
    if test_folder is None:
        train_paths = [path for index, path in enumerate(paths) if index % TEST_EVERY]
        test_paths = paths[::TEST_EVERY]
    else:
        train_paths, test_paths = paths, image_files(test_folder, data_dir)
    if not train_paths:
        raise DatasetError(f"{folder} has too few pictures to keep some for testing")

    def read(path):
        image, bits = read_image(path)
        if min(image.shape[:2]) < MIN_SIDE:
            raise DatasetError(f"{path}: {image.shape[1]}x{image.shape[0]} pixels is too small "
                               f"to learn from (at least {MIN_SIDE}x{MIN_SIDE})")
        return compact(to_channels(image, channels), bits)

    train = [read(path) for path in train_paths[:train_limit]]
    return train, centre_crops([read(path) for path in test_paths[:test_limit]], image_size)


def centre_crops(pictures, size):
    """The centre `size` x `size` crop of each picture, as one float32 array (N, size, size,
    C): test (or validation) pictures that are the same every time."""
    return np.stack([to_float(centre_crop(picture, size)) for picture in pictures])


def dataset_help(digits=True, photos=False):
    """What --dataset takes: the digit sets, and or the photo sets and folders."""
    kinds = [", ".join(DATASETS)] if digits else []
    if photos:
        kinds.append(f"a photo set ({', '.join(PHOTO_SETS)}: python data.py --list), or a "
                     "folder of PNG/JPEG pictures")
    return ", ".join(kinds)


def check_dataset(name, digits=True, photos=False):
    """ValueError unless `name` is a dataset to learn from: with `digits`, mnist or
    fashion_mnist; with `photos`, a photo set by name or a folder of pictures. The
    message says which lesson learns from the other kind."""
    if name in DATASETS:
        if not digits:
            raise ValueError(f"{name} is a set of 28x28 digits or clothes: train_conv.py and "
                             "train_dense.py learn from it; here, name a photo set or a folder")
        return
    if name in REAL_PAIRS:
        raise ValueError(f"{name} holds real noisy pictures with clean references, to score "
                         "on (python -m tools.real_pairs), never to train on")
    if not photos:
        raise ValueError(f"choose one of {', '.join(DATASETS)} (train_photos.py learns from "
                         "photo sets and folders of pictures)")
    if name not in PHOTO_SETS and not os.path.isdir(name):
        raise ValueError(f"{name} is " + (f"neither {' nor '.join(DATASETS)}, nor "
                                          if digits else "neither ")
                         + f"a photo set ({', '.join(PHOTO_SETS)}), nor a folder")


# ## The photo sets, by name

def keras_cache():
    """The folder where keras.datasets keeps what it downloads: $KERAS_HOME/datasets."""
    return os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "datasets")


def named_set(name):
    """The PhotoSet of photo set `name`, or of the real pairs of that name."""
    return PHOTO_SETS.get(name) or REAL_PAIRS[name]


def find_photo_set(name, data_dir=None):
    """The folder of photo set (or real pairs) `name` on this machine, or None."""
    data_dir = data_dir or os.environ.get(DATA_DIR_VARIABLE)
    places = ([os.path.join(data_dir, named_set(name).place)] if data_dir else []) + [
        keras_cache()]
    for place in places:
        folder = os.path.join(place, named_set(name).folder)
        if os.path.isdir(folder):
            return folder
    return None


def photo_set_folder(name, data_dir=None):
    """The folder of photo set `name`: found here, or else downloaded into the Keras cache."""
    return find_photo_set(name, data_dir) or download_photo_set(name)


def photo_set_files(name):
    """[(path in the set's folder upstream, sha256, size)] of every file of photo set `name`."""
    folder = named_set(name).folder
    with open(PHOTO_SET_CHECKSUMS) as lines:
        rows = [line.split() for line in lines if not line.startswith("#")]
    return [(path.removeprefix(folder + "/"), sha256, int(size))
            for sha256, size, path in rows if path.startswith(folder + "/")]


def local_name(photo_set, upstream_path):
    """The name a downloaded file gets: its own, or that of its conversion to PNG."""
    name = os.path.basename(upstream_path)
    if photo_set.convert == "tif-to-png":
        return name.removesuffix(".tif") + ".png"
    if photo_set.convert == "face-128":
        return name.removesuffix(".jpg.chip.jpg") + ".png"
    return name


def keep_converted(photo_set, downloaded, path):
    """Keep the file at `downloaded` as `path`: moved as it is, or converted to PNG."""
    if not photo_set.convert:
        os.replace(downloaded, path)
        return
    with open(downloaded, "rb") as file:
        content = converted(photo_set, file.read())  # a small, checked file
    with open(path, "wb") as file:
        file.write(content)
    os.remove(downloaded)


def converted(photo_set, content):
    """The file as the set keeps it: as downloaded, or converted to PNG the documented way.

    McMaster's TIFF files become PNG without loss (tf.image cannot read TIFF). The faces,
    200x200 JPEG chips upstream, are resized to 128x128 with Pillow's LANCZOS filter and
    saved as PNG (this reproduced this project's own copy pixel for pixel with Pillow 13).
    """
    if not photo_set.convert:
        return content
    with Image.open(io.BytesIO(content)) as picture:
        picture = picture.convert("RGB")
        if photo_set.convert == "face-128":
            picture = picture.resize((FACE_SIZE, FACE_SIZE), Image.LANCZOS)
        output = io.BytesIO()
        picture.save(output, "PNG")
    return output.getvalue()


class DownloadError(OSError):
    """The network or the server failed a download (not this machine's disk)."""


def download(url, path, size):
    """Write the file at `url` into `path`, streamed, and return its sha256.

    The file list gives each file's size, so nothing larger is taken: a server that
    sends more stops at `size` + 1 bytes, never held in memory. And the whole file has a
    deadline, DOWNLOAD_TIMEOUT plus its size at MIN_BYTES_PER_SECOND: the socket's own
    timeout bounds each read, so a server sending a byte a second would never trip it.
    A DownloadError says which; an OSError of writing `path` passes as it is.
    """
    started = time.monotonic()
    allowed = DOWNLOAD_TIMEOUT + size / MIN_BYTES_PER_SECOND
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, \
                open(path, "wb") as file:
            while chunk := response.read1(min(DOWNLOAD_CHUNK, size + 1 - received)):
                received += len(chunk)
                if received > size:
                    raise DownloadError(f"{url} sends more than the {size:,} bytes it should "
                                        "have: not the file it should be")
                if time.monotonic() - started > allowed:
                    raise DownloadError(f"{url} came too slowly: {received:,} of {size:,} bytes "
                                        f"in {allowed:.0f} s")
                digest.update(chunk)
                file.write(chunk)
        if received < size:
            raise DownloadError(f"{url} ended after {received:,} of its {size:,} bytes")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
            ConnectionError) as error:  # the network or the server, not the disk
        raise DownloadError(f"{url}: {getattr(error, 'reason', None) or error}") from error
    return digest.hexdigest()


def download_photo_set(name):
    """Download photo set `name` into the Keras cache, check every file, return its folder.

    Files go into a temporary folder beside the final one, which is renamed into place
    only once every file is in and matches its sha256; any failure removes it whole.
    Two downloads at once (two scripts started together) take turns: each locks the
    cache folder while it downloads, and one that finds it locked waits, then finds the
    set the other one finished.
    """
    final = os.path.join(keras_cache(), named_set(name).folder)
    try:
        os.makedirs(keras_cache(), exist_ok=True)
        cache = files.hold_folder(keras_cache())
        if cache is None:
            print(f"waiting for another download into {keras_cache()} to finish",
                  file=sys.stderr)
            cache = files.hold_folder(keras_cache(), wait=True)
    except OSError as error:
        raise cache_error(name, final, error) from error
    try:
        if os.path.isdir(final):  # another download finished it meanwhile
            return final
        return download_photo_set_files(name, final)
    finally:
        os.close(cache)  # and so let go of it


def cache_error(name, folder, error):
    """A DatasetError for a download that this machine could not write (not the network)."""
    return DatasetError(f"could not write {name} into {folder} ({error.strerror or error}): "
                        f"make room or fix its permissions, set KERAS_HOME to another folder, "
                        f"or pass --data-dir DIR (or set {DATA_DIR_VARIABLE}=DIR) where "
                        f"DIR/{named_set(name).place}/{named_set(name).folder}/ holds the set")


def download_photo_set_files(name, final):
    """Download every file of photo set `name` into `final`, through a temporary folder."""
    photo_set, set_files = named_set(name), photo_set_files(name)
    host = os.environ.get(MIRROR_VARIABLE, DOWNLOAD_HOST).rstrip("/")
    partial = f"{final}.partial-{os.getpid()}"
    remove_abandoned_downloads(final)
    megabytes = sum(size for _, _, size in set_files) / 1e6
    print(f"downloading {name} ({len(set_files)} files, {megabytes:.1f} MB) from {host}/"
          f"{photo_set.repository} at commit {photo_set.commit[:7]} into {final}", file=sys.stderr)
    from machinery import tensorflow_logs  # noqa: F401  (here: a set that is here needs no Keras)
    import keras

    progress = keras.utils.Progbar(len(set_files), unit_name="file")
    try:
        os.makedirs(partial)
        for count, (path, sha256, size) in enumerate(set_files, start=1):
            url = f"{host}/{photo_set.repository}/{photo_set.commit}/{photo_set.prefix}{path}"
            downloaded = os.path.join(partial, "downloading")
            if download(url, downloaded, size) != sha256:
                raise DatasetError(f"{url} is not the file it should be (its sha256 differs); "
                                   f"nothing of {name} was kept")
            keep_converted(photo_set, downloaded, os.path.join(partial, local_name(photo_set, path)))
            progress.update(count)
        os.replace(partial, final)
    except DownloadError as error:
        raise DatasetError(
            f"could not download {name} ({error}). Connect to the internet (or set "
            f"{MIRROR_VARIABLE} to a mirror), or pass --data-dir DIR (or set "
            f"{DATA_DIR_VARIABLE}=DIR) where DIR/{photo_set.place}/{photo_set.folder}/ holds "
            "the set"
        ) from error
    except OSError as error:  # this machine: a full disk, a folder it may not write
        raise cache_error(name, partial, error) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


# ## Camera noise profiles, by URL and checksum

# darktable's measured noise profiles (camera.py): 374 cameras, (a, b) per ISO and
# channel. GPL-3.0-or-later data, downloaded here on a user's machine, never copied into
# this repository: the file of darktable's release 4.2.1.
CAMERA_PROFILES = PhotoSet(
    "camera-noise", "darktable's measured camera noise profiles (noiseprofiles.json)",
    "darktable-org/darktable", "release-4.2.1", "data/",
    "GPL-3.0-or-later (darktable); data read at run time, not part of this project")
CAMERA_PROFILES_FILE = ("noiseprofiles.json", "darktable-noiseprofiles.json",
                        "f4d40cb334bf850dcf45e5e9e574df774e83445e1138db70961d78e4d46b814f",
                        1_485_369)


def camera_profiles_path(data_dir=None):
    """The path of darktable's noise profiles: DIR/camera-noise/ (--data-dir, or
    $DENOISE_DATA_DIR), the Keras cache, or else downloaded there and checked."""
    upstream, name, sha256, size = CAMERA_PROFILES_FILE
    data_dir = data_dir or os.environ.get(DATA_DIR_VARIABLE)
    places = ([os.path.join(data_dir, CAMERA_PROFILES.folder)] if data_dir else []) + [
        os.path.join(keras_cache(), CAMERA_PROFILES.folder)]
    for place in places:
        if os.path.isfile(os.path.join(place, name)):
            return os.path.join(place, name)
    path = os.path.join(places[-1], name)
    host = os.environ.get(MIRROR_VARIABLE, DOWNLOAD_HOST).rstrip("/")
    url = (f"{host}/{CAMERA_PROFILES.repository}/{CAMERA_PROFILES.commit}/"
           f"{CAMERA_PROFILES.prefix}{upstream}")
    print(f"downloading {CAMERA_PROFILES.description} ({size / 1e6:.1f} MB, "
          f"{CAMERA_PROFILES.licence}) from {url}", file=sys.stderr)
    partial = f"{path}.partial-{os.getpid()}"
    try:
        os.makedirs(places[-1], exist_ok=True)
        if download(url, partial, size) != sha256:
            raise DatasetError(f"{url} is not the file it should be (its sha256 differs); "
                               "nothing was kept")
        os.replace(partial, path)
    except DownloadError as error:
        raise DatasetError(
            f"could not download the camera noise profiles ({error}). Connect to the internet "
            f"(or set {MIRROR_VARIABLE} to a mirror), or set {DATA_DIR_VARIABLE}=DIR where "
            f"DIR/{CAMERA_PROFILES.folder}/{name} holds them") from error
    except OSError as error:
        raise DatasetError(f"could not write {path} ({error.strerror or error}): make room or "
                           f"set {DATA_DIR_VARIABLE}=DIR where DIR/{CAMERA_PROFILES.folder}/"
                           f"{name} holds the file") from error
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def remove_abandoned_downloads(final):
    """Remove the temporary folders of downloads into `final` whose process is gone
    (killed with SIGKILL, or by a power cut: nothing could clean up after them)."""
    folder, name = os.path.split(final)
    for entry in os.listdir(folder) if os.path.isdir(folder) else []:
        process = entry.removeprefix(f"{name}.partial-")
        if entry != process and process.isdigit() and not process_is_alive(int(process)):
            shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)


def process_is_alive(process_id):
    try:
        os.kill(process_id, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and is another user's
        return True
    return True


def real_pairs(name, data_dir=None, limit=None):
    """[(noisy path, clean path)] of the real pairs `name` (REAL_PAIRS), sorted by scene:
    found here, or downloaded and checked."""
    folder = photo_set_folder(name, data_dir)
    noisy = sorted(path for path in os.listdir(folder) if path.endswith("_real.JPG"))
    pairs = [(os.path.join(folder, path), os.path.join(folder, path[: -len("_real.JPG")] +
                                                       "_mean.JPG")) for path in noisy]
    return pairs[:limit]


def real_pair_scene(path):
    """The shot a PolyU pair was cropped from: its file name without the crop's number
    ("Canon5D2_5_160_3200_chair_11_real.JPG" -> "Canon5D2_5_160_3200_chair")."""
    return re.sub(r"_\d+_real\.JPG$", "", os.path.basename(path))


def real_pair_halves(paths):
    """The indices of the pairs (of their noisy shots' `paths`) that choose a setting, and of
    those that score it: the scenes, in name order, go to each in turn, every crop of a scene
    with it, since the crops of one shot share its camera, ISO and noise."""
    scenes = list(dict.fromkeys(real_pair_scene(path) for path in paths))
    turn = [scenes.index(real_pair_scene(path)) % 2 for path in paths]
    return ([index for index, half in enumerate(turn) if half == 0],
            [index for index, half in enumerate(turn) if half == 1])


def print_photo_sets(data_dir=None):
    """A line for each photo set: its name, size, source, licence, and where it is here."""
    for name, photo_set in {**PHOTO_SETS, **REAL_PAIRS}.items():
        files = photo_set_files(name)
        megabytes = sum(size for _, _, size in files) / 1e6
        where = find_photo_set(name, data_dir) or "not here: downloads on first use"
        print(f"{name}: {photo_set.description}\n"
              f"    {len(files)} files, {megabytes:.1f} MB; from github.com/"
              f"{photo_set.repository} at {photo_set.commit[:7]}, {photo_set.prefix}\n"
              f"    licence: {photo_set.licence}\n    here: {where}")
    upstream, _, _, size = CAMERA_PROFILES_FILE
    profiles = CAMERA_PROFILES
    print(f"camera noise profiles (--noise camera): {profiles.description}\n"
          f"    1 file, {size / 1e6:.1f} MB; from github.com/{profiles.repository} at "
          f"{profiles.commit}, {profiles.prefix}{upstream}\n    licence: {profiles.licence}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="List the standard photo sets, or download them ahead of time "
                    "(each is also downloaded on first use).")
    parser.add_argument("--list", action="store_true",
                        help="print each set, its size, source and licence, and where it is here")
    parser.add_argument("--download", nargs="+", metavar="NAME",
                        choices=[*PHOTO_SETS, *REAL_PAIRS, "all"],
                        help=f"download these sets unless they are here: "
                             f"{', '.join(PHOTO_SETS)}, or all")
    parser.add_argument("--data-dir", default=None,
                        help=f"a folder whose images/<Set>/ holds sets already (default: "
                             f"${DATA_DIR_VARIABLE} if set)")
    args = parser.parse_args(argv)
    if not (args.list or args.download):
        parser.error("say --list or --download NAME")
    # A stop is an exception, so that a download in progress removes its folder.
    signals.stop_in_one_line("nothing half-downloaded is kept")
    if args.list:
        print_photo_sets(args.data_dir)
    names = list(PHOTO_SETS) if "all" in (args.download or []) else args.download or []
    for name in names:
        try:
            print(f"{name}: {photo_set_folder(name, args.data_dir)}")
        except DatasetError as error:
            sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
