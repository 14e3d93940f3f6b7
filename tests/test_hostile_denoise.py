"""denoise.py against hostile files and pictures (fourth pass): each is refused in one line
before it can do harm, or is denoised in bounded memory, and a run that will not end
still stops at a second Ctrl-C or SIGTERM.

The memory bounds are tested on small pictures (tracemalloc counts NumPy's arrays), and
the size caps with files that stay small, rather than by allocating gigabytes."""

import os
import signal
import time
import tracemalloc
import weakref
import zipfile

import keras
import numpy as np
import pytest
from PIL import Image

import denoiser
import noise
from conftest import REPOSITORY, run_script, start_script

TOLD_THE_LEVEL = REPOSITORY / "models" / "unet-level-train400.keras"


def one_error_line(result):
    """The single line a refused run prints on stderr; fails if there is more, or none."""
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


@pytest.fixture
def picture(tmp_path):
    """A small noisy grey PNG."""
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def save_keras_model(path, input_shape):
    """Save a Keras model that gives back its pictures' input as it is."""
    inputs = keras.Input(input_shape, name="noisy")
    keras.Model(inputs, keras.layers.Identity()(inputs)).save(path)
    return path


@pytest.fixture
def identity_model(tmp_path):
    return save_keras_model(tmp_path / "identity.keras", (None, None, 1))


# ## 1. An .onnx model's external data must lie in its own folder

@pytest.fixture
def onnx_helper():
    return pytest.importorskip("onnx", reason="pip install -r requirements-export.txt")


def save_onnx_model(onnx, path, location=None, nodes=None, inputs=None, initializers=()):
    """Save an ONNX model of opset 17 that adds 0 to its pictures ("noisy" -> "denoised"),
    the 0 kept in external data at `location` if given; or, with `nodes`, that graph."""
    from onnx import TensorProto, helper, numpy_helper

    shape = ["batch", "height", "width", 1]
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    if location is not None:
        zero.ClearField("raw_data")
        zero.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "4")):
            entry = zero.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph(
        nodes or [helper.make_node("Add", ["noisy", "zero"], ["denoised"])], "g",
        inputs or [helper.make_tensor_value_info("noisy", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("denoised", TensorProto.FLOAT, shape)],
        [zero, *initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())  # as written: onnx.save checks locations
    return path


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "/etc/passwd", "link.bin"])
def test_external_data_outside_the_models_folder_is_refused_before_loading(
        tmp_path, picture, onnx_helper, location):
    (tmp_path / "link.bin").symlink_to("/etc/passwd")  # inside by name, outside in truth
    model = save_onnx_model(onnx_helper, tmp_path / "hostile.onnx", location)
    result = run_script("denoise.py", "--model", model, picture, "--out", tmp_path / "out")
    assert one_error_line(result) == (f"error: {model}: its weights are to be read from "
                                      f"{location!r}, outside the model's folder; refused")


def test_external_data_inside_the_models_folder_is_read(tmp_path, picture, onnx_helper):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "zero.bin").write_bytes(bytes(4))
    model = save_onnx_model(onnx_helper, tmp_path / "model.onnx", "weights/zero.bin")
    result = run_script("denoise.py", "--model", model, picture, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_external_location_is_found_also_inside_subgraphs(tmp_path, onnx_helper):
    """The reader of denoiser.py finds what the onnx package finds: here the external data
    of a tensor inside a Loop's body, and of an initializer."""
    from onnx import TensorProto, helper, numpy_helper

    hidden = numpy_helper.from_array(np.zeros(1, np.float32), "hidden")
    hidden.data_location = TensorProto.EXTERNAL
    entry = hidden.external_data.add()
    entry.key, entry.value = "location", "../secret"
    body = helper.make_graph(
        [helper.make_node("Identity", ["condition"], ["condition_out"]),
         helper.make_node("Constant", [], ["carried_out"], value=hidden)], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("condition", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, None)])
    loop = helper.make_node("Loop", ["", "", "noisy"], ["denoised"], body=body)
    path = save_onnx_model(onnx_helper, tmp_path / "nested.onnx", "outer.bin", nodes=[loop])
    assert sorted(denoiser.external_data_locations(str(path))) == [b"../secret", b"outer.bin"]
    with pytest.raises(denoiser.PictureError, match="'../secret', outside the model's folder"):
        denoiser.check_external_data(str(path))


# ## 2. Memory: bounded by the tiles and one copy of the picture

class NumpyIdentity:
    """A model without Keras, of any size and 3 channels, that gives back its input."""
    inputs = [denoiser.ModelInput("noisy", (None, None, None, 3))]
    output_shape = (None, None, None, 3)

    def predict(self, inputs, verbose=0):
        return np.array(inputs)


def test_the_self_ensemble_keeps_one_output_at_a_time():
    alive = []  # weak references to every output made so far

    def denoise_and_count(images):
        most_alive = sum(reference() is not None for reference in alive)
        seen.append(most_alive)
        output = images + 1
        alive.append(weakref.ref(output))
        return output

    seen = []
    images = np.zeros((3, 5, 7, 1), np.float32)
    np.testing.assert_allclose(denoiser.self_ensemble(denoise_and_count, images), images + 1)
    assert max(seen) <= 1  # a list of outputs kept 7 by the last orientation


def peak_bytes(function, *arguments):
    """The most memory that NumPy held at once while `function(*arguments)` ran, besides
    what was held before."""
    tracemalloc.start()
    try:
        function(*arguments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiles_take_one_float_copy_of_the_picture_besides_the_tiles(monkeypatch):
    monkeypatch.setattr(denoiser, "BATCH_PIXELS", 4 * 64**2)  # a batch of four tiles, 200 KB
    image = np.random.default_rng(0).random((1000, 1000, 3), dtype=np.float32)  # 12 MB
    peak = peak_bytes(denoiser.denoise_with_tiles, NumpyIdentity(), image, 64)
    one_copy = image.nbytes + image.nbytes // 3  # the blended sums, and their weights
    assert peak < 1.2 * one_copy  # a padded copy and a divided one made it 2.6 times


def test_writing_a_picture_makes_no_float_copy_of_it(tmp_path):
    pixels = np.random.default_rng(0).random((1000, 1000, 3), dtype=np.float32)
    peak = peak_bytes(denoiser.write_picture, str(tmp_path / "out.png"), pixels, 8)
    assert peak < pixels.nbytes / 2  # the 8-bit integers, 3 MB, and a band of rows


def test_a_model_of_a_huge_fixed_input_is_refused_before_any_tile(tmp_path, picture):
    model = save_keras_model(tmp_path / "huge.keras", (4096, 4096, 1))  # 13 KB of file
    result = run_script("denoise.py", "--model", model, picture, "--out", tmp_path / "out")
    assert one_error_line(result) == (
        f"error: {model}: its fixed input of 4096x4096 pixels is larger than the 2048x2048 "
        "we accept (each tile would take GBs)")


def test_a_keras_zip_bomb_is_refused_before_keras_unpacks_it(tmp_path, picture, identity_model):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(identity_model) as model, zipfile.ZipFile(
            bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in model.namelist():
            archive.writestr(member, model.read(member))
        with archive.open("padding.bin", "w") as padding:  # 150 MB of zeros, 150 KB zipped
            for _ in range(150):
                padding.write(bytes(2**20))
    with zipfile.ZipFile(bomb) as archive:
        unzipped = sum(member.file_size for member in archive.infolist())
    assert bomb.stat().st_size < 2**20  # so the cap is 100 times 1 MB
    result = run_script("denoise.py", "--model", bomb, picture, "--out", tmp_path / "out")
    assert one_error_line(result) == (
        f"error: {bomb}: unzips to {unzipped:,} bytes, more than the 104,857,600 we accept "
        "for a file of its size (a zip bomb?)")


def test_the_keras_models_of_models_folder_are_far_below_the_unzipped_cap():
    for model in (REPOSITORY / "models").glob("*.keras"):
        denoiser.check_unzipped_size(str(model))


def test_a_tile_too_large_is_refused_by_argparse_with_the_range(picture, identity_model):
    result = run_script("denoise.py", "--model", identity_model, "--tile", 4000, picture)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "error: argument --tile: must be a multiple of 8 from 32 to 2048, not 4000")
    assert "32 to 2048" in run_script("denoise.py", "--help").stdout


def test_a_long_picture_says_how_far_it_has_come(monkeypatch, capsys):
    monkeypatch.setattr(denoiser, "PROGRESS_SECONDS", 0)  # as if each batch took long
    monkeypatch.setattr(denoiser, "BATCH_PIXELS", 8 * 32**2)  # 8 tiles a batch
    image = np.zeros((300, 200, 3), np.float32)
    denoiser.denoise_picture(NumpyIdentity(), image, tile_size=32, ensemble=True, name="big.png")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("big.png: 8 of 104 tiles done, pass 1 of 8 (1%), about ")
    assert lines[-1].startswith("big.png: 96 of 104 tiles done, pass 8 of 8 (99%), about ")
    assert all(line.endswith(" left") for line in lines)


def test_a_quick_picture_says_nothing_of_its_progress(capsys):
    denoiser.denoise_picture(NumpyIdentity(), np.zeros((300, 200, 3), np.float32), 32, True,
                            name="small.png")
    assert capsys.readouterr().err == ""


# ## 3. A model that runs for ever stops at the second signal

def save_loop_model(onnx, path):
    """An ONNX model told the noise level, whose Loop passes the pictures along 2**62
    times: it never ends."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["condition"], ["condition_out"]),
         helper.make_node("Identity", ["carried"], ["carried_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("condition", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, None)])
    loop = helper.make_node("Loop", ["trips", "always", "noisy"], ["looped"], body=body)
    add = helper.make_node("Add", ["looped", "zero"], ["denoised"])
    inputs = [helper.make_tensor_value_info("noisy", TensorProto.FLOAT,
                                            ["batch", "height", "width", 1]),
              helper.make_tensor_value_info("noise_level", TensorProto.FLOAT, ["batch", 1])]
    constants = [numpy_helper.from_array(np.array(2**62, np.int64), "trips"),
                 numpy_helper.from_array(np.array(True), "always")]
    return save_onnx_model(onnx, path, nodes=[loop, add], inputs=inputs, initializers=constants)


def test_a_second_sigterm_stops_a_model_that_runs_for_ever(tmp_path, picture, onnx_helper,
                                                           processes):
    model = save_loop_model(onnx_helper, tmp_path / "forever.onnx")
    process = start_script("denoise.py", "--model", model, picture, "--out", tmp_path / "out")
    processes.append(process)
    for line in process.stdout:  # printed just before the model runs
        if "noise level estimated" in line:
            break
    time.sleep(1)
    process.send_signal(signal.SIGTERM)  # "stopping after the picture in progress": never
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    output = process.communicate(timeout=30)[0]  # for ever, before: only SIGKILL ended it
    # Under a second on an idle machine; the bound leaves room for a busy one.
    assert process.returncode == 143 and time.monotonic() - started < 10, output
    assert output.strip().splitlines()[-1] == ("SIGTERM: stopped at once; the picture in "
                                               "progress is not written")
    assert "Traceback" not in output and "onnxruntime" not in output
    assert not os.listdir(tmp_path / "out")


# ## 4. --noise-level auto on a picture with too little texture

def too_little_texture():
    """Pictures whose noise cannot be estimated: flat white, flat black, black with dots."""
    dots = np.zeros((64, 64), np.uint8)
    dots[::16, ::16] = 255
    return {"white": np.full((64, 64), 255, np.uint8), "black": np.zeros((64, 64), np.uint8),
            "dots": dots}


def test_too_little_texture_gets_no_estimate():
    for name, pixels in too_little_texture().items():
        assert np.isnan(noise.estimate_noise_level(pixels[..., None] / 255)), name
    noisy = np.random.default_rng(0).normal(0.5, 25 / 255, (64, 64, 1))
    assert noise.estimate_noise_level(noisy) == pytest.approx(25 / 255, rel=0.1)


def test_auto_refuses_every_picture_of_too_little_texture_the_same_way(tmp_path):
    paths = []
    for name, pixels in too_little_texture().items():
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(pixels).save(paths[-1])
    result = run_script("denoise.py", "--model", TOLD_THE_LEVEL, *paths, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: its noise level cannot be estimated (the picture has no detail to "
        "estimate it from); tell it with --noise-level, such as 25/255"
        for path in paths]


# ## 5. Pictures of several frames

def test_only_the_first_frame_is_denoised_and_a_note_says_so(tmp_path, identity_model):
    frames = [Image.fromarray(np.full((20, 24), value, np.uint8)) for value in (10, 200, 90)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:2])
    frames[0].save(tmp_path / "pages.tiff", save_all=True, append_images=frames[1:])
    result = run_script("denoise.py", "--model", identity_model, tmp_path / "moving.gif",
                        tmp_path / "pages.tiff", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    for name, frames in (("moving.gif", 2), ("pages.tiff", 3)):
        note = f"note: {tmp_path / name} has {frames} frames; only the first is denoised"
        assert note in result.stdout.splitlines()
    assert np.all(np.asarray(Image.open(tmp_path / "out" / "pages_denoised.png")) == 10)


# ## 6. A bad model gives our one line, and nothing of onnxruntime's or Keras' own

def test_an_onnx_model_that_fails_while_running_gives_one_line(tmp_path, picture, onnx_helper):
    from onnx import helper, numpy_helper

    # The pictures' shape, to every check before it runs; then an index out of range.
    beyond = numpy_helper.from_array(np.array([5], np.int64), "beyond")
    gather = helper.make_node("Gather", ["noisy", "beyond"], ["denoised"], axis=3)
    model = save_onnx_model(onnx_helper, tmp_path / "gather.onnx", nodes=[gather],
                            initializers=[beyond])
    result = run_script("denoise.py", "--model", model, picture, "--out", tmp_path / "out")
    assert one_error_line(result).startswith(f"error: {picture}: the model fails on a picture")


def test_a_keras_model_of_mismatched_weights_gives_one_line(tmp_path, picture, identity_model):
    """A convolution's config with an identity's weights: Keras warns, then fails."""
    inputs = keras.Input((None, None, 1))
    convolution = keras.layers.Conv2D(1, 3, padding="same")
    keras.Model(inputs, convolution(inputs)).save(tmp_path / "c.keras")
    mixed = tmp_path / "mixed.keras"
    with zipfile.ZipFile(tmp_path / "c.keras") as conv, zipfile.ZipFile(identity_model) as other, \
            zipfile.ZipFile(mixed, "w") as archive:
        for member in ("metadata.json", "config.json"):
            archive.writestr(member, conv.read(member))
        archive.writestr("model.weights.h5", other.read("model.weights.h5"))
    result = run_script("denoise.py", "--model", mixed, picture, "--out", tmp_path / "out")
    assert one_error_line(result).startswith(f"error: {mixed}: not a Keras model file we can load")
