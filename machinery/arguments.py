"""argparse types and checks that every command shares: a bad value is one usage line before
any work.

Kept apart from machinery/runs.py, which imports Keras, so that a tool that starts no
training (tools.benchmark, which only starts the scripts) checks its numbers the same way
without the seconds that Keras takes to import.
"""

import argparse
import math
import os


def whole_number(lowest, highest=math.inf):
    """argparse type: a whole number from `lowest` to `highest`, checked here, so that a
    wrong value is one line now rather than a failed run an hour later."""
    allowed = f">= {lowest}" if highest == math.inf else f"from {lowest} to {highest}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be a whole number {allowed}, not {text}")
        return value

    return parse


# A count of something: epochs, images, steps, workers.
positive_int = whole_number(1)
# A seed: what NumPy takes.
seed_number = whole_number(0, 2**32 - 1)


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def refuse_an_out_that_holds(parser, folder, names):
    """A usage error if the --out `folder` holds any of `names` already: the files a tool
    writes there, which it must not write over (they may be an earlier run's, or yours)."""
    for name in names:
        if os.path.exists(os.path.join(folder, name)):
            parser.error(f"argument --out: {folder} holds {name} already: choose another")
