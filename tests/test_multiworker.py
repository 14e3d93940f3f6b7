"""--distribute on JAX: several devices of one process, and several processes (machines)
training one model, here on 127.0.0.1 (machinery/distribute.py, docs/several-machines.md).

Every run here is bounded: each process must end within TIMEOUT seconds, and the
`processes` fixture kills any still running when a test ends.
"""

import os
import re
import signal
import socket
import time

import keras
import numpy as np
import pytest
from conftest import free_port, read_metrics, run_script, start_script

import data
import metrics
import noise
from machinery import distribute

pytest.importorskip("jax")  # CI installs it (requirements-backends.txt)

JAX = {"KERAS_BACKEND": "jax"}
# 256 training images: 8 whole batches of 32, so one device and two take the same steps;
# 63 test images: an odd number, left over by two devices.
QUICK = ["--model", "unet", "--train-limit", 256, "--test-limit", 63, "--epochs", 2,
         "--batch-size", 32]
TIMEOUT = 300  # seconds a process of these tiny runs may take before the test gives up
PEER_TIMEOUT = 20  # --peer-timeout: a process whose peer has gone stops this soon
# How close the losses of two processes come to one process's (measured: 1e-7).
TOLERANCE = 1e-5


def keras_cluster(port, process, count=2):
    """The variables keras.distribution.initialize reads, for `process` of `count` here."""
    return {**JAX, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(count),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(process)}


def slurm_task(job_id, process, count=2):
    """The variables Slurm sets in task `process` of a `count`-task job step on this machine."""
    return {**JAX, "SLURM_JOB_ID": str(job_id), "SLURM_STEP_NODELIST": "127.0.0.1",
            "SLURM_NTASKS": str(count), "SLURM_PROCID": str(process),
            "SLURM_LOCALID": str(process), "SLURM_STEP_NUM_NODES": "1"}


def slurm_job_id_with_a_free_port():
    """A job id whose port (JAX takes 61440 + id % 4096 for Slurm) nothing listens on."""
    for job_id in np.random.default_rng().permutation(4096):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", 61440 + int(job_id)))
            except OSError:
                continue
        return int(job_id)
    pytest.skip("no free port for a Slurm job here")


def start_together(processes, environments, *arguments):
    """Start the same training command once per environment, as on several machines."""
    started = [start_script("train_conv.py", *arguments, env=environment)
               for environment in environments]
    processes.extend(started)
    return started


def wait_for_all(started):
    """Each process's (exit code, output), once all have ended."""
    results = []
    for process in started:
        output = process.communicate(timeout=TIMEOUT)[0]
        results.append((process.returncode, output))
    return results


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The QUICK run on one process and one device: what the others are measured against."""
    folder = tmp_path_factory.mktemp("one-process") / "run"
    result = run_script("train_conv.py", *QUICK, "--out", folder, env=JAX)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def assert_same_training(folder, reference):
    """The run in `folder` trained as the run in `reference` did, and scored the same images."""
    run, one = read_metrics(folder), read_metrics(reference)
    assert run["history"]["loss"] == pytest.approx(one["history"]["loss"], rel=TOLERANCE)
    assert run["test_images"] == one["test_images"]
    assert run["psnr"] == pytest.approx(one["psnr"], abs=0.01)
    assert sorted(os.listdir(folder)) == sorted(os.listdir(reference))  # the same kind of folder


def test_two_processes_train_the_model_one_process_trains(tmp_path, processes, one_process):
    port, folder = free_port(), tmp_path / "run"
    started = start_together(processes, [keras_cluster(port, 0), keras_cluster(port, 1)],
                             *QUICK, "--distribute", "multi-worker", "--out", folder)
    (code_0, output_0), (code_1, output_1) = wait_for_all(started)
    assert code_0 == 0, output_0[-3000:]
    assert code_1 == 0, output_1[-3000:]
    assert "process 0 of 2" in output_0 and "training on 2 device(s)" in output_0
    run, one = read_metrics(folder), read_metrics(one_process)
    assert len(run["devices"]) == 2
    for key in ("loss", "val_loss", "val_psnr"):  # the same validation images too: one each
        assert run["history"][key] == pytest.approx(one["history"][key], rel=TOLERANCE)
    assert_same_training(folder, one_process)
    scratch = re.search(r"keeps its copies in (\S+)", output_1).group(1)
    assert not os.path.exists(scratch)  # process 1 wrote its copies there, and removed them

    # The model denoises here, on this process's backend, as its scores say.
    (_, _), (clean, _) = data.load_dataset("mnist", None, None, 63)
    noisy = noise.fixed_noisy_copy(clean, run["noise"], run["noise_level"])
    model = keras.saving.load_model(folder / "model.keras")
    denoised = model.predict(noisy, verbose=0)
    assert metrics.image_quality(clean, denoised)["psnr"] == pytest.approx(run["psnr"], abs=0.01)


def test_the_cluster_is_read_from_keras_or_slurm_variables():
    assert distribute.cluster_from_environment(keras_cluster(1234, 0)) == "keras"
    assert distribute.cluster_from_environment(slurm_task(7, 0)) == "slurm"
    partial = keras_cluster(1234, 0)
    del partial["KERAS_DISTRIBUTION_PROCESS_ID"]
    with pytest.raises(ValueError, match="set KERAS_DISTRIBUTION_PROCESS_ID too"):
        distribute.cluster_from_environment(partial)
    with pytest.raises(ValueError, match="no cluster described"):
        distribute.cluster_from_environment(JAX)


def test_every_process_stopped_after_an_epoch_resumes_the_run_even_as_a_slurm_job(
        tmp_path, processes):
    """Started with Keras' variables, stopped by SIGTERM after epoch 1, resumed as the two
    tasks of a Slurm job step (the variables srun sets, which JAX reads itself)."""
    folder, arguments = tmp_path / "run", ["--distribute", "multi-worker",
                                           "--peer-timeout", PEER_TIMEOUT]
    port = free_port()
    started = start_together(processes, [keras_cluster(port, 0), keras_cluster(port, 1)],
                             "--model", "unet", "--train-limit", 128, "--test-limit", 32,
                             "--epochs", 4, "--batch-size", 32, "--out", folder, *arguments)
    for line in started[0].stdout:  # the stop comes before epoch 2 ends
        if line.startswith("epoch 1/4"):
            break
    backed_up = time.monotonic() + TIMEOUT  # epoch 1 is printed, then backed up
    while not (folder / "backup" / "training_metadata.json").exists():
        assert time.monotonic() < backed_up, "epoch 1 was never backed up"
        time.sleep(0.1)
    for process in started:  # a scheduler stops every process of the job
        process.send_signal(signal.SIGTERM)
    stopped = wait_for_all(started)
    assert [code for code, _ in stopped] == [128 + signal.SIGTERM] * 2, stopped
    assert not (folder / "metrics.json").exists()

    job_id = slurm_job_id_with_a_free_port()
    resumed = start_together(processes, [slurm_task(job_id, 0), slurm_task(job_id, 1)],
                             "--resume", "--out", folder, *arguments)
    (code_0, output_0), (code_1, output_1) = wait_for_all(resumed)
    assert code_0 == 0, output_0[-3000:]
    assert code_1 == 0, output_1[-3000:]
    assert "process 1 of 2" in output_1 and "resuming the run" in output_1
    for output in (output_0, output_1):  # each went on from the backup of epoch 1
        assert "epoch 1/4" not in output and "epoch 2/4" in output
    assert len(read_metrics(folder)["history"]["loss"]) == 4


def test_a_process_whose_peers_never_come_stops_in_one_line(tmp_path, processes):
    started = time.monotonic()
    (alone,) = start_together(processes, [keras_cluster(free_port(), 0)],
                              "--distribute", "multi-worker", "--peer-timeout", 5,
                              "--out", tmp_path / "run")
    output = alone.communicate(timeout=TIMEOUT)[0]
    assert alone.returncode == 1
    assert output.strip().splitlines()[-1] == (
        "error: argument --distribute: not every process of the cluster came within 5 s "
        "(--peer-timeout): start the same command on every machine, each with a process id "
        "of its own")
    assert "Traceback" not in output and not (tmp_path / "run").exists()
    assert time.monotonic() - started < 5 + 60  # the bound, and the time to start Python


def test_two_devices_score_every_test_image_as_one_device_does(tmp_path, one_process):
    """63 test images on 2 devices: validation leaves one out, the final scores none."""
    result = run_script("train_conv.py", *QUICK, "--distribute", "--out", tmp_path / "run",
                        env={**JAX, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 device(s)" in result.stdout
    assert_same_training(tmp_path / "run", one_process)


def test_a_batch_that_does_not_divide_between_the_devices_stops_before_any_work(tmp_path):
    result = run_script("train_conv.py", "--distribute", "CPU:0,CPU:1", "--batch-size", 33,
                        "--out", tmp_path / "run", env=JAX)
    assert result.returncode == 2
    assert "choose a multiple of 2, such as 34" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_processes_started_with_other_settings_all_stop_before_any_work(tmp_path, processes):
    port = free_port()
    started = [start_script("train_conv.py", *QUICK[:-4], "--epochs", epochs, "--batch-size",
                            32, "--distribute", "multi-worker", "--peer-timeout", PEER_TIMEOUT,
                            "--out", tmp_path / "run", env=keras_cluster(port, process))
               for process, epochs in ((0, 1), (1, 2))]
    processes.extend(started)
    (code_0, output_0), (code_1, output_1) = wait_for_all(started)
    assert (code_0, code_1) == (2, 2), output_0[-2000:] + output_1[-2000:]
    assert output_1.strip().splitlines()[-1].endswith(
        "argument --epochs: this process was started with --epochs 2, process 0 with --epochs "
        "1: start the same command on every process")
    assert output_0.strip().splitlines()[-1].endswith(
        "argument --distribute: process 1 was started with other settings than this one: "
        "start the same command on every process")
    assert "Traceback" not in output_0 + output_1
    assert not (tmp_path / "run").exists()  # nothing that looks like a run, finished or not


def test_a_coordinator_port_in_use_is_named_in_one_line(tmp_path, processes):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (alone,) = start_together(processes, [keras_cluster(port, 0)], "--distribute",
                                  "multi-worker", "--peer-timeout", 5, "--out", tmp_path / "run")
        output = alone.communicate(timeout=TIMEOUT)[0]
    assert alone.returncode == 2, output[-2000:]
    assert f"process 0 cannot listen on port {port} of KERAS_DISTRIBUTION_JOB_ADDRESSES" in (
        output.strip().splitlines()[-1])
    assert "Traceback" not in output and not (tmp_path / "run").exists()


def test_two_slurm_tasks_with_one_id_stop_one_of_them_in_one_line(tmp_path, processes):
    """SLURM_PROCID=1 twice: JAX alone would abort every process with a page of C++ log;
    the roll call stops one of the two in one line, and the others train."""
    job_id = slurm_job_id_with_a_free_port()
    started = start_together(processes, [slurm_task(job_id, 0), slurm_task(job_id, 1),
                                         slurm_task(job_id, 1)],
                             "--model", "unet", "--train-limit", 64, "--test-limit", 16,
                             "--epochs", 1, "--batch-size", 32, "--distribute", "multi-worker",
                             "--peer-timeout", PEER_TIMEOUT, "--out", tmp_path / "run")
    (code_0, output_0), *ones = wait_for_all(started)
    assert code_0 == 0, output_0[-3000:]
    assert sorted(code for code, _ in ones) == [0, 2], [output[-3000:] for _, output in ones]
    duplicate = next(output for code, output in ones if code == 2)
    assert duplicate.strip().splitlines()[-1].endswith(
        "argument --distribute: two processes have SLURM_PROCID=1: give each process an id "
        "of its own")
    assert "Traceback" not in duplicate and "Check failure" not in duplicate
    assert len(read_metrics(tmp_path / "run")["history"]["loss"]) == 1
