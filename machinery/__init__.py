"""What keeps a training run safe and portable, so that the lessons need not say it.

- runs: the knobs and flags, the run's folder, --resume, Ctrl-C, and the files a run writes
- files: every file written whole or not at all
- distribute: several devices, or several machines, training one model
- tensorflow_logs: TensorFlow's harmless start-up lines kept off the terminal

A lesson script names each where it uses it; none of them trains, predicts or scores.
"""
