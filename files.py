"""Files that appear whole or not at all, so a stop at any moment leaves no half-written file.

Every file a run, `compare.py` or `denoise.py` writes goes through `replace_atomically`:
write under a temporary name beside the target, then rename. A rename within one folder
is atomic, so a reader (or a `--resume` after a crash) sees the old file or the new one,
never a torn one.
"""

import json
import os


def replace_atomically(path, write):
    """Call write(temporary_path), then rename it to `path`: the file appears whole or not at all."""
    root, extension = os.path.splitext(path)
    temporary = f"{root}.partial{extension}"  # Keras and matplotlib want the extension kept
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, content):
    """Write `content` as indented JSON, whole or not at all."""

    def write(temporary):
        with open(temporary, "w") as file:
            json.dump(content, file, indent=2)

    replace_atomically(path, write)


def read_json(path, default):
    """The content of a JSON file, or `default` when there is no such file."""
    if not os.path.exists(path):
        return default
    with open(path) as file:
        return json.load(file)
