"""tools/camera_noise.py: the real noise of the PolyU pairs beside the simulated noise of
the same camera at the same ISO, measured alike."""

import json
import os

import numpy as np
import pytest

import data
from conftest import run_script
from tools import camera_noise

needs_pairs_and_profiles = pytest.mark.skipif(
    not os.environ.get(data.DATA_DIR_VARIABLE) or data.find_photo_set("polyu100") is None
    or not os.path.isdir(os.path.join(os.environ[data.DATA_DIR_VARIABLE], "camera-noise")),
    reason=f"needs ${data.DATA_DIR_VARIABLE}/real-noise/PolyU100/ and camera-noise/")


def test_the_camera_and_iso_come_from_the_file_name():
    assert camera_noise.camera_and_iso("x/NikonD800_5_100_4000_plant_2_real.JPG") == (
        "Nikon D800", 4000)
    with pytest.raises(data.DatasetError, match="not a PolyU file name"):
        camera_noise.camera_and_iso("holiday_1_2_3200.JPG")


def test_averaging_2x2_leaves_half_of_independent_noise_and_all_of_noise_even_in_blocks():
    rng = np.random.default_rng(0)
    independent = rng.standard_normal((256, 256, 3))
    everywhere = np.ones((256, 256), bool)
    assert camera_noise.left_after_averaging(independent, everywhere) == pytest.approx(
        0.5, abs=0.02)
    blocks = np.repeat(np.repeat(rng.standard_normal((128, 128, 3)), 2, axis=0), 2, axis=1)
    assert camera_noise.left_after_averaging(blocks, everywhere) == pytest.approx(1.0)
    left_out = everywhere.copy()
    left_out[:128] = False  # the top half independent noise of spread 10: not measured
    mixed = np.concatenate([10 * independent[:128], blocks[128:]])
    assert camera_noise.left_after_averaging(mixed, left_out) == pytest.approx(1.0)


def test_the_flat_half_is_where_the_reference_varies_least():
    reference = np.zeros((64, 64, 3))
    reference[:, 32:] = np.indices((64, 32))[1][..., None] % 2  # stripes on the right
    flat = camera_noise.flat_half(reference)
    assert flat[:, :24].all() and not flat[:, 40:].any()


@needs_pairs_and_profiles
def test_the_tool_measures_real_and_simulated_noise_of_a_few_pairs(tmp_path):
    out = tmp_path / "noise"
    result = run_script("tools/camera_noise.py", "--limit", 3, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("spread.png", "crops.png", "results.md"):
        assert (out / name).stat().st_size > 0
    measured = json.loads((out / "results.json").read_text())["cameras"]
    assert list(measured) == ["Canon EOS 5D Mark II"]  # the first 3 pairs' camera
    rows = measured["Canon EOS 5D Mark II"]["pairs"]
    assert len(rows) == 3
    for row in rows:
        for kind in ("real", "simulated"):
            assert 0.3 < row[kind]["spread"] < 30
            assert 0.5 <= row[kind]["left_after_averaging"] <= 1.0
    assert "| Canon EOS 5D Mark II | 3 | 3200 | 75 |" in (out / "results.md").read_text()
    again = run_script("tools/camera_noise.py", "--limit", 3, "--out", out)
    assert again.returncode == 2 and "holds results.md already" in again.stderr


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_a_jpeg_says_the_quality_it_was_saved_at(tmp_path, quality):
    from PIL import Image

    path = tmp_path / "saved.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=quality)
    assert camera_noise.jpeg_quality(path) == quality
    Image.fromarray(pixels).save(tmp_path / "saved.png")
    assert camera_noise.jpeg_quality(tmp_path / "saved.png") is None
