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

A folder of PNG or JPEG pictures (photos: BSD68, Kodak24, faces, your own) loads with
`load_folder` as a list of float32 images in [0, 1], one (height, width, channels) array
each, since the pictures of a folder need not share one size; `load_picture_dataset`
splits one into training pictures (cropped at random while training) and test crops.
"""

import gzip
import os

import numpy as np
import png
from PIL import Image, UnidentifiedImageError

DATASETS = ("mnist", "fashion_mnist")
DATA_DIR_VARIABLE = "DENOISE_DATA_DIR"
# The folder each dataset lives in inside a local data directory.
LOCAL_FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
# The four files of each dataset, under the names of the official downloads.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# With no test folder, every TEST_EVERY-th picture of a folder is kept for testing.
TEST_EVERY = 5
# The files a folder of pictures is read from; anything else in the folder is left alone.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# The first 8 bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The weights of R, G and B in a grey level (ITU-R BT.601, as Pillow's "L" mode uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DatasetError(RuntimeError):
    """The dataset could not be read or downloaded; the message says how to fix it."""


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
    except (OSError, EOFError) as error:  # missing, unreadable, truncated or not gzip
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
    folder = os.path.join(data_dir, LOCAL_FOLDERS[name])
    if not os.path.isdir(folder):
        raise DatasetError(
            f"no folder {folder}: the data directory must hold {LOCAL_FOLDERS[name]}/ "
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
            f"{LOCAL_FOLDERS[name]}/ with the IDX files"
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


def read_image(path):
    """Read one PNG or JPEG file: (float32 array (H, W, C) in [0, 1], bits per channel).

    C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), as stored; bits is 8 or 16.
    Palette and black-and-white pictures are expanded to RGB or grey first. Pillow reads
    every picture except 16-bit PNGs, which it would cut to 8 bits: pypng reads those.
    """
    try:
        if png_bit_depth(path) == 16:
            return read_png16(path), 16
        with Image.open(path) as picture:
            picture.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, png.Error) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    modes = {"1": "L", "L": "L", "LA": "LA", "RGBA": "RGBA", "PA": "RGBA"}
    mode = modes.get(picture.mode, "RGBA" if "transparency" in picture.info else "RGB")
    pixels = np.asarray(picture.convert(mode), dtype=np.float32) / 255.0
    return pixels.reshape(*pixels.shape[:2], -1), 8


def png_bit_depth(path):
    """The bit depth a PNG file's header states, or None for any other file."""
    with open(path, "rb") as file:
        header = file.read(26)  # signature (8), IHDR length and type (8), size (8), depth (1)
    return header[24] if header[:8] == PNG_SIGNATURE and header[12:16] == b"IHDR" else None


def read_png16(path):
    """A 16-bit PNG (grey, grey + alpha, RGB or RGBA) as float32 (H, W, C) in [0, 1]."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    return (pixels.reshape(height, width, info["planes"]) / 65535.0).astype(np.float32)


def to_channels(image, channels):
    """Turn an (H, W, 1|2|3|4) image into grey (1) or RGB (3): drop alpha, weigh or repeat."""
    image = image[..., :-1] if image.shape[-1] in (2, 4) else image
    if channels == image.shape[-1]:
        return image
    if channels == 1:
        return (image @ LUMA_WEIGHTS)[..., np.newaxis]
    return np.repeat(image, 3, axis=-1)


def image_files(folder):
    """The PNG and JPEG files of `folder`, sorted by name."""
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder} is not a folder of images (nor one of {', '.join(DATASETS)})")
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise DatasetError(f"{folder} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
    return [os.path.join(folder, name) for name in names]


def load_folder(folder, channels=3, limit=None):
    """Every picture in `folder` (sorted by file name, the first `limit` only if given) as
    a list of float32 arrays (H, W, `channels`) in [0, 1]."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")
    return [to_channels(read_image(path)[0], channels) for path in image_files(folder)[:limit]]


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
    """A `size` x `size` window of an (H, W, C) image at a place drawn from `rng`."""
    image = pad_to(image, size)
    top = rng.integers(0, image.shape[0] - size + 1)
    left = rng.integers(0, image.shape[1] - size + 1)
    return image[top : top + size, left : left + size]


def load_picture_dataset(folder, channels, image_size, test_folder=None,
                         train_limit=None, test_limit=None):
    """Training and test pictures from folders: (train, test).

    `train` is a list of whole pictures: the training batches cut fresh random crops of
    `image_size` from them every epoch. `test` is one array (N, image_size, image_size,
    channels) of centre crops, the same every time. Test pictures come from `test_folder`,
    or else every fifth picture of `folder` (a fixed 20%) is kept for testing and never
    trained on.
    """
    paths = image_files(folder)
    if test_folder is None:
        train_paths = [path for index, path in enumerate(paths) if index % TEST_EVERY]
        test_paths = paths[::TEST_EVERY]
    else:
        train_paths, test_paths = paths, image_files(test_folder)
    if not train_paths:
        raise DatasetError(f"{folder} has too few pictures to keep some for testing")

    def read(path):
        return to_channels(read_image(path)[0], channels)

    train = [read(path) for path in train_paths[:train_limit]]
    test = np.stack([centre_crop(read(path), image_size) for path in test_paths[:test_limit]])
    return train, test
