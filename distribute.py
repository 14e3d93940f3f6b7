"""Train on several devices at once: the same script, more GPUs (--distribute).

Data parallelism, the simplest way to use several devices: every device holds a copy of
the model; each training step splits the batch between them; each device computes the
gradients of its share; the gradients are summed across devices, and every copy takes
the same step. The model learns what it would learn on one device with the same (global)
batch, up to the order in which floating-point numbers are added. It is faster when each
device's share of the batch is large enough to keep the device busy.

TensorFlow's engine for this is tf.distribute.MirroredStrategy. The model is built and
compiled inside `strategy.scope()`, so that each of its variables is mirrored on every
device; `model.fit` then reads the batches through tf.data (Keras turns a PyDataset into
a tf.data pipeline) and splits each global batch across the replicas.

It is TensorFlow's, so --distribute needs the TensorFlow backend. (On JAX, Keras has
keras.distribution.DataParallel, but it requires every batch, the last one and the
validation batches included, to divide evenly between the devices; Keras 3 has no
multi-device training on PyTorch.)

No GPUs at hand? Name more CPU devices than there are, `--distribute CPU:0,CPU:1`, and
the CPU is split into that many logical devices. Nothing gets faster (the same cores do
all the work), but the code path and the numbers are the real ones, which is how the
tests check it. docs/long-runs.md says more.
"""

import contextlib

import keras
import tensorflow as tf

# What --distribute with no device names uses: every GPU TensorFlow sees.
ALL_GPUS = "all"


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


def check_devices(setting):
    """The names of the devices the --distribute `setting` asks for, all present here.

    Raises ValueError with the reason when they cannot be had. Must run before
    TensorFlow first touches a device: splitting the CPU is only possible until then.
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"it uses tf.distribute, so it needs KERAS_BACKEND=tensorflow, not "
                         f"{keras.backend.backend()}")
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
    present = set(logical_device_names())
    missing = [name for name in names if name not in present]
    if missing:
        raise ValueError(f"TensorFlow has no device {', '.join(missing)}; it has "
                         f"{', '.join(sorted(present))}")
    return names


def logical_device_names(kind=None):
    """TensorFlow's logical devices (of `kind`, such as "GPU"), named as device_names names them."""
    return [device.name.removeprefix("/device:") for device in tf.config.list_logical_devices(kind)]


def scope(names):
    """The context in which to build, compile and train the model.

    No names: one device, as always. Otherwise a copy of the model on each named device.
    """
    if not names:
        return contextlib.nullcontext()
    return tf.distribute.MirroredStrategy(devices=[f"/{name}" for name in names]).scope()


def replicas():
    """How many copies of the model the current scope trains, as the engine itself says."""
    if keras.backend.backend() != "tensorflow":
        return 1
    return tf.distribute.get_strategy().num_replicas_in_sync
