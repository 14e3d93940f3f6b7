"""Faults a user will hit: each ends in one line naming the file and the reason, an exit
code that is not 0, every input untouched, no half-written file, and every run folder
resumable or clearly failed."""

import contextlib
import gzip
import importlib.util
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import keras
import numpy as np
import png
import pytest
from PIL import Image

import conv_models
import data
import dense_models
import settings
from machinery import files
from tools import compare
from conftest import (REPOSITORY, read_metrics, run_script, signal_when, start_script,
                      write_data_dir)

SMALL_RUN = ["--model", "small", "--train-limit", 256, "--test-limit", 64, "--batch-size", 32]


def start(*arguments, script="train_conv.py"):
    """Start a script with its output unbuffered, so lines arrive as printed."""
    return subprocess.Popen([sys.executable, str(REPOSITORY / script), *map(str, arguments)],
                            cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


# ## Corrupt pictures and data files

def corrupt_png16(path):
    """A 16-bit PNG whose compressed pixels fail zlib's check, though every chunk's CRC holds."""
    writer = png.Writer(20, 20, greyscale=True, bitdepth=16)
    with open(path, "wb") as file:
        writer.write(file, np.full((20, 20), 30000, np.uint16))
    content = bytearray(path.read_bytes())
    start = content.index(b"IDAT") + 4
    length = struct.unpack(">I", content[start - 8 : start - 4])[0]
    chunk = bytearray(content[start : start + length])
    chunk[-4:] = bytes(4 - i for i in range(4))  # the zlib stream's own checksum, wrong
    content[start : start + length] = chunk
    content[start + length : start + length + 4] = struct.pack(
        ">I", zlib.crc32(b"IDAT" + bytes(chunk)))
    path.write_bytes(bytes(content))


def test_corrupt_compressed_data_is_a_one_line_error(tmp_path):
    corrupt_png16(tmp_path / "bad.png")
    with pytest.raises(data.DatasetError, match="bad.png"):
        data.read_image(tmp_path / "bad.png")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(100))[:-30]
                                      + bytes(30))  # a gzip stream that fails its checks
    with pytest.raises(data.DatasetError, match="bad.gz"):
        data.read_idx(tmp_path / "bad.gz")


@pytest.fixture
def identity_model(tmp_path):
    """A saved model that returns its input: denoising changes nothing."""
    inputs = keras.Input((None, None, 1))
    path = tmp_path / "identity.keras"
    keras.Model(inputs, keras.layers.Identity()(inputs)).save(path)
    return path


def write_picture_of_mode(path, mode, rng):
    """A picture of Pillow's `mode` ("I;16": 16-bit grey), or 16-bit PNG ("png16-<planes>")."""
    if mode.startswith("png16"):
        planes = int(mode[-1])
        pixels = rng.integers(0, 65536, (20, 24 * planes), dtype=np.uint16)
        with open(path, "wb") as file:
            png.Writer(24, 20, greyscale=planes <= 2, alpha=planes in (2, 4),
                       bitdepth=16).write(file, pixels)
        return pixels.reshape(20, 24, planes) / 65535
    shapes = {"L": (20, 24), "LA": (20, 24, 2), "RGB": (20, 24, 3), "RGBA": (20, 24, 4)}
    if mode == "I;16":
        pixels = rng.integers(0, 65536, (20, 24), dtype=np.uint16)
        Image.fromarray(pixels).save(path)
        return pixels[..., np.newaxis] / 65535
    pixels = rng.integers(0, 256, shapes[mode], dtype=np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return pixels.reshape(20, 24, -1) / 255


ACCEPTED = [("L", "png"), ("LA", "png"), ("RGB", "png"), ("RGBA", "png"), ("L", "tif"),
            ("RGB", "tif"), ("RGBA", "tif"), ("I;16", "tif"), ("I;16", "png"),
            ("png16-1", "png"), ("png16-2", "png"), ("png16-3", "png"), ("png16-4", "png")]


def test_every_accepted_pixel_mode_comes_back_exactly_through_an_identity_model(
        tmp_path, identity_model):
    rng = np.random.default_rng(0)
    pictures = {}
    for mode, extension in ACCEPTED:
        path = tmp_path / f"{mode.replace(';', '')}-{extension}.{extension}"
        pictures[path] = write_picture_of_mode(path, mode, rng)
    result = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / "out",
                        *pictures)
    assert result.returncode == 0, result.stderr[-2000:]
    for path, pixels in pictures.items():
        written, bits = data.read_image(tmp_path / "out" / f"{path.stem}_denoised.png")
        assert bits == (16 if "16" in path.stem else 8), path.name
        np.testing.assert_array_equal(written, pixels.astype(np.float32), err_msg=path.name)


def test_a_16_bit_png_of_fewer_significant_bits_keeps_its_brightness(tmp_path):
    """An sBIT chunk says 12 of the 16 bits count; pypng then gives values up to 4095."""
    pixels = np.full((20, 20), 4095, np.uint16)  # white, in 12 bits
    with open(tmp_path / "sbit.png", "wb") as file:  # 16 bits in the file, with sBIT 12
        png.Writer(20, 20, greyscale=True, bitdepth=12).write(file, pixels)
    image, bits = data.read_image(tmp_path / "sbit.png")
    assert bits == 16 and image.min() == 1.0


def test_a_transparent_colour_becomes_an_alpha_channel(tmp_path):
    Image.fromarray(np.array([[0, 255] * 10] * 20, np.uint8)).save(tmp_path / "key.png",
                                                                    transparency=0)
    image, _ = data.read_image(tmp_path / "key.png")
    assert image.shape == (20, 20, 2) and image[0, 0, 1] == 0.0 and image[0, 1, 1] == 1.0


@pytest.mark.parametrize("pixels, mode", [
    (np.full((20, 20), 0.5, np.float32), "F"),  # a float TIFF: was read nearly black
    (np.full((20, 20), 70000, np.int32), "I"),
    (np.zeros((20, 20, 4), np.uint8), "CMYK"),
])
def test_pixels_of_other_kinds_are_refused_in_one_line(tmp_path, identity_model, pixels, mode):
    Image.fromarray(pixels, mode).save(tmp_path / "odd.tif")
    result = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / "out",
                        tmp_path / "odd.tif")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "odd.tif" in result.stderr and "save it as an 8- or 16-bit PNG" in result.stderr
    assert not os.listdir(tmp_path / "out")


def test_a_16_bit_ppm_is_refused_rather_than_cut_to_8_bits(tmp_path):
    header = b"P6 4 4 65535\n"
    (tmp_path / "deep.ppm").write_bytes(header + np.full(48, 40000, ">u2").tobytes())
    with pytest.raises(data.DatasetError, match="deep.ppm: PPM pictures are not read"):
        data.read_image(tmp_path / "deep.ppm")


def test_denoise_goes_on_after_a_corrupt_picture(tmp_path, identity_model):
    corrupt_png16(tmp_path / "bad.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "good.png")
    before = (tmp_path / "bad.png").read_bytes()
    result = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / "out",
                        tmp_path / "bad.png", tmp_path / "good.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "bad.png" in result.stderr.strip().splitlines()[-1]
    assert sorted(os.listdir(tmp_path / "out")) == ["good_denoised.png"]
    assert (tmp_path / "bad.png").read_bytes() == before


@pytest.mark.parametrize("out", ["a_file", "a_file/below"])
def test_an_out_that_is_a_file_or_below_one_is_one_line(tmp_path, identity_model, out):
    (tmp_path / "a_file").write_text("mine")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    result = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / out,
                        tmp_path / "a.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --out")
    assert (tmp_path / "a_file").read_text() == "mine"


def denoise_with_a_broken_model(tmp_path, layer):
    """Denoise a 20x20 grey picture with a model of one `layer`: it must fail in one line
    (returned) and write nothing."""
    inputs = keras.Input((None, None, 1))
    keras.Model(inputs, layer(inputs)).save(tmp_path / "broken.keras")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    result = run_script("denoise.py", "--model", tmp_path / "broken.keras", "--out",
                        tmp_path / "out", tmp_path / "a.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not os.listdir(tmp_path / "out")
    return result.stderr.strip().splitlines()[-1]


def test_a_model_that_changes_the_size_is_one_line(tmp_path):
    shrinking = keras.layers.Conv2D(1, 3)  # "valid": 2 pixels less
    assert "must keep the size" in denoise_with_a_broken_model(tmp_path, shrinking)


def test_a_model_whose_output_is_nan_writes_nothing(tmp_path):
    assert "NaN" in denoise_with_a_broken_model(tmp_path, keras.layers.Rescaling(float("nan")))


def test_a_tile_too_small_to_be_useful_is_refused(tmp_path, identity_model):
    result = run_script("denoise.py", "--model", identity_model, "--tile", 3, "a.png")
    assert result.returncode == 2 and "argument --tile" in result.stderr


def test_training_refuses_pictures_that_denoise_py_would_refuse(tmp_path):
    for index in range(6):
        Image.fromarray(np.zeros((1 if index == 3 else 32, 32), np.uint8)).save(
            tmp_path / f"{index}.png")
    with pytest.raises(data.DatasetError, match="3.png: 32x1 pixels is too small"):
        data.load_picture_dataset(str(tmp_path), 1, 16)


# ## Outputs that race, and stops while writing

def test_an_exclusive_create_never_replaces_a_file_made_meanwhile(tmp_path):
    target = tmp_path / "x_denoised.png"

    def another_process_wins(temporary):
        assert files.temporary_name(str(target)) == temporary and str(os.getpid()) in temporary
        with open(temporary, "w") as file:
            file.write("mine")
        target.write_text("theirs")  # the other process finishes first

    with pytest.raises(FileExistsError):
        files.create_atomically(str(target), another_process_wins)
    assert target.read_text() == "theirs" and os.listdir(tmp_path) == ["x_denoised.png"]


def test_an_output_that_is_a_dangling_link_is_named_as_such(tmp_path, identity_model):
    picture = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(picture)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x_denoised.png").symlink_to(tmp_path / "nowhere.png")
    finished = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / "out",
                          picture)
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert finished.stderr.strip().splitlines() == [
        f"error: {picture}: {tmp_path / 'out' / 'x_denoised.png'} is a symbolic link to "
        f"{tmp_path / 'nowhere.png'}, which does not exist (--overwrite to replace the link)"]
    assert not (tmp_path / "nowhere.png").exists()  # nothing written through the link


def test_sigterm_while_denoising_leaves_whole_pictures_only(tmp_path, identity_model):
    for index in range(40):
        Image.fromarray(np.full((300, 300), index, np.uint8)).save(tmp_path / f"{index:02d}.png")
    pictures = sorted(tmp_path.glob("*.png"))
    process = start("--model", identity_model, "--out", tmp_path / "out", *pictures,
                    script="denoise.py")
    returncode, output = signal_when(process, str(pictures[0]), signal.SIGTERM)
    assert process.returncode == 143, output[-2000:]
    assert "SIGTERM: stopped" in output and "Traceback" not in output
    written = os.listdir(tmp_path / "out")
    assert 0 < len(written) < len(pictures) and all(name.endswith("_denoised.png") and ".partial" not in name
                           for name in written)
    for name in written:
        Image.open(tmp_path / "out" / name).load()  # each whole


# ## Run folders: resume after damage, stops at the edges of a run

def edit_json(path, replacement=None, **changes):
    """Write `replacement` into a JSON file, or change some of its keys."""
    content = replacement if replacement is not None else {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps(content))


@pytest.fixture(scope="module")
def one_stopped_run(tmp_path_factory):
    """A run of `small` stopped by SIGINT after its first epoch: a folder --resume continues
    (trained once; each test damages a copy of its own)."""
    folder = tmp_path_factory.mktemp("stopped") / "run"
    process = start(*SMALL_RUN, "--epochs", 3, "--out", folder)
    returncode, output = signal_when(process, "epoch 2/3:", signal.SIGINT)
    assert process.returncode == 130, output[-2000:]
    return folder


@pytest.fixture
def stopped_run(one_stopped_run, tmp_path):
    """A copy of `one_stopped_run`, this test's own to damage."""
    return shutil.copytree(one_stopped_run, tmp_path / "run")


@pytest.mark.parametrize("damage, complaint", [
    (lambda run: (run / "arguments.json").write_text(""), "arguments.json is unreadable"),
    (lambda run: (run / "arguments.json").write_text('{"model": "small"'), "arguments.json is unreadable"),
    (lambda run: (run / "arguments.json").write_text("{}"), "arguments.json lacks model"),
    (lambda run: (run / "epochs.json").write_text("[{"), "epochs.json is unreadable"),
    (lambda run: (run / "backup" / "training_metadata.json").write_text(""), "training_metadata.json is unreadable"),
    (lambda run: (run / "backup" / "latest.weights.h5").write_bytes(b"\x89HDF" + bytes(92)), "latest.weights.h5 is unreadable"),
    (lambda run: edit_json(run / "arguments.json", model=7), "argument --model: invalid choice"),
    (lambda run: edit_json(run / "arguments.json", epochs="three"), "argument --epochs"),
    (lambda run: edit_json(run / "arguments.json", learning_rate=-1), "argument --learning-rate"),
    (lambda run: edit_json(run / "arguments.json", noise_level="loud"), "argument --noise-level"),
    (lambda run: edit_json(run / "epochs.json", [{"epoch": 0, "val_loss": "low"}]), "epochs.json holds something other"),
    (lambda run: edit_json(run / "backup" / "training_metadata.json", epoch=99), "names no epoch of this run"),
    (lambda run: (run / "backup" / "latest.weights.h5").unlink(), "the weights or their metadata, not both"),
])
def test_resume_refuses_a_damaged_folder_in_one_line(stopped_run, damage, complaint, capsys):
    damage(stopped_run)
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", conv_models.MODELS, {"__name__": "__main__", "model": "small"},
                             argv=["--resume", "--out", str(stopped_run)])
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert complaint in error and "start a new one" in error


def test_a_dense_script_refuses_to_resume_a_convolutional_run(stopped_run, capsys):
    with pytest.raises(SystemExit) as raised:
        settings.parse_arguments("", dense_models.MODELS, {"__name__": "__main__", "model": "deep"},
                             argv=["--resume", "--out", str(stopped_run)], takes=(settings.DIGITS,))
    assert raised.value.code == 2 and "invalid choice: 'small'" in capsys.readouterr().err


def test_a_kill_right_after_an_epoch_leaves_a_folder_that_resumes(tmp_path):
    process = start(*SMALL_RUN, "--epochs", 2, "--out", tmp_path / "run")
    signal_when(process, "epoch 1/2:", signal.SIGKILL)  # while the backup is written
    assert process.returncode == -signal.SIGKILL
    resumed = run_script("train_conv.py", "--resume", "--out", tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(read_metrics(tmp_path / "run")["history"]["loss"]) == 2


def test_a_stop_once_every_file_is_written_says_so_and_exits_0(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    code = ("import os, signal, time; from machinery import runs; "
            "runs.stop_cleanly_on_signals(os.environ['RUN']); "
            "os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "RUN": str(tmp_path)})
    assert result.returncode == 0 and "the run had finished" in result.stderr
    assert "--resume" not in result.stderr


# Put on PYTHONPATH, it holds the script inside TensorFlow's import: when the import reaches
# TensorFlow's first submodule it writes "inside" and waits until the test writes "signalled".
HOLD_TENSORFLOW_IMPORT = """
import os, sys, time

class HoldTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("tensorflow."):
            sys.meta_path.remove(self)
            open(os.path.join(os.environ["HOLD"], "inside"), "w").close()
            signalled = os.path.join(os.environ["HOLD"], "signalled")
            for _ in range(1200):
                if os.path.exists(signalled):
                    break
                time.sleep(0.05)
        return None

sys.meta_path.insert(0, HoldTensorFlow())
"""


def test_ctrl_c_while_tensorflow_starts_is_one_line(tmp_path):
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: there is no TensorFlow start-up to stop")
    (tmp_path / "sitecustomize.py").write_text(HOLD_TENSORFLOW_IMPORT)
    environment = {**os.environ, "HOLD": str(tmp_path),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                               os.environ.get("PYTHONPATH")]))}
    # Started as from a terminal, Ctrl-C not ignored: a test run in the background of a
    # script (`pytest &`) inherits an ignored SIGINT, which the program rightly keeps ignoring.
    process = subprocess.Popen([sys.executable, str(REPOSITORY / "train_conv.py"), "--help"],
                               cwd=REPOSITORY, stderr=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL, env=environment,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (tmp_path / "inside").exists():  # Python is up and inside TensorFlow's import
        assert process.poll() is None and time.monotonic() < deadline, "never reached TensorFlow"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    (tmp_path / "signalled").touch()
    error = process.communicate(timeout=120)[1]
    assert process.returncode == 130 and "Traceback" not in error, error[-2000:]
    assert error.strip() == "SIGINT: stopped while starting; nothing was written"


@contextlib.contextmanager
def small_disk(folder, size):
    """A tmpfs of `size` mounted on `folder` meanwhile (skips the test where none can be)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_one_line_and_the_run_can_resume(tmp_path):
    with small_disk(tmp_path / "disk", "200k") as disk:
        result = run_script("train_conv.py", *SMALL_RUN, "--epochs", 2, "--out", disk / "run")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        last_line = result.stderr.strip().splitlines()[-1]
        assert "no room for the backup" in last_line and "--resume" in last_line
        assert not (disk / "run" / "FAILED.txt").exists()  # resumable, not failed
        assert not [name for name in os.listdir(disk / "run" / "backup") if "partial" in name]


def test_a_disk_too_full_for_the_arguments_is_a_usage_error(tmp_path):
    with small_disk(tmp_path / "disk", "64k") as disk:
        (disk / "run").mkdir()
        with pytest.raises(OSError):  # fill it
            (disk / "filler").write_bytes(bytes(1 << 20))
        result = run_script("train_conv.py", *SMALL_RUN, "--out", disk / "run")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "cannot write in" in result.stderr.strip().splitlines()[-1]


def test_compare_scores_a_model_whose_metrics_file_is_damaged(tmp_path):
    (tmp_path / "net.metrics.json").write_text('{"model": ')
    described = compare.how_trained(str(tmp_path / "net.metrics.json"))
    assert described.startswith("trained model (net.metrics.json is unreadable")
    (tmp_path / "net.metrics.json").write_text(json.dumps({"model": "unet"}))
    assert "unreadable" in compare.how_trained(str(tmp_path / "net.metrics.json"))


def test_compare_refuses_an_out_that_is_a_file_and_survives_deep_json(tmp_path, capsys):
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(SystemExit) as raised:
        compare.parse_arguments(["--classical", "median", "--out", str(tmp_path / "a_file")])
    assert raised.value.code == 2 and "is a file" in capsys.readouterr().err
    (tmp_path / "deep.metrics.json").write_text("[" * 100000)
    assert "unreadable" in compare.how_trained(str(tmp_path / "deep.metrics.json"))


def test_a_picture_below_our_size_limit_gets_no_pillow_warning(tmp_path, identity_model):
    """Pillow warns of pictures above 89.5 million pixels; ours refuses above 100 million."""
    def chunk(kind, content):
        return (struct.pack(">I", len(content)) + kind + content
                + struct.pack(">I", zlib.crc32(kind + content)))

    header = struct.pack(">IIBBBBB", 10_000, 9_500, 8, 0, 0, 0, 0)  # 95 million grey pixels
    (tmp_path / "large.png").write_bytes(  # it opens (and warns), then proves cut short
        png.signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100)))
        + chunk(b"IEND", b""))
    result = run_script("denoise.py", "--model", identity_model, "--out", tmp_path / "out",
                        tmp_path / "large.png")
    assert result.returncode == 1 and "Warning" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "large.png" in result.stderr


def test_a_model_of_other_channels_names_the_picture(tmp_path):
    inputs = keras.Input((None, None, 2))
    keras.Model(inputs, keras.layers.Identity()(inputs)).save(tmp_path / "two.keras")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    result = run_script("denoise.py", "--model", tmp_path / "two.keras", "--out",
                        tmp_path / "out", tmp_path / "a.png")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "a.png" in last_line and "2 channels" in last_line


# ## Tools that are stopped

def test_a_stopped_make_docs_stops_its_step_too_and_says_where(tmp_path):
    runs_folder = tmp_path / "runs"
    process = start_script("tools/make_docs.py", "--quick", "--runs", runs_folder, "--docs",
                           tmp_path / "docs", "--steps", "default")
    for line in process.stdout:
        if line.startswith("$ python"):  # the step's training has started
            time.sleep(3)
            process.send_signal(signal.SIGTERM)
            break
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 143, output[-2000:]
    assert ("SIGTERM: stopped; step default was stopped too (the next call makes it anew); "
            "every finished step is kept, and python -m tools.make_docs goes on from there"
            in output) and "Traceback" not in output
    time.sleep(2)
    still_running = subprocess.run(["pgrep", "-f", str(runs_folder / "default")],
                                   capture_output=True, text=True)
    assert still_running.stdout == ""  # no training left behind
    assert not (runs_folder / "default" / "metrics.json").exists()


def test_a_stopped_comparison_says_so_in_one_line(tmp_path):
    # 2000 test images: seconds of scoring after the line that sends the signal, so that
    # the comparison cannot end before the signal comes, however busy the machine.
    data_dir = write_data_dir(tmp_path / "data", test_images=2000)
    process = start_script("tools/compare.py", "--data-dir", data_dir, "--limit", 2000,
                           "--workers", 1, "--out", tmp_path / "out")
    _, output = signal_when(process, "noisy input:", signal.SIGTERM)  # it has begun to score
    assert process.returncode == 143, output[-2000:]
    assert output.strip().splitlines()[-1] == (
        f"SIGTERM: stopped; nothing of this comparison was written into {tmp_path / 'out'}")
    assert "Traceback" not in output
