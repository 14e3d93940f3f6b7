#!/usr/bin/env bash
# Every test of the project, as CI runs them (README: "bash tests/run.sh"), after the install
# command of the README: every test on TensorFlow; the end-to-end tests again on JAX and on
# PyTorch (every preset that brings a layer of its own trains, saves and loads on each backend);
# and the docs site, built strictly, so that a broken link or a missing figure fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# JAX and PyTorch; pytest, Jupytext, papermill and mkdocs; tf2onnx and onnxruntime for
# tools/export.py (already there: nothing to do).
.venv/bin/pip install --quiet -r requirements-backends.txt -r requirements-dev.txt -r requirements-export.txt

# Two tests at a time (pytest-xdist's -n 2): most of a test's time is a script starting up,
# which one core does alone. --durations: the log names the slowest tests, where CI's time goes.
.venv/bin/python -m pytest -n 2 --durations=15
for backend in jax torch; do
    echo "== end-to-end tests with KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend .venv/bin/python -m pytest -n 2 tests/test_end_to_end.py
done

echo "== the docs site"
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
# Not --quiet: with it, mkdocs hides the warnings that --strict turns into a failure, and
# exits 0 on a broken link.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$site"
