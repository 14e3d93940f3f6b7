"""Curves: the validation PSNR of several training runs, epoch by epoch, side by side.

A final score says where a run ended; its curve says how it got there, and what more
training would still buy. Give the folders of runs trained on the same data that differ in
what you want to compare (for example the target, or flips and rotations on or off):

  python -m tools.curves runs/clean-train400 runs/neighbours-train400 --out runs/curves

A run's metrics.json kept on its own (models/<name>.metrics.json, a copy of the run's) does
as well as its folder: the run is then called <name>.

The validation PSNR is each run's score on its validation images after every epoch (epoch
0: the untrained model; a run made before the scripts held out validation images scored its
test images). Writes into --out: curves.png (one line per run, beside the first run's noisy
validation images' PSNR) and curves.md, the same numbers as a Markdown table: the validation
PSNR of each run at evenly spaced epochs, then each run's training loss in its last epoch
(where a loss levels off: against noisy targets, it cannot fall below the noise's own
variance) and its training seconds. The numbers are each run's own metrics.json (its
history): nothing is trained or scored again.
"""

import argparse
import os

from machinery import tensorflow_logs  # noqa: F401  (before Keras: quiets TensorFlow's logs)

import plots
from machinery import files, runs

# How many epochs the table shows (evenly spaced, the last one always among them).
TABLE_ROWS = 10


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.curves", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="folders of finished runs of the train_*.py scripts "
                             "(each with its metrics.json), or such metrics.json files kept "
                             "as <name>.metrics.json")
    parser.add_argument("--out", required=True, help="the folder for curves.png and curves.md")
    args = parser.parse_args(argv)
    args.metrics = {}
    for folder in args.runs:
        name, path = run_name_and_metrics(folder)
        try:
            args.metrics[name] = files.read_json(path, None)
        except (OSError, ValueError) as error:
            parser.error(f"{folder} holds no readable metrics.json (a finished run): {error}")
        if args.metrics[name] is None:
            parser.error(f"{folder} holds no readable metrics.json (a finished run)")
    if len(args.metrics) < len(args.runs):
        parser.error("two run folders have the same name: give folders of different names")
    return args


def run_name_and_metrics(run):
    """(the run's name, its metrics.json) for a run's folder or a kept <name>.metrics.json."""
    if os.path.isfile(run) and run.endswith("." + runs.METRICS_FILE):
        return os.path.basename(run).removesuffix("." + runs.METRICS_FILE), run
    return os.path.basename(os.path.normpath(run)), os.path.join(run, runs.METRICS_FILE)


def shown_epochs(epochs):
    """About TABLE_ROWS epochs from 0 (untrained) to `epochs`, evenly spaced."""
    step = max(1, round(epochs / TABLE_ROWS))
    return sorted({*range(0, epochs + 1, step), epochs})


def markdown_table(curves, final_losses, seconds):
    """Validation PSNR at evenly spaced epochs, a column per run (`curves`: run name -> its
    PSNRs per epoch); then each run's training loss in its last epoch, and its training
    seconds."""
    longest = max(len(psnrs) - 1 for psnrs in curves.values())
    lines = ["| epoch | " + " | ".join(curves) + " |", "|---" * (len(curves) + 1) + "|"]
    for epoch in shown_epochs(longest):
        cells = [f"{psnrs[epoch]:.2f}" if epoch < len(psnrs) else "" for psnrs in curves.values()]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    lines.append("| final training loss | "
                 + " | ".join(f"{loss:.5f}" for loss in final_losses) + " |")
    lines.append("| training seconds | "
                 + " | ".join(f"{second:,.0f}" for second in seconds) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_arguments(argv)
    os.makedirs(args.out, exist_ok=True)
    plots.prepare(show=False)
    first = next(iter(args.metrics.values()))
    curves = {name: run["history"]["val_psnr"] for name, run in args.metrics.items()}
    # The line to beat: the noisy validation images' PSNR, or, for a run that validated on
    # its test images (made before the split), theirs.
    noisy_psnr = first.get("noisy_validation_psnr", first["noisy_psnr"])
    scored_on = "validation" if "noisy_validation_psnr" in first else "test"  # before the split
    plots.save_curves(os.path.join(args.out, "curves.png"), curves, noisy_psnr,
                      f"{first['dataset']}, {scored_on} PSNR per epoch",
                      f"{scored_on} PSNR (dB)")
    table = markdown_table(curves, [run["history"]["loss"][-1] for run in args.metrics.values()],
                           [run["train_seconds"] for run in args.metrics.values()])
    with open(os.path.join(args.out, "curves.md"), "w") as file:
        file.write(table)
    print(table)
    print(f"wrote curves.png and curves.md in {args.out}")


if __name__ == "__main__":
    main()
