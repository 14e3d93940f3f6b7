"""Files that appear whole or not at all, so a stop at any moment leaves no half-written file.

Every file a run, `tools/compare.py` or `denoise.py` writes goes through `replace_atomically`
(or `create_atomically`): write under a temporary name beside the target, then rename
(or link). A rename within one folder is atomic, so a reader (or a `--resume` after a
crash) sees the old file or the new one, never a torn one. Each process has temporary
names of its own, so two processes writing one file never write into the same one.

A folder that one process must fill alone (a run's folder, the download cache) is held
with `hold_folder`: a lock that the system lets go when the process ends, however it ends.
"""

import errno
import json
import os
import shutil

try:
    import fcntl  # locks a folder, so that two processes do not write into it at once
except ImportError:  # Windows: no such lock; folders are then not held
    fcntl = None


def temporary_name(path):
    """Where to write `path` first: a.weights.h5 -> a.partial-<process id>.weights.h5.

    Every extension is kept, since Keras and matplotlib read the format from them (Keras
    wants weights files to end in .weights.h5).
    """
    folder, name = os.path.split(path)
    stem, dot, extensions = name.partition(".")
    return os.path.join(folder, f"{stem}.partial-{os.getpid()}{dot}{extensions}")


def replace_atomically(path, write):
    """Call write(temporary_path), then rename it to `path`: the file appears whole or not at all."""
    write_then_publish(path, write, os.replace)


def create_atomically(path, write):
    """As replace_atomically, but never over a file: FileExistsError if `path` exists, also
    when another process made it a moment ago (a hard link is made or refused in one step)."""
    write_then_publish(path, write, os.link)


def write_then_publish(path, write, publish):
    """write(temporary name), then publish(temporary name, path); no temporary file is left."""
    temporary = temporary_name(path)
    try:
        write(temporary)
        publish(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def check_free_space(folder, needed_bytes, what):
    """Raise OSError (ENOSPC) before writing `what` into `folder`, rather than halfway.

    Some writers cannot fail cleanly once the disk fills under them: h5py, which writes
    Keras' weights, then prints tracebacks as it cleans up, and can crash the process.
    """
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OSError(errno.ENOSPC, f"no room for {what}: {free / 1e6:.1f} MB free, "
                                    f"{needed_bytes / 1e6:.1f} MB needed", folder)


def write_json(path, content):
    """Write `content` as indented JSON, whole or not at all."""

    def write(temporary):
        with open(temporary, "w") as file:
            json.dump(content, file, indent=2)

    replace_atomically(path, write)


def write_text(path, text):
    """Write `text` to `path`, whole or not at all."""

    def write(temporary):
        with open(temporary, "w") as file:
            file.write(text)

    replace_atomically(path, write)


def read_json(path, default):
    """The content of a JSON file, or `default` when there is no such file."""
    if not os.path.exists(path):
        return default
    with open(path) as file:
        return json.load(file)


def hold_folder(folder, wait=False):
    """Lock `folder` for this process until it ends (or the returned descriptor is
    closed); None if another process holds it and `wait` is False. With `wait`, wait
    until the other lets go. Where the system has no such lock, every folder is free."""
    descriptor = os.open(folder, os.O_RDONLY)
    if fcntl is None:
        return descriptor
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor
