"""The training scripts are lessons: each holds its own compile, fit and predict, and each
runs as a notebook (Jupytext converts it, papermill runs it with new knobs)."""

import ast
import subprocess
import sys

import keras
import pytest

from conftest import REPOSITORY, read_metrics

SCRIPTS = ["train_conv.py", "train_dense.py"]


def called_methods(path):
    """The names of the methods a script calls, such as {"compile", "fit", ...}."""
    tree = ast.parse(path.read_text())
    return {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_itself_compiles_fits_and_predicts(script):
    assert {"compile", "fit", "predict", "evaluate", "image_quality"} <= called_methods(
        REPOSITORY / script)
    text = (REPOSITORY / script).read_text()
    assert '# %% tags=["parameters"]' in text  # papermill's knobs cell
    assert text.count("# %% [markdown]") >= 6  # load, corrupt, build, train, evaluate, show


def test_the_check_of_the_calls_catches_a_fit_that_moved_away(tmp_path):
    moved = (REPOSITORY / "train_conv.py").read_text().replace("autoencoder.fit(", "runs.train(")
    (tmp_path / "train_conv.py").write_text(moved)
    assert "fit" not in called_methods(tmp_path / "train_conv.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_runs_as_a_notebook_with_papermill_parameters(script, tmp_path):
    notebook, executed, out = tmp_path / "lesson.ipynb", tmp_path / "out.ipynb", tmp_path / "run"
    subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--set-kernel", "python3",
                    "--output", str(notebook), str(REPOSITORY / script)],
                   check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook), str(executed), "--cwd", str(REPOSITORY),
         "-p", "epochs", "1", "-p", "train_limit", "300", "-p", "test_limit", "50",
         "-p", "out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(out)
    assert (metrics["epochs"], metrics["train_images"], metrics["test_images"]) == (1, 300, 50)
    assert metrics["psnr"] > 0 and len(metrics["history"]["val_psnr"]) == 2
    for name in ("model.keras", "samples.png", "history.png", "arguments.json", "epochs.json"):
        assert (out / name).is_file()
    assert keras.models.load_model(out / "model.keras").count_params() == metrics["params"]
    assert "test PSNR: noisy" in executed.read_text()  # the cells' output is in the notebook
