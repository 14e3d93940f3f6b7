"""The tools around the lessons: each runs as `python -m tools.NAME` from the project's folder.

- compare: score trained models beside classical denoisers on the same noisy pictures
- classical: the classical denoisers compare measures (Gaussian filter, median, total
  variation, non-local means, wavelets, BM3D)
- benchmark: train every preset on one dataset, and tabulate
- speed: time a training step of some presets on every Keras backend
- knob: what a model told the noise level does when told a wrong one, in one figure
- checkerboard: why a transposed convolution can paint a checkerboard, in one figure
- make_docs: every figure under docs/ and docs/results.md, from the runs it makes
"""
