import argparse
import gzip

import keras
import numpy as np
import png
import pytest
from PIL import Image

import data
from conftest import write_idx


def test_read_idx_gives_back_the_array_written(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), array)


def test_read_idx_reads_uncompressed_files(tmp_path):
    array = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", array)
    (tmp_path / "labels").write_bytes(gzip.decompress((tmp_path / "labels.gz").read_bytes()))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "labels"), array)


@pytest.mark.parametrize("content, message", [
    (b"not an idx file at all", "not an IDX file"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]), "promises"),  # 9 labels promised, 2 present
])
def test_read_idx_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(data.DatasetError, match=message):
        data.read_idx(path)


def test_read_idx_refuses_a_truncated_gzip_file(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((10, 28, 28), np.uint8))
    (tmp_path / "cut.gz").write_bytes((tmp_path / "a.gz").read_bytes()[:30])
    with pytest.raises(data.DatasetError, match="cut.gz"):
        data.read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("name", data.DATASETS)
def test_load_dataset_gives_unit_float_images_with_a_channel_axis(tiny_data_dir, name):
    (x_train, y_train), (x_test, y_test) = data.load_dataset(name, tiny_data_dir)
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (4, 28, 28, 1)
    assert x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    raw = data.read_idx(tiny_data_dir / data.DATASETS[name] / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(x_train[..., 0] * 255.0, raw, atol=1e-4)
    assert y_train.shape == (6,) and y_test.shape == (4,)


def test_limits_take_the_first_images(tiny_data_dir):
    (x_all, y_all), _ = data.load_dataset("mnist", tiny_data_dir)
    (x_train, y_train), (x_test, _) = data.load_dataset("mnist", tiny_data_dir, 2, 3)
    assert len(x_train) == 2 and len(x_test) == 3
    np.testing.assert_array_equal(x_train, x_all[:2])
    np.testing.assert_array_equal(y_train, y_all[:2])


def test_the_environment_variable_names_the_data_dir(tiny_data_dir, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tiny_data_dir))
    (x_train, _), _ = data.load_dataset("mnist")
    assert len(x_train) == 6


def test_a_data_dir_without_the_dataset_says_what_it_needs(tmp_path):
    with pytest.raises(data.DatasetError, match="fashion-mnist/"):
        data.load_dataset("fashion_mnist", tmp_path)


def test_offline_without_a_local_copy_says_both_ways_to_fix_it(monkeypatch):
    def no_network():
        raise Exception("URL fetch failure on https://example: None -- [Errno -3] no network")

    monkeypatch.delenv(data.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(data.DatasetError) as raised:
        data.load_dataset("mnist")
    message = str(raised.value)
    assert "internet" in message and "--data-dir" in message and "DENOISE_DATA_DIR" in message
    assert "\n" not in message


def test_an_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        data.load_dataset("cifar10")


def write_pictures(folder):
    """A folder with a grey, an RGB, an RGBA, a 16-bit grey picture and a text file."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    rgb = rng.integers(0, 256, (8, 14, 3), dtype=np.uint8)
    Image.fromarray(grey).save(folder / "a_grey.png")
    Image.fromarray(rgb).save(folder / "b_rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((8, 14), 255, np.uint8)])).save(folder / "c_rgba.png")
    Image.fromarray((grey.astype(np.uint16) * 257)).save(folder / "d_grey16.png")
    (folder / "notes.txt").write_text("not a picture")
    return grey, rgb


def test_load_folder_reads_every_picture_as_float_in_0_1_in_name_order(tmp_path):
    grey, rgb = write_pictures(tmp_path / "pictures")
    images = data.load_folder(tmp_path / "pictures", channels=3)
    assert [image.shape for image in images] == [(12, 10, 3), (8, 14, 3), (8, 14, 3), (12, 10, 3)]
    assert all(image.dtype == np.float32 for image in images)
    np.testing.assert_allclose(images[0][..., 1], grey / 255, atol=1e-6)  # grey, repeated
    np.testing.assert_allclose(images[1], rgb / 255, atol=1e-6)
    np.testing.assert_allclose(images[2], rgb / 255, atol=1e-6)  # alpha dropped
    np.testing.assert_allclose(images[3], images[0], atol=1e-6)  # 16 bits, same picture


def test_load_folder_in_grey_weighs_the_colours_and_respects_the_limit(tmp_path):
    grey, rgb = write_pictures(tmp_path / "pictures")
    first_two = data.load_folder(tmp_path / "pictures", channels=1, limit=2)
    assert [image.shape for image in first_two] == [(12, 10, 1), (8, 14, 1)]
    np.testing.assert_allclose(first_two[0][..., 0], grey / 255, atol=1e-6)
    np.testing.assert_allclose(first_two[1][..., 0], rgb @ [0.299, 0.587, 0.114] / 255, atol=1e-5)


def test_load_folder_refuses_missing_empty_and_broken_folders(tmp_path):
    with pytest.raises(data.DatasetError, match="is not a folder"):
        data.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetError, match="holds no"):
        data.load_folder(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(data.DatasetError, match="cannot read .*cut.png"):
        data.load_folder(tmp_path / "broken")


def test_picture_dataset_keeps_every_fifth_picture_for_testing_as_centre_crops(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for index in range(10):
        picture = np.full((20 + index, 30, 3), index * 20, np.uint8)
        Image.fromarray(picture).save(folder / f"{index}.png")
    train, test = data.load_picture_dataset(folder, channels=3, image_size=16)
    assert len(train) == 8 and [image.shape[0] for image in train[:2]] == [21, 22]  # whole
    assert test.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(test[:, 0, 0, 0], [0, 100 / 255], atol=1e-6)  # pictures 0 and 5
    train, test = data.load_picture_dataset(folder, 1, 32, test_folder=folder, test_limit=3)
    assert len(train) == 10 and test.shape == (3, 32, 32, 1)  # smaller pictures: reflected


def test_training_pictures_are_kept_in_their_own_bits_and_cropped_as_float(tmp_path):
    """Whole training photos are kept as long as the run goes: as float32 they took four
    times the memory of their 8-bit files (ten 12-megapixel photos: 1.4 GB, not 360 MB)."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    for index in range(5):
        Image.fromarray(pixels).save(folder / f"{index}.png")
    with open(folder / "00-16-bit.png", "wb") as file:  # picture 1: 0.png is for testing
        png.Writer(50, 40, greyscale=True, bitdepth=16).write(file, np.full((40, 50), 65535 // 3))
    train, _ = data.load_picture_dataset(folder, channels=3, image_size=16)
    assert [image.dtype for image in train] == [np.uint16, np.uint8, np.uint8, np.uint8]
    assert sum(image.nbytes for image in train) == 40 * 50 * 3 * (2 + 3)
    np.testing.assert_array_equal(data.to_float(train[1]), pixels / np.float32(255))
    assert data.random_crop(train[1], 8, np.random.default_rng(0)).dtype == np.float32
    sixteen = data.random_crop(train[0], 8, np.random.default_rng(0))
    np.testing.assert_allclose(sixteen, 1 / 3, atol=1e-6)


def test_random_crops_are_inside_the_picture_and_follow_the_seed():
    image = np.arange(10 * 12, dtype=np.float32).reshape(10, 12, 1)
    crops = [data.random_crop(image, 4, np.random.default_rng(seed)) for seed in (1, 1, 2)]
    np.testing.assert_array_equal(crops[0], crops[1])
    assert crops[0].shape == (4, 4, 1)
    top, left = divmod(int(crops[0][0, 0, 0]), 12)
    np.testing.assert_array_equal(crops[0], image[top : top + 4, left : left + 4])


def test_hold_out_keeps_the_last_share_for_validation():
    images = np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1)
    train, validation = data.hold_out(images, 0.1)
    assert train[:, 0, 0, 0].tolist() == list(range(18))  # the first ones, in order
    assert validation[:, 0, 0, 0].tolist() == [18, 19]
    pictures = [np.zeros((16 + index, 16, 1)) for index in range(5)]  # photos of any sizes
    train, validation = data.hold_out(pictures, 0.2)
    assert len(train) == 4 and validation[0].shape == (20, 16, 1)


def test_hold_out_refuses_to_leave_a_set_empty():
    with pytest.raises(data.DatasetError, match="cannot spare a validation share"):
        data.hold_out(np.zeros((1, 2, 2, 1)), 0.1)


@pytest.mark.parametrize("text", ["0", "1", "1.5", "-0.1", "a tenth"])
def test_a_validation_split_outside_0_to_1_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        data.validation_split_argument(text)
