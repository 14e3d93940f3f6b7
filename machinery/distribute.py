"""Train on several devices, or several machines, at once: the same script (--distribute).

Data parallelism, the simplest way to use several devices: every device holds a copy of
the model; each training step splits the batch between them; each device computes the
gradients of its share; the gradients are summed across devices, and every copy takes
the same step. The model learns what it would learn on one device with the same (global)
batch, up to the order in which floating-point numbers are added. It is faster when each
device's share of the batch is large enough to keep the device busy.

Each backend has its own engine for this, and the training script names neither:
- TensorFlow: tf.distribute.MirroredStrategy, over one machine's devices. The model is
  built and compiled inside `strategy.scope()`, so that each variable is mirrored on
  every device; `fit` splits each global batch across the replicas.
- JAX: keras.distribution.DataParallel, over one machine's devices or, with
  `--distribute multi-worker`, over every device of several processes (machines). The
  model's variables are copied onto every device of the mesh; each process feeds its
  own share of each global batch (`shard`), and JAX sums the gradients across processes.
- PyTorch: Keras 3 has no multi-device training there.

Several machines need JAX. TensorFlow's own engine for them, MultiWorkerMirroredStrategy,
does not run Keras 3's `fit` (keras-team/keras#20585, tensorflow/tensorflow#72388), and
working around it would mean writing our own training loop. docs/several-machines.md says
how to start a run on several machines, or in a Slurm job.

JAX's DataParallel needs every batch to divide evenly between the devices: here the
global --batch-size must be a multiple of the number of devices; the last, smaller
training batch of an epoch drops its last few images (fewer than the number of
devices; a different few every epoch, as the order is drawn afresh); validation after
each epoch leaves out the last few test images the same way (`divisible`); and the
final scores use every test image, on one device (`one_device_copy`).

No GPUs at hand? Name more CPU devices than there are, `--distribute CPU:0,CPU:1`, and
the CPU is split into that many logical devices. Nothing gets faster (the same cores do
all the work), but the code path and the numbers are the real ones, which is how the
tests check it.
"""

import atexit
import contextlib
import io
import json
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
from typing import NamedTuple

import keras
import numpy as np

# What --distribute with no device names uses: every GPU (on JAX, every device it has).
ALL_GPUS = "all"
# What --distribute uses for one model trained by several processes, one per machine.
MULTI_WORKER = "multi-worker"
# The variables from which keras.distribution.initialize reads the cluster.
KERAS_CLUSTER_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                           "KERAS_DISTRIBUTION_PROCESS_ID")
# The variables of a Slurm task from which JAX reads the cluster itself.
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                   "SLURM_LOCALID")


class ClusterNames(NamedTuple):
    """What the roll call's lines name, for one way of describing the cluster."""

    process_id: str  # the variable that gives each process its id
    port: str  # where the coordinator's port comes from


KERAS_NAMES = ClusterNames("KERAS_DISTRIBUTION_PROCESS_ID", "KERAS_DISTRIBUTION_JOB_ADDRESSES")
SLURM_NAMES = ClusterNames("SLURM_PROCID", "JAX_COORDINATOR_PORT or SLURM_JOB_ID")
# How long a process waits for its peers to come, or to answer, by default (seconds).
PEER_TIMEOUT_SECONDS = 120
# This process's scratch folders (scratch_folder), removed as it exits.
SCRATCH_FOLDERS = []
# Why --distribute multi-worker stops on TensorFlow, in one line.
TENSORFLOW_MULTI_WORKER = (
    "multi-worker needs KERAS_BACKEND=jax: Keras 3's fit does not run under TensorFlow's "
    "MultiWorkerMirroredStrategy (keras-team/keras#20585)")


def device_names(text):
    """'GPU:0, /gpu:1' -> ['GPU:0', 'GPU:1']: TensorFlow's spelling, without '/device:'."""
    names = []
    for name in text.split(","):
        name = name.strip().removeprefix("/").removeprefix("device:").upper()
        kind, _, number = name.partition(":")
        if kind not in ("CPU", "GPU") or not number.isdigit():
            raise ValueError(f"{name or 'an empty name'} is no device: write GPU:0,GPU:1 "
                             "(or CPU:0,CPU:1 to try it on a CPU)")
        names.append(f"{kind}:{int(number)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a device is named twice in {text}")
    return names


def check_devices(setting, peer_timeout=PEER_TIMEOUT_SECONDS):
    """The names of the devices the --distribute `setting` asks for, all present here.

    Raises ValueError with the reason when they cannot be had. Must run before the
    backend first touches a device: splitting the CPU, or joining a cluster, is only
    possible until then. With `multi-worker`, joins the cluster first (waiting at most
    `peer_timeout` seconds for the other processes) and names every device of every process.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        if setting == MULTI_WORKER:
            raise ValueError(TENSORFLOW_MULTI_WORKER)
        return check_tensorflow_devices(setting)
    if backend != "jax":
        raise ValueError(f"Keras 3 trains on several devices with KERAS_BACKEND=tensorflow "
                         f"or jax, not {backend}")
    import jax

    if setting == MULTI_WORKER:
        join_cluster(peer_timeout)
        return [jax_name(device) for device in jax.devices()]
    if setting == ALL_GPUS:
        names = [jax_name(device) for device in jax.local_devices()]
        if len(names) < 2:
            raise ValueError(f"JAX sees one device only ({names[0]}): name the devices, for "
                             "example --distribute CPU:0,CPU:1 to try it on the CPU")
        return names
    names = device_names(setting)
    cpus = sum(name.startswith("CPU") for name in names)
    if cpus > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        jax.config.update("jax_num_cpu_devices", cpus)  # split the CPU into that many
    return present_devices(names, jax_local_devices(), "JAX")


def check_tensorflow_devices(setting):
    """check_devices on TensorFlow: its GPUs, or the CPU split into logical devices."""
    import tensorflow as tf  # here, not above: JAX and PyTorch run without TensorFlow

    if setting == ALL_GPUS:
        names = logical_device_names("GPU")
        if not names:
            raise ValueError("TensorFlow sees no GPU: name the devices, for example "
                             "--distribute CPU:0,CPU:1 to try it on the CPU")
        return names
    names = device_names(setting)
    cpus = sum(name.startswith("CPU") for name in names)
    if cpus > 1:  # a try-out without GPUs: split the one CPU into that many devices
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0],
            [tf.config.LogicalDeviceConfiguration() for _ in range(cpus)])
    return present_devices(names, logical_device_names(), "TensorFlow")


def present_devices(names, present, backend):
    """`names`, if each is among the devices `present`; ValueError naming those missing."""
    missing = [name for name in names if name not in present]
    if missing:
        raise ValueError(f"{backend} has no device {', '.join(missing)}; it has "
                         f"{', '.join(sorted(present))}")
    return names


def logical_device_names(kind=None):
    """TensorFlow's logical devices (of `kind`, such as "GPU"), named as device_names names them."""
    import tensorflow as tf

    return [device.name.removeprefix("/device:") for device in tf.config.list_logical_devices(kind)]


def jax_name(device):
    """A JAX device, named as device_names names devices: CPU:0, GPU:1."""
    return f"{device.platform.upper()}:{device.id}"


def jax_local_devices():
    """This process's JAX devices by name: those of its default kind (its GPUs, if it
    has any), and its CPU devices, which --distribute CPU:0,CPU:1 names."""
    import jax

    return {jax_name(device): device
            for device in [*jax.local_devices(), *jax.local_devices(backend="cpu")]}


def cluster_from_environment(environment):
    """Where the cluster is described: "keras" (Keras' own variables) or "slurm".

    Raises ValueError, naming the variables to set, when neither describes it whole.
    """
    keras_variables = [name for name in KERAS_CLUSTER_VARIABLES if name in environment]
    if len(keras_variables) == len(KERAS_CLUSTER_VARIABLES):
        return "keras"
    if keras_variables:
        missing = sorted(set(KERAS_CLUSTER_VARIABLES) - set(keras_variables))
        raise ValueError(f"the cluster is described in part: set {', '.join(missing)} too")
    if all(name in environment for name in SLURM_VARIABLES):
        return "slurm"
    raise ValueError(f"no cluster described: set {', '.join(KERAS_CLUSTER_VARIABLES)} on each "
                     "machine, or start every process with srun in a Slurm job")


def join_cluster(peer_timeout):
    """Connect this process to the others: the same command on every machine.

    Keras' own variables (what keras.distribution.initialize reads) or, in a Slurm job,
    Slurm's own (which jax.distributed.initialize reads) describe the cluster; either way,
    a roll call first checks that each process id comes once. JAX's initialize is called
    here directly, as keras.distribution.initialize calls it, only so that a process whose
    peers never come, or stop answering, gives up after `peer_timeout` seconds instead of
    JAX's five minutes. On the CPU, the processes exchange gradients through Gloo, which
    JAX needs to be told to use.
    """
    import jax

    if cluster_from_environment(os.environ) == "keras":
        coordinator = os.environ["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(",")[0]
        cluster = {"coordinator_address": coordinator,
                   "num_processes": int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"]),
                   "process_id": int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])}
        call_the_roll(coordinator, cluster["num_processes"], cluster["process_id"],
                      peer_timeout)
    else:
        cluster = {}  # JAX reads Slurm's variables itself (each task's GPU among them)
        call_the_roll(slurm_coordinator(os.environ), int(os.environ["SLURM_NTASKS"]),
                      int(os.environ["SLURM_PROCID"]), peer_timeout, SLURM_NAMES)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # JAX ends a process whose peers do not come with a page of C++ log; ours says it
    # in one line, a few seconds before JAX would.
    watchdog = threading.Timer(peer_timeout, stop_waiting, [peer_timeout])
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(**cluster, initialization_timeout=peer_timeout + 10,
                                   heartbeat_timeout_seconds=peer_timeout,
                                   shutdown_timeout_seconds=peer_timeout)
    except (RuntimeError, ValueError) as error:  # such as an address JAX cannot use
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"could not join the cluster ({reason[:200]})") from None
    finally:
        watchdog.cancel()


def slurm_coordinator(environment):
    """The address on which JAX, reading Slurm's variables, starts its coordination
    service: the step's first node, on port JAX_COORDINATOR_PORT or 61440 + job id mod
    4096 (jax/_src/clusters/slurm_cluster.py). The roll call must use that very port, so
    that a process that comes after it finds JAX there, as with Keras' variables.

    'node[001-004,010],gpu7' -> 'node001:<port>'; 'host-a,host-b' -> 'host-a:<port>'.
    """
    nodes = environment["SLURM_STEP_NODELIST"]
    host = re.match(r"[^,\[]*", nodes).group()
    if nodes[len(host):].startswith("["):  # a range of numbered nodes: the first one
        host += re.match(r"[^,\-\]]*", nodes[len(host) + 1:]).group()
    port = (environment.get("JAX_COORDINATOR_PORT")
            or 61440 + int(environment["SLURM_JOB_ID"]) % 4096)
    return f"{host}:{port}"


def call_the_roll(coordinator, count, process_id, peer_timeout, names=KERAS_NAMES):
    """Check, before JAX joins them, that each process id comes once.

    JAX, given two processes with the same id, ends one of them after a wait with a page
    of C++ log, and no word of the id; with Slurm's variables, it aborts every process of
    the cluster, each with that page. So first a roll call, on the coordinator's port, before JAX takes it:
    process 0 listens there; every other process connects, says its id, and is told
    "wait", or "taken" when a process still connected holds that id. When every id has
    come, process 0 tells each "ok" and hands the port to JAX. A process that comes after
    that finds JAX there, which answers no roll call: its id has come already. Each waits
    `peer_timeout` seconds at most for the others. `names` are the variables its lines name.
    """
    if not 0 <= process_id < count:
        raise ValueError(f"{names.process_id} is {process_id}: each process needs "
                         f"an id of its own, from 0 to {count - 1}")
    host, port = coordinator.rsplit(":", 1)
    deadline = time.monotonic() + peer_timeout
    if process_id == 0:
        hold_the_roll_call(int(port), count, deadline, peer_timeout, names)
    else:
        answer_the_roll_call(host, int(port), process_id, deadline, peer_timeout, names)


def hold_the_roll_call(port, count, deadline, peer_timeout, names):
    """Process 0's side of `call_the_roll`: gather ids 1 to count - 1, each once."""
    try:
        server = socket.create_server(("", port))
    except OSError as error:  # JAX, given a port in use, may crash without a word
        raise ValueError(f"process 0 cannot listen on port {port} of {names.port} "
                         f"({error.strerror}): another program, or another process 0, uses "
                         "it; choose a free port, or check that only one process has "
                         f"{names.process_id}=0") from None
    present = {}  # process id -> its connection, still open
    with server:
        server.settimeout(0.2)
        while len(present) < count - 1:
            if time.monotonic() > deadline:
                stop_waiting(peer_timeout)
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            said = " ".join(read_words(connection, seconds=5))
            if said in present and still_connected(present[said]):
                reply(connection, "taken")
                connection.close()
            elif said.isdigit() and 0 < int(said) < count:
                if said in present:  # that process left (its connection closed): forget it
                    present[said].close()
                reply(connection, "wait")
                present[said] = connection
            else:  # not one of ours, or an id out of range: that process says so itself
                connection.close()
        for connection in present.values():
            reply(connection, "ok")
            connection.close()


def answer_the_roll_call(host, port, process_id, deadline, peer_timeout, names):
    """Every other process's side of `call_the_roll`: say this id, wait for "ok"."""
    while time.monotonic() < deadline:
        try:
            connection = socket.create_connection((host, port), timeout=1)
        except OSError:  # process 0 has not started yet
            time.sleep(0.2)
            continue
        with connection:
            reply(connection, str(process_id))
            heard = read_words(connection, seconds=5)
            if heard == ["wait"]:
                heard += read_words(connection, seconds=max(deadline - time.monotonic(), 0.1))
            if heard == ["wait", "ok"]:
                return
            if heard != ["wait"]:  # "taken", or JAX on the port: the roll call is over
                raise ValueError(f"two processes have {names.process_id}={process_id}: "
                                 "give each process an id of its own")
            break  # process 0 stopped waiting, or the time is up
    stop_waiting(peer_timeout)


def reply(connection, word):
    """Send one word and a newline; a peer that has gone is not an error here."""
    connection.settimeout(5)
    with contextlib.suppress(OSError):
        connection.sendall(f"{word}\n".encode())


def read_words(connection, seconds):
    """The words a peer sends within `seconds` ([] if none, or not text)."""
    connection.settimeout(seconds)
    try:
        return connection.recv(64).decode().split()
    except (OSError, UnicodeDecodeError):
        return []


def still_connected(connection):
    """Is the peer at the other end of `connection` still there (and silent)?"""
    connection.settimeout(0)  # look, without waiting
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:  # nothing to read, but open
        return True
    except OSError:
        return False


def exit_at_once(status=0, message=None):
    """Exit with `status`, saying `message`, without JAX's goodbye to the other processes
    (also an argparse parser's `exit`): that would wait --peer-timeout seconds for them,
    then end in a page of log."""
    if message:
        print(message, end="", file=sys.stderr, flush=True)
    sys.stdout.flush()
    for folder in SCRATCH_FOLDERS:  # what Python's exit would have removed
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(status)


def stop_waiting(seconds):
    """Stop this process, in one line: its peers did not all come in time."""
    print(f"error: argument --distribute: not every process of the cluster came within "
          f"{seconds} s (--peer-timeout): start the same command on every machine, each "
          f"with a process id of its own", file=sys.stderr, flush=True)
    os._exit(1)  # from this thread, while the main one waits inside JAX


def process_index():
    """This process's number in the cluster: 0 writes the run's files."""
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


def process_count():
    """How many processes train the model together (1 without multi-worker)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def lost_a_peer(error):
    """Is `error` what a process meets when another process of its cluster stops? The
    exchange with it fails: an error of JAX's runtime, or a ValueError from Gloo (CPUs)."""
    return process_count() > 1 and (type(error).__name__ == "JaxRuntimeError"
                                    or "Gloo" in str(error))


def scratch_folder():
    """For a process other than 0: a folder of its own for the files the run writes,
    deleted when it exits, so that the run's own folder is process 0's alone."""
    folder = tempfile.mkdtemp(prefix=f"denoise-process-{process_index()}-")
    SCRATCH_FOLDERS.append(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def share_run_files(folder, names):
    """Give every process process 0's files `names` (files or folders) of its run `folder`.

    For --resume on several machines: process 0 sends what it finds of them; every
    other process writes them into its own `folder` (its scratch folder), so that each
    continues from the same backup. All processes must call this together.
    """
    archive = io.BytesIO()
    if process_index() == 0:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name in names:
                if os.path.exists(os.path.join(folder, name)):
                    tar.add(os.path.join(folder, name), arcname=name)
    received = bytes_of_process_0(archive.getvalue())
    if process_index() != 0:
        with tarfile.open(fileobj=io.BytesIO(received)) as tar:
            tar.extractall(folder, filter="data")


def bytes_of_process_0(content):
    """Process 0's `content` (bytes), on every process; all processes must call it together."""
    from jax.experimental import multihost_utils

    size = int(multihost_utils.broadcast_one_to_all(np.int32(len(content))))
    if process_index() == 0:
        sent = np.frombuffer(content, np.uint8)
    else:
        sent = np.zeros(size, np.uint8)  # a buffer of the same shape, to receive into
    return np.asarray(multihost_utils.broadcast_one_to_all(sent), np.uint8).tobytes()


def settings_of_process_0(settings):
    """Process 0's `settings` (a dict that JSON can hold), on every process."""
    return json.loads(bytes_of_process_0(json.dumps(settings).encode()))


def processes_where(condition):
    """The numbers of the processes whose `condition` is true, on every process; all
    processes must call it together."""
    from jax.experimental import multihost_utils

    flags = multihost_utils.process_allgather(np.int32(bool(condition)))
    return [index for index, flag in enumerate(np.ravel(flags)) if flag]


def check_batch_size(batch_size, names):
    """On JAX, each global batch must divide evenly between the devices (ValueError if not)."""
    if keras.backend.backend() == "jax" and batch_size % len(names):
        multiple = batch_size + len(names) - batch_size % len(names)
        raise ValueError(f"{batch_size} images do not divide between {len(names)} devices: "
                         f"choose a multiple of {len(names)}, such as {multiple}")


def scope(names):
    """The context in which to build, compile and train the model.

    No names: one device, as always. Otherwise a copy of the model on each named device:
    on TensorFlow, in a MirroredStrategy's scope; on JAX, Keras' DataParallel, set for
    the rest of the run (fit, evaluate and the callbacks run under it). Each process
    feeds its share of each batch itself (`shard`), so Keras must not shard the data.
    """
    if not names:
        return contextlib.nullcontext()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=[f"/{name}" for name in names])
        print(f"training on {strategy.num_replicas_in_sync} device(s) at once")  # its own count
        return strategy.scope()
    import jax

    if process_count() > 1:
        devices = jax.devices()  # every device of every process
    else:
        devices = [jax_local_devices()[name] for name in names]
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    print(f"training on {replicas()} device(s) at once")  # as the distribution counts them
    return contextlib.nullcontext()


def replicas():
    """How many copies of the model the current scope trains, as the engine itself says."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    distribution = keras.distribution.distribution()
    return distribution.device_mesh.devices.size if distribution else 1


def devices_per_process():
    """How many of the distribution's devices this process feeds (1 without one)."""
    return replicas() // process_count() if keras.backend.backend() == "jax" else 1


class ShareOfEachBatch(keras.utils.PyDataset):
    """This process's share of each global batch of NoisyBatches `batches`, for fit on JAX.

    Process p of P trains on the p-th of P equal slices of every batch, so that together
    they train on the batch of one process. The last, smaller batch of an epoch first
    drops its last few images, fewer than the number of devices, so that it divides
    evenly. Every process draws the whole batch (its noise is a function of the seed,
    the epoch and the batch) and keeps its slice: the numbers are those of one process.
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.devices = replicas()
        self.process, self.processes = process_index(), process_count()

    def __len__(self):
        """The batches with at least one image for each device."""
        whole, rest = divmod(len(self.batches.images), self.batches.batch_size)
        return whole + (rest >= self.devices)

    def __getitem__(self, index):
        inputs, clean = self.batches[index]
        share = len(clean) // self.devices * self.devices // self.processes
        start = self.process * share
        return keras.tree.map_structure(lambda array: array[start:start + share],
                                        (inputs, clean))

    def on_epoch_end(self):
        self.batches.on_epoch_end()

    def set_epoch(self, epoch):
        """As NoisyBatches.set_epoch (training.DrawEpochNoise calls it)."""
        self.batches.set_epoch(epoch)


def split_evenly(batches, validation):
    """What `fit` trains and validates on with --distribute: on JAX, this process's share
    of each training batch (`shard`) and the test images that divide evenly between its
    devices (`divisible`); on TensorFlow, `batches` and `validation` as they are."""
    return shard(batches), divisible(*validation)


def shard(batches):
    """What `fit` trains on: `batches` or, on a JAX distribution, this process's share."""
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return batches
    return ShareOfEachBatch(batches)


class TooFewToShare(ValueError):
    """Fewer validation images than devices: none would be left to score."""


def divisible(*arrays):
    """The arrays (or dicts of arrays, as noise.model_inputs makes), cut to the first N
    images that divide evenly between this process's devices (on a JAX distribution):
    what validation can score during `fit`.

    Every process scores all of them: the mean over the processes' copies is the mean.
    """
    devices = devices_per_process()
    count = len(arrays[-1]) // devices * devices
    if count == 0:
        raise TooFewToShare(f"{len(arrays[-1])} validation images cannot be shared between "
                            f"{devices} devices: give more training images or a larger "
                            "--validation-split")
    return keras.tree.map_structure(lambda array: array[:count], arrays)


def one_device_copy(model):
    """After `fit`: a copy of the trained `model` on this process's first device, to
    predict, score and save as a one-device run does (on a JAX distribution; otherwise
    the model itself).

    On several processes, JAX cannot hand back predictions that span other machines'
    devices, and Keras' DataParallel predicts in batches that divide between devices
    only; each process has every weight, so each takes a whole copy and carries on alone.
    The copy is compiled as the model was, so model.keras is the same as a one-device
    run's, and loads on any backend.
    """
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return model
    compiled, weights = model.get_compile_config(), model.get_weights()
    keras.distribution.set_distribution(None)
    copy = keras.models.clone_model(model)
    copy.set_weights(weights)
    copy.compile_from_config(compiled)
    return copy
