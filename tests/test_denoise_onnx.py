"""denoise.py with an exported .onnx model: the same pictures as with the .keras model it
came from (within 1e-4), through the same padding, tiles, self-ensemble and noise level, in
a process where Keras and TensorFlow cannot be imported."""

import numpy as np
import pytest
from conftest import REPOSITORY, run_script, run_script_without
from PIL import Image

pytest.importorskip("onnxruntime", reason="pip install -r requirements-export.txt")
pytest.importorskip("tf2onnx", reason="pip install -r requirements-export.txt")

import dense_models  # noqa: E402
import denoiser  # noqa: E402
from tools import export  # noqa: E402

TOLD_THE_LEVEL = REPOSITORY / "models" / "unet-level-train400.keras"
# Keras and TensorFlow made impossible to import, as where only requirements-onnx.txt is
# installed.
WITHOUT_KERAS = ("keras", "tensorflow")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{name: (.keras path, .onnx path)}: the grey told-the-level model of models/, and a
    dense model of fixed size (random weights, which is all a comparison needs)."""
    folder = tmp_path_factory.mktemp("onnx")
    dense = folder / "deep.keras"
    dense_models.build_deep((28, 28, 1)).save(dense)
    export.main([str(TOLD_THE_LEVEL), str(dense), "--out", str(folder)])
    return {"level": (TOLD_THE_LEVEL, folder / "unet-level-train400.onnx"),
            "dense": (dense, folder / "deep.onnx")}


def a_noisy_picture(height, width, channels, seed=0):
    rng = np.random.default_rng(seed)
    rows, columns = np.meshgrid(np.linspace(0, 4, height), np.linspace(0, 6, width),
                                indexing="ij")
    clean = 0.5 + 0.3 * np.sin(rows)[..., None] * np.cos(columns[..., None] + np.arange(channels))
    return (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)


def test_an_onnx_model_answers_as_its_keras_model_does(exported):
    keras_path, onnx_path = exported["level"]
    onnx_model = denoiser.load_model(str(onnx_path))
    assert onnx_model.inputs[0].name == "noisy" and onnx_model.inputs[1].name == "noise_level"
    assert denoiser.image_shape(onnx_model) == denoiser.image_shape(denoiser.load_model(str(keras_path)))


@pytest.mark.parametrize("name, shape, tile, ensemble", [
    ("level", (70, 90, 3), 32, True),   # a grey model on colour: tiles, channel by channel, x8
    ("level", (45, 61, 1), 512, False),  # padded to 48x64, whole
    ("dense", (40, 50, 1), 512, False),  # a fixed size: always tiles of 28x28
])
def test_the_same_picture_through_onnx_and_keras(exported, name, shape, tile, ensemble):
    keras_path, onnx_path = exported[name]
    level = 30 / 255 if name == "level" else None
    picture = a_noisy_picture(*shape)
    outputs = [denoiser.denoise_picture(denoiser.load_model(str(path)), picture, tile, ensemble, level)
               for path in (keras_path, onnx_path)]
    assert outputs[0].shape == shape
    assert np.max(np.abs(outputs[0] - outputs[1])) < 1e-4


def identity_onnx(path, name="x", batch=1, element_type="FLOAT"):
    """An ONNX model that gives its picture back, with an input of its own name, made for
    `batch` pictures at a time, of pixels of `element_type`: not what tools/export.py
    writes, but an ONNX file such as another tool might."""
    import onnx
    from onnx import helper

    kind = getattr(onnx.TensorProto, element_type)
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])], "identity",
        [helper.make_tensor_value_info(name, kind, [batch, None, None, 1])],
        [helper.make_tensor_value_info("y", kind, [batch, None, None, 1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return str(path)


def test_an_onnx_model_for_one_picture_at_a_time_still_denoises_in_tiles(tmp_path):
    model = denoiser.load_model(identity_onnx(tmp_path / "one.ONNX"))  # any case of .onnx
    picture = a_noisy_picture(70, 90, 1).clip(0, 1)
    np.testing.assert_allclose(denoiser.denoise_picture(model, picture, tile_size=32), picture,
                               atol=1e-6)


def test_an_onnx_model_that_refuses_the_pictures_gets_one_line(tmp_path):
    model = identity_onnx(tmp_path / "half.onnx", element_type="FLOAT16")  # float16 pixels
    Image.fromarray(np.full((20, 20), 128, np.uint8)).save(tmp_path / "grey.png")
    result = run_script("denoise.py", "--model", model, tmp_path / "grey.png", "--out", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'grey.png'}: the model fails on a "
                                    "picture of 20x20 pixels (onnxruntime: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "grey_denoised.png").exists()


def test_denoise_py_runs_an_onnx_model_without_keras_and_tensorflow(exported, tmp_path):
    keras_path, onnx_path = exported["level"]
    clean = np.clip(a_noisy_picture(60, 80, 1, seed=1)[..., 0], 0, 1)
    Image.fromarray(np.round(clean * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    arguments = [tmp_path / "photo.png", "--add-noise", "gaussian-unclipped", "--noise-level",
                 "25/255", "--self-ensemble", "--tile", "32"]
    with_keras = run_script("denoise.py", "--model", keras_path, *arguments, "--out", tmp_path / "k")
    assert with_keras.returncode == 0, with_keras.stderr
    without = run_script_without(WITHOUT_KERAS, "denoise.py", "--model", onnx_path, *arguments,
                                 "--out", tmp_path / "o")
    assert without.returncode == 0, without.stderr
    # The same PSNRs printed, and the same pixels written (rounded to 8 bits: one level at most).
    assert with_keras.stdout.splitlines()[0] == without.stdout.splitlines()[0]
    assert "PSNR noisy" in without.stdout
    for kind in ("denoised", "noisy"):
        pixels = [np.asarray(Image.open(tmp_path / side / f"photo_{kind}.png"), np.int16)
                  for side in ("k", "o")]
        assert np.max(np.abs(pixels[0] - pixels[1])) <= 1
    # Without Keras, a .keras model is refused in one line, and a file that is not ONNX too.
    refused = run_script_without(WITHOUT_KERAS, "denoise.py", "--model", keras_path,
                                 tmp_path / "photo.png", "--out", tmp_path / "r")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: {keras_path}: a .keras model needs keras: pip install -r requirements.txt "
        "(or run an exported .onnx model)"]
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    broken = run_script("denoise.py", "--model", tmp_path / "broken.onnx", tmp_path / "photo.png",
                        "--out", tmp_path / "r")
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"error: {tmp_path / 'broken.onnx'}: not an ONNX model we can run")


def test_onnx_speed_times_both_and_finds_the_same_picture(tmp_path):
    """tools/onnx_speed.py, on a small photo: a row of seconds, and at most a level apart."""
    from tools import onnx_speed

    onnx_speed.main(["--models", str(TOLD_THE_LEVEL), "--size", "80", "--repeats", "1",
                     "--out", str(tmp_path)])
    row = (tmp_path / "results.md").read_text().splitlines()[-1].split("|")
    assert row[1].strip() == "unet-level-train400" and "80x80, 1 channel(s)" in row[2]
    assert all(float(seconds) > 0 for seconds in row[3:8]) and int(row[8]) <= 1
