"""Helpers shared by the tests: running a script as a user would, and tiny IDX files."""

import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[1]


def python_command(script):
    """How a user runs `script` from the repository root: a lesson by its file (python
    train_conv.py), a tool as a module of the tools package (python -m tools.compare)."""
    if script.startswith("tools/"):
        return [sys.executable, "-m", script.removesuffix(".py").replace("/", ".")]
    return [sys.executable, str(REPOSITORY / script)]


def run_script(script, *arguments, env=None):
    """Run `python script arguments...` from the repository root; return the result."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [*python_command(script), *map(str, arguments)],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=600,
    )


# Runs a script with `import` of some modules made to fail (None in sys.modules), as where
# they are not installed: argv[1] names them, comma-separated; the rest is the script's.
WITHOUT_MODULES = ("import runpy, sys; sys.modules.update(dict.fromkeys(sys.argv[1].split(','))); "
                   "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def run_script_without(modules, script, *arguments):
    """Run `python script arguments...` from the repository root, as run_script does, where
    each of `modules` (such as "tensorflow") cannot be imported; return the result."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, ",".join(modules), str(REPOSITORY / script),
         *map(str, arguments)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=600,
    )


def read_metrics(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())


def write_idx(path, array):
    """Write a uint8 array as a gzip-compressed IDX file, as MNIST ships."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def write_data_dir(folder, test_images=4):
    """Lay `folder` out like ../shared/data: MNIST and Fashion-MNIST of random pixels, with 6
    train images and `test_images` test images each."""
    rng = np.random.default_rng(0)
    for dataset in ("mnist", "fashion-mnist"):
        directory = folder / dataset
        directory.mkdir(parents=True)
        for split, count in (("train", 6), ("t10k", test_images)):
            write_idx(directory / f"{split}-images-idx3-ubyte.gz",
                      rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
            write_idx(directory / f"{split}-labels-idx1-ubyte.gz",
                      rng.integers(0, 10, count, dtype=np.uint8))
    return folder


def write_photo_folder(folder, count, height=48, width=40, seed=0):
    """A new `folder` of `count` colour PNG pictures of height x width pixels, as photos
    look to a denoiser: smooth gradients, with a bright square each."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    side = min(height, width) // 4
    for index in range(count):
        picture = np.stack([rows / height, columns / width,
                            np.full((height, width), rng.random())], axis=-1)
        top, left = rng.integers(0, min(height, width) - side, 2)
        picture[top : top + side, left : left + side] = 1.0
        Image.fromarray((picture * 255).astype(np.uint8)).save(folder / f"{index:03d}.png")
    return folder


@pytest.fixture
def tiny_data_dir(tmp_path):
    """A data directory laid out like ../shared/data, with 6 train and 4 test images."""
    return write_data_dir(tmp_path)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_script(script, *arguments, env=None):
    """Start `python script arguments...` without waiting; its output unbuffered, so that
    lines arrive as printed, stdout and stderr together."""
    return subprocess.Popen(
        [*python_command(script), *map(str, arguments)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


@pytest.fixture
def processes():
    """A list in which a test puts the processes it starts: any still running at its end
    is killed, whether the test passed or not."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def signal_when(process, line_start, signal_number):
    """Send `signal_number` once the process (start_script) prints a line starting with
    `line_start`; its exit code and whole output, once it has ended."""
    for line in process.stdout:
        if line.startswith(line_start):
            process.send_signal(signal_number)
            break
    return process.returncode, process.communicate(timeout=300)[0]
