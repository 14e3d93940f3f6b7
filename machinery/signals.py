"""Ctrl-C and SIGTERM end a tool with one line that says what is kept, not a traceback.

The training scripts have their own stop (runs.stop_cleanly_on_signals: it says how to
resume). The tools (data.py's downloads, tools/compare.py, tools/knob.py, make_docs)
call `stop_in_one_line` first: a stop then raises SystemExit wherever the program is,
so that its `finally` blocks still run (a download removes its half-made folder), then
the program ends with exit code 128 + the signal's number (130 for Ctrl-C, 143 for
SIGTERM), as a shell reports a program a signal ended.
"""

import signal
import sys

# The signals that stop a tool: Ctrl-C, and what `kill` or a job scheduler sends.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_in_one_line(what_is_kept, before_stopping=None):
    """From now on, a stop signal prints "<SIGNAL>: stopped; <what_is_kept>" and exits.

    `what_is_kept`: a text, or a function that returns one when the stop comes.
    `before_stopping`: a function to call first, such as one that stops child processes.
    """

    def stop(signal_number, frame):
        for number in STOP_SIGNALS:  # a second signal while stopping changes nothing
            signal.signal(number, signal.SIG_IGN)
        if before_stopping:
            before_stopping()
        kept = what_is_kept() if callable(what_is_kept) else what_is_kept
        print(f"\n{signal.Signals(signal_number).name}: stopped; {kept}", file=sys.stderr,
              flush=True)
        sys.exit(128 + signal_number)

    for number in STOP_SIGNALS:
        signal.signal(number, stop)
