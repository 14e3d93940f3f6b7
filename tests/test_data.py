import gzip

import keras
import numpy as np
import pytest

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
    raw = data.read_idx(tiny_data_dir / data.LOCAL_FOLDERS[name] / "train-images-idx3-ubyte.gz")
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
