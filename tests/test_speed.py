"""tools/speed.py: images per second of each preset on each installed backend."""

import importlib.util
import json

from tools import speed
from conftest import run_script

INSTALLED = [name for name in speed.BACKENDS if importlib.util.find_spec(name)]


def test_every_installed_backend_gets_measured(tmp_path):
    result = run_script("tools/speed.py", "--presets", "strided", "--steps", 1, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [(r["backend"], r["preset"]) for r in measured] == [
        (backend, "strided") for backend in INSTALLED]
    for row in measured:
        assert row["train_images_per_second"] > 0 and row["denoise_images_per_second"] > 0
        assert row["matmul_gflops"] > 0
    assert measured[0]["params"] == 3217 and measured[0]["batch_size"] == 128
    table = (tmp_path / "results.md").read_text()
    assert "| strided | 128 | 3,217 |" in table and "matmul GFLOP/s" in table


def test_the_table_puts_backends_side_by_side_and_notes_failures():
    rows = [{"backend": "tensorflow", "preset": "small", "batch_size": 128, "params": 4385,
             "train_images_per_second": 3797.7, "denoise_images_per_second": 14255.6,
             "matmul_gflops": 129.7},
            {"backend": "torch", "failed": "exit code 1: ImportError"}]
    lines = speed.markdown_table(rows).splitlines()
    assert lines[0].startswith("| preset | batch | params | train img/s, tensorflow | train "
                               "img/s, torch | denoise img/s, tensorflow |")
    assert lines[2] == "| small | 128 | 4,385 | 3,798 |  | 14,256 |  |"
    assert lines[3] == "| matmul GFLOP/s |  |  | 130 |  | 130 |  |"
    assert lines[-1] == "torch failed: exit code 1: ImportError"
