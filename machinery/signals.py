"""Ctrl-C and SIGTERM end a tool with one line that says what is kept, not a traceback.

The training scripts have their own stop (runs.stop_cleanly_on_signals: it says how to
resume). The tools (data.py's downloads, tools/compare.py, tools/knob.py, make_docs,
benchmark, speed) call `stop_in_one_line` first: a stop then raises SystemExit wherever
the program is, so that its `finally` blocks still run (a download removes its
half-made folder), then the program ends with exit code 128 + the signal's number (130
for Ctrl-C, 143 for SIGTERM), as a shell reports a program a signal ended.

A tool that runs other programs (a training script per step) runs each with
`run_child`: a stop then stops the child too, rather than leave it running alone and
writing its files after the tool has said it stopped.
"""

import signal
import subprocess
import sys

# The signals that stop a tool: Ctrl-C, and what `kill` or a job scheduler sends.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds a child has to stop cleanly (a training script backs up its epoch) before it is killed.
CHILD_GRACE_SECONDS = 60
# The children that run_child runs now.
CHILDREN = []


def run_child(command, **options):
    """subprocess.run(command, **options), whose child a stop of this program stops too:
    SIGTERM first, which a training script answers by stopping cleanly; killed after
    CHILD_GRACE_SECONDS."""
    child = subprocess.Popen(command, **options)
    CHILDREN.append(child)
    try:
        output, errors = child.communicate()
    finally:
        CHILDREN.remove(child)
        if child.poll() is None:  # this program is stopping, and the child was told to
            try:
                child.wait(timeout=CHILD_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return subprocess.CompletedProcess(command, child.returncode, output, errors)


def end_in_one_line(signal_number, what_happened):
    """Print "<SIGNAL>: <what_happened>" and exit with 128 + the signal's number."""
    print(f"\n{signal.Signals(signal_number).name}: {what_happened}", file=sys.stderr,
          flush=True)
    sys.exit(128 + signal_number)


def stop_in_one_line(what_is_kept):
    """From now on, a stop signal stops the children of run_child, prints
    "<SIGNAL>: stopped; <what_is_kept>" and exits.

    `what_is_kept`: a text, or a function that returns one when the stop comes.
    """

    def stop(signal_number, frame):
        for number in STOP_SIGNALS:  # a second signal while stopping changes nothing
            signal.signal(number, signal.SIG_IGN)
        for child in CHILDREN:  # run_child waits for each as the stop unwinds
            child.terminate()
        kept = what_is_kept() if callable(what_is_kept) else what_is_kept
        end_in_one_line(signal_number, f"stopped; {kept}")

    for number in STOP_SIGNALS:
        signal.signal(number, stop)
