"""Start quietly: TensorFlow's C++ log lines off the terminal; import this before Keras.

TensorFlow 2.21 logs from its C++ code as it starts and as it trains: on every machine
without a GPU a "failed call to cuInit: CUDA error", in every epoch a "NodeDef mentions
attribute use_unbounded_threadpool" (tensorflow issue 100442), notes on oneDNN and on
CPU instructions. All are harmless, and they bury the lesson's own output. Level 3 of
TF_CPP_MIN_LOG_LEVEL hides what TensorFlow logs once its logging has started; the few
lines it writes before that ("All log messages before absl::InitializeLog() is called
are written to STDERR") ignore the level, so TensorFlow is imported here with the
process's standard error pointed at /dev/null for that moment. A Python error in the
import is still shown whole. A Ctrl-C or SIGTERM while the program starts ends it with one
line, not a traceback nor a silent exit (until the script installs its own handling).

To see every log line, set TF_CPP_MIN_LOG_LEVEL=0: this module then leaves them be. Any
other value is raised to 3 (TensorFlow itself sets 1 in its process, and every process
started from one that imported TensorFlow, such as a test's, inherits it).

Where TensorFlow is not installed (a machine that runs Keras on JAX or PyTorch alone),
there is nothing to quiet, and nothing is imported.
"""

import contextlib
import importlib.util
import os
import signal
import sys

from machinery import signals


@contextlib.contextmanager
def standard_error_discarded():
    """Point file descriptor 2, where C++ code writes its logs, at /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def stop_while_starting(signal_number, frame):
    """Until a script installs its own: Ctrl-C or SIGTERM ends the program with one line,
    exit 130 or 143."""
    signals.end_in_one_line(signal_number, "stopped while starting; nothing was written")


def import_tensorflow(quiet):
    """Import TensorFlow, its start-up lines discarded if `quiet`. The import takes seconds;
    a Ctrl-C or SIGTERM meanwhile is only noted (TensorFlow's own code is not interrupted
    halfway, and a line printed now would go to /dev/null), and acted on once the import is
    done: by the script's own handler if it had set one before (a download says what it
    keeps), else by ending the program with one line."""
    received, handlers = [], {}
    if "ipykernel" not in sys.modules:  # a notebook's kernel keeps its own Ctrl-C
        handlers = {number: signal.getsignal(number) for number in signals.STOP_SIGNALS}
        for signal_number in signals.STOP_SIGNALS:
            signal.signal(signal_number, lambda number, frame: received.append(number))
    with standard_error_discarded() if quiet else contextlib.nullcontext():
        import tensorflow  # noqa: F401  (the import that logs before logging starts)
    for number, handler in handlers.items():
        python_default = handler in (signal.SIG_DFL, signal.default_int_handler)
        signal.signal(number, stop_while_starting if python_default else handler)
    if received and callable(handler := signal.getsignal(received[0])):  # not one ignored
        handler(received[0], None)


QUIET = os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0"
if QUIET:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
if importlib.util.find_spec("tensorflow") is not None:
    import_tensorflow(QUIET)
