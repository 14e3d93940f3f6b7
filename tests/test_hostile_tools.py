"""Hostile arguments, files and moments for the tools (benchmark, export, onnx_speed,
classical): each ends with a non-zero exit code and one line that says what is wrong,
never a traceback, and leaves no half-written file behind.

Each runs the tool as a user would, in a process of its own, except where the fault (a
full disk, a read-only folder) cannot be made for real here: the tests run as root, whom
no permission stops, so those faults are made inside the process.
"""

import errno
import json
import os
import resource
import signal
import subprocess
import time

import pytest
from conftest import REPOSITORY, python_command, run_script

# A ready-trained model of models/, small enough to export in seconds.
MODEL = REPOSITORY / "models" / "unet-psnr-train400-sigma25.keras"
# A limit on the size of a file a process writes: past it, a write fails as on a full disk.
FULL_DISK_BYTES = 64 * 1024


def the_one_error_line(finished, exit_code, start="error: "):
    """The line that says why the run failed, after checking that it is the only one, that
    no traceback came with it, and that the run ended with `exit_code`."""
    assert finished.returncode == exit_code, finished.stdout + finished.stderr
    assert "Traceback" not in finished.stderr
    errors = [line for line in finished.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, finished.stderr
    assert errors[0].startswith(start), finished.stderr
    return errors[0]


def leftovers(folder):
    """The half-written files a writer may leave in `folder` (files.temporary_name)."""
    return [path.name for path in folder.rglob("*") if ".partial-" in path.name]


# ## tools.benchmark

@pytest.mark.parametrize("arguments, said", [
    (["--train-limit", "abc"], "argument --train-limit: must be a whole number, not 'abc'"),
    (["--train-limit", "0"], "argument --train-limit: must be a whole number >= 1, not 0"),
    (["--seeds", "0", "-5"], "argument --seeds: must be a whole number from 0 to"),
    (["--noise-level", "nan"], "argument --noise-level: the noise level must be a finite"),
    (["--noise-level", "11"], "argument --noise-level: a Gaussian noise level must lie in"),
], ids=["train-limit-abc", "train-limit-0", "seeds-negative", "noise-level-nan",
        "noise-level-too-high"])
def test_the_benchmark_refuses_a_wrong_number_before_any_run(tmp_path, arguments, said):
    """Checked when the command is read, not an hour later when a run fails on it."""
    finished = run_script("tools/benchmark.py", "--runs", "small", "--out", tmp_path / "b",
                          *arguments)
    line = the_one_error_line(finished, 2, start="python -m tools.benchmark: error: ")
    assert said in line
    assert not (tmp_path / "b").exists()


def test_the_benchmark_whose_runs_fail_exits_1_and_says_where_the_reasons_are(tmp_path):
    """A data folder without MNIST: the run fails at once, and the benchmark says so in its
    exit code and its last line, after writing its table whole."""
    (tmp_path / "no-data").mkdir()
    finished = run_script("tools/benchmark.py", "--runs", "small", "--train-limit", "1",
                          "--data-dir", tmp_path / "no-data", "--out", tmp_path / "b")
    line = the_one_error_line(finished, 1)
    assert line == f"error: 1 of 1 runs failed: small.log in {tmp_path / 'b'} says why"
    assert "| small | failed: exit code 1, see small.log |" in (
        tmp_path / "b" / "results.md").read_text()
    assert "no folder" in (tmp_path / "b" / "small.log").read_text()
    assert leftovers(tmp_path / "b") == []


def test_the_benchmark_on_a_full_disk_leaves_no_torn_results(tmp_path, monkeypatch, capsys):
    """results.json is written whole or not at all: a disk that fills halfway through
    leaves no torn file, and one line."""
    from tools import benchmark

    def runs_and_writes_metrics(command, **_):
        out = command[command.index("--out") + 1]
        os.makedirs(out)
        metrics = {"seed": 0, "model": "small", "loss": "mse", "epochs": 1, "params": 1,
                   "train_seconds": 1.0, "noisy_psnr": 20.0, "psnr": 30.0, "noisy_ssim": 0.5,
                   "ssim": 0.9}
        with open(os.path.join(out, "metrics.json"), "w") as file:
            file.write(json.dumps(metrics))
        return subprocess.CompletedProcess(command, 0)

    def half_then_full(content, file, **_):
        file.write("{")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(benchmark.signals, "run_child", runs_and_writes_metrics)
    monkeypatch.setattr(benchmark.signals, "stop_in_one_line", lambda _: None)  # pytest's own
    monkeypatch.setattr("json.dump", half_then_full)
    with pytest.raises(SystemExit) as raised:
        benchmark.main(["--runs", "small", "--out", str(tmp_path / "b")])
    assert raised.value.code == (f"error: could not write results.md and results.json into "
                                 f"{tmp_path / 'b'} (No space left on device); each run's own "
                                 "folder and log are kept")
    assert not (tmp_path / "b" / "results.json").exists() and leftovers(tmp_path / "b") == []
    capsys.readouterr()


# ## tools.export

def test_export_into_a_file_says_it_is_not_a_folder(tmp_path):
    (tmp_path / "a-file").write_text("kept")
    finished = run_script("tools/export.py", MODEL, "--out", tmp_path / "a-file")
    line = the_one_error_line(finished, 1)
    assert line == f"error: --out {tmp_path / 'a-file'}: a file, not a folder: name a folder"
    assert (tmp_path / "a-file").read_text() == "kept"


def test_export_under_a_file_says_the_folder_cannot_be_made(tmp_path):
    """A folder on a path that cannot hold one (as a read-only place cannot, for a user
    other than root)."""
    (tmp_path / "a-file").write_text("kept")
    out = tmp_path / "a-file" / "onnx"
    finished = run_script("tools/export.py", MODEL, "--out", out)
    line = the_one_error_line(finished, 1)
    assert line == f"error: --out {out}: cannot make that folder (Not a directory)"


def test_export_on_a_full_disk_leaves_no_partial_file(tmp_path):
    """A limit on file sizes makes the write fail as a full disk does (EFBIG, not ENOSPC:
    the same OSError to the tool)."""
    finished = subprocess.run(
        [*python_command("tools/export.py"), str(MODEL), "--out", str(tmp_path / "onnx")],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                              (FULL_DISK_BYTES, FULL_DISK_BYTES)))
    line = the_one_error_line(finished, 1)
    target = tmp_path / "onnx" / f"{MODEL.stem}.onnx"
    assert line == f"error: {target}: could not write it (File too large); not written"
    assert list((tmp_path / "onnx").iterdir()) == []


def test_export_into_a_read_only_folder_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    """Root writes into a read-only folder all the same: here the export's write is made to
    fail as a user's would, once it has begun the file."""
    from tools import export

    def refused(model, pictures, path):
        with open(path, "wb") as file:
            file.write(b"half")
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(export, "write_onnx", refused)
    monkeypatch.setattr(export.signals, "stop_in_one_line", lambda _: None)  # pytest's own
    with pytest.raises(SystemExit) as raised:
        export.main([str(MODEL), "--out", str(tmp_path)])
    assert raised.value.code == 1
    target = tmp_path / f"{MODEL.stem}.onnx"
    assert capsys.readouterr().err == (f"error: {target}: could not write it (Permission "
                                       "denied); not written\n")
    assert [path.name for path in tmp_path.iterdir()] == []


# ## tools.onnx_speed

def test_onnx_speed_with_a_missing_model_says_so(tmp_path):
    finished = run_script("tools/onnx_speed.py", "--models", tmp_path / "gone.keras",
                          "--out", tmp_path / "speed")
    line = the_one_error_line(finished, 1)
    assert line == f"error: {tmp_path / 'gone.keras'}: no such model file"
    assert not (tmp_path / "speed").exists()


def test_onnx_speed_with_a_corrupt_model_says_so(tmp_path):
    (tmp_path / "cut.keras").write_bytes(MODEL.read_bytes()[:1000])  # cut short
    finished = run_script("tools/onnx_speed.py", "--models", tmp_path / "cut.keras",
                          "--out", tmp_path / "speed")
    line = the_one_error_line(finished, 1)
    assert line.startswith(f"error: {tmp_path / 'cut.keras'}: not a .keras model file")
    assert not (tmp_path / "speed").exists()


def test_onnx_speed_without_its_photos_says_so_before_any_timing(tmp_path):
    """No data folder, and a download cache that cannot be made: the photo set is neither
    here nor to be had, which it says before minutes of timing."""
    (tmp_path / "a-file").write_text("")
    finished = run_script("tools/onnx_speed.py", "--models", MODEL, "--out", tmp_path / "speed",
                          "--data-dir", tmp_path / "no-data",
                          env={"KERAS_HOME": str(tmp_path / "a-file" / "keras")})
    line = the_one_error_line(finished, 1)
    assert line.startswith("error: could not write bsd68 into ")
    assert not (tmp_path / "speed").exists()


# ## A stop while TensorFlow starts

def catches_sigterm(pid):
    """Has process `pid` a handler of SIGTERM (Linux: its SigCgt mask in /proc)?"""
    with open(f"/proc/{pid}/status") as status:
        caught = next(line for line in status if line.startswith("SigCgt:"))
    return int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1


def sigterm_once_caught(process):
    """Send SIGTERM to `process` as soon as it handles one (within a minute); its exit code
    and standard error once it has ended."""
    deadline = time.monotonic() + 60
    while process.poll() is None and not catches_sigterm(process.pid):
        assert time.monotonic() < deadline, "no SIGTERM handler within a minute"
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=300)
    return process.returncode, errors


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("script, arguments", [
    ("tools/export.py", [MODEL]),
    ("tools/onnx_speed.py", ["--models", MODEL]),
    ("train_conv.py", ["--epochs", 1]),
], ids=["export", "onnx_speed", "train_conv"])
def test_a_sigterm_while_tensorflow_starts_ends_the_tool_in_one_line(
        tmp_path, processes, script, arguments):
    """The first handler comes before TensorFlow's import (seconds): a SIGTERM then is said
    in one line (exit 143), not a silent death."""
    process = subprocess.Popen(
        [*python_command(script), *map(str, arguments), "--out", str(tmp_path / "out")],
        cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    processes.append(process)
    exit_code, errors = sigterm_once_caught(process)
    assert exit_code == 128 + signal.SIGTERM, errors
    assert "Traceback" not in errors
    assert errors.strip().splitlines() == ["SIGTERM: stopped while starting; nothing was written"]
    assert not (tmp_path / "out").exists()


# ## tools.classical

def test_classical_help_prints_its_usage_and_options():
    finished = run_script("tools/classical.py", "--help")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("usage: python -m tools.classical")
    assert "--noise-sigma SIGMA" in finished.stdout


def test_classical_lists_each_method_with_the_strengths_it_tries():
    finished = run_script("tools/classical.py", "--noise-sigma", "0.1")
    assert finished.returncode == 0, finished.stderr
    assert "  total-variation: weight, tried 0.0125, 0.025, 0.05, 0.1, 0.2" in finished.stdout
    assert "  bm3d: " in finished.stdout


def test_classical_refuses_a_sigma_that_is_not_a_number():
    finished = run_script("tools/classical.py", "--noise-sigma", "nan")
    line = the_one_error_line(finished, 2, start="python -m tools.classical: error: ")
    assert "argument --noise-sigma: the noise level must be a finite number" in line
