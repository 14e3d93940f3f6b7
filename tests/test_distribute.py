"""--distribute: a copy of the model on each device, trained as one (machinery/distribute.py)."""

import socket
import threading
import time

import numpy as np
import pytest
from conftest import free_port, read_metrics, run_script

from machinery import distribute

QUICK = ["--model", "unet", "--train-limit", 300, "--test-limit", 64, "--epochs", 2,
         "--batch-size", 32]


def test_device_names_are_spelled_as_tensorflow_spells_them():
    assert distribute.device_names("GPU:0, /gpu:1,/device:CPU:0") == ["GPU:0", "GPU:1", "CPU:0"]
    for wrong in ("TPU:0", "GPU", "GPU:x", "GPU:0,", "GPU:1,gpu:1"):
        with pytest.raises(ValueError):
            distribute.device_names(wrong)


def test_two_cpu_devices_learn_what_one_device_learns(tmp_path):
    """The same seed on one device and on two logical CPUs: the same losses, up to the
    order of floating-point sums (the last batch of 300 images, 12, is split too)."""
    alone = run_script("train_conv.py", *QUICK, "--out", tmp_path / "one",
                       env={"KERAS_BACKEND": "tensorflow"})
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert "training on" not in alone.stdout  # no distribution: one device, as always
    mirrored = run_script("train_conv.py", *QUICK, "--distribute", "CPU:0,CPU:1",
                          "--out", tmp_path / "two", env={"KERAS_BACKEND": "tensorflow"})
    assert mirrored.returncode == 0, mirrored.stderr[-2000:]
    assert "training on 2 device(s)" in mirrored.stdout  # the strategy's own count

    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert (one["devices"], two["devices"]) == (None, ["CPU:0", "CPU:1"])
    assert one["history"]["val_loss"][-1] < one["history"]["val_loss"][0] - 0.05  # it learned
    for key in ("loss", "val_loss"):
        assert two["history"][key] == pytest.approx(one["history"][key], rel=1e-4)
    assert two["psnr"] == pytest.approx(one["psnr"], abs=0.01)


def test_devices_that_cannot_be_had_stop_before_any_work(tmp_path):
    result = run_script("train_conv.py", "--distribute", "GPU:7", "--out", tmp_path / "run",
                        env={"KERAS_BACKEND": "tensorflow"})
    assert result.returncode == 2 and "TensorFlow has no device GPU:7" in result.stderr
    assert not (tmp_path / "run").exists()


def test_distribute_alone_without_a_gpu_says_how_to_try_it(tmp_path):
    result = run_script("train_dense.py", "--distribute", "--out", tmp_path / "run",
                        env={"KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2 and "--distribute CPU:0,CPU:1" in result.stderr
    assert not (tmp_path / "run").exists()


def test_pytorch_is_told_which_backends_train_on_several_devices(tmp_path):
    pytest.importorskip("torch")  # CI installs it (requirements-backends.txt)
    result = run_script("train_conv.py", "--distribute", "CPU:0,CPU:1", "--out",
                        tmp_path / "run", env={"KERAS_BACKEND": "torch"})
    assert result.returncode == 2 and "KERAS_BACKEND=tensorflow or jax" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_several_machines_on_tensorflow_say_why_not_and_what_works(tmp_path):
    result = run_script("train_conv.py", "--distribute", "multi-worker", "--out",
                        tmp_path / "run", env={"KERAS_BACKEND": "tensorflow"})
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert "needs KERAS_BACKEND=jax" in last_line and "keras-team/keras#20585" in last_line
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def roll_call_of(processes, port, peer_timeout=20):
    """Each process's outcome of `distribute.call_the_roll`, run in threads of this one:
    "joined", or the error it stopped with. `processes` is ((name, id), ...), in the
    order they start, half a second apart; the cluster has 3 processes."""
    outcomes = {}

    def answer(name, process_id):
        try:
            distribute.call_the_roll(f"127.0.0.1:{port}", 3, process_id, peer_timeout)
            outcomes[name] = "joined"
        except ValueError as error:
            outcomes[name] = str(error)

    threads = [threading.Thread(target=answer, args=process) for process in processes]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=peer_timeout + 10)
    return outcomes


def test_two_processes_with_one_id_are_told_so_before_jax_starts():
    """Process 1 twice: the second is told why it cannot join (JAX would end it after
    --peer-timeout with "not every process came", or a page of C++ log), the others join."""
    outcomes = roll_call_of((("0", 0), ("first 1", 1), ("second 1", 1), ("2", 2)), free_port())
    assert outcomes == {"0": "joined", "first 1": "joined", "2": "joined", "second 1":
                        "two processes have KERAS_DISTRIBUTION_PROCESS_ID=1: give each process "
                        "an id of its own"}


def test_a_process_that_comes_after_the_roll_call_is_told_its_id_came_already():
    """After the roll call, JAX holds the port: it answers no roll call (here, a port
    that listens and says nothing stands for it)."""
    with socket.create_server(("127.0.0.1", 0)) as jax_service:
        port = jax_service.getsockname()[1]
        outcomes = roll_call_of((("late 1", 1),), port)
    assert outcomes == {"late 1": "two processes have KERAS_DISTRIBUTION_PROCESS_ID=1: give "
                                  "each process an id of its own"}


def test_a_process_id_out_of_range_is_refused():
    with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_PROCESS_ID is 2: each process "
                                         "needs an id of its own, from 0 to 1"):
        distribute.call_the_roll("127.0.0.1:1", 2, 2, peer_timeout=1)  # ids 0 and 1 only


def test_a_process_that_left_the_roll_call_and_came_back_joins():
    """Process 1 said its id, then ended (a crash, a Ctrl-C) before process 2 came, and is
    started again: its id is free again, and the new process 1 joins."""
    port = free_port()
    address, peer_timeout = f"127.0.0.1:{port}", 20
    process_0 = threading.Thread(target=distribute.call_the_roll,
                                 args=(address, 3, 0, peer_timeout))
    process_0.start()
    time.sleep(0.5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as gone:
        gone.sendall(b"1\n")
        assert gone.recv(16).strip() == b"wait"
    outcomes = roll_call_of((("1 again", 1), ("2", 2)), port)  # a cluster of 3
    process_0.join(timeout=peer_timeout)
    assert outcomes == {"1 again": "joined", "2": "joined"} and not process_0.is_alive()


def test_fewer_validation_images_than_devices_is_said_not_scored_as_nothing(monkeypatch):
    monkeypatch.setattr(distribute, "devices_per_process", lambda: 4)
    kept = distribute.divisible(np.zeros((9, 2)), np.zeros((9, 2)))
    assert [len(array) for array in kept] == [8, 8]  # the first 8: two per device
    with pytest.raises(distribute.TooFewToShare, match="3 validation images cannot be shared"):
        distribute.divisible(np.zeros((3, 2)), np.zeros((3, 2)))
