"""The training scripts are lessons: each holds its own compile, fit and predict, and each
runs as a notebook (Jupytext converts it, papermill runs it with new knobs)."""

import ast
import json
import re
import subprocess
import sys

import keras
import pytest

import training  # noqa: F401  (registers the psnr metric and loss that a saved model names)
from conftest import REPOSITORY, read_metrics, write_photo_folder

# Every lesson script.
SCRIPTS = ["train_conv.py", "train_dense.py", "train_photos.py", "train_noisy_targets.py"]
# The lessons that stand alone; the others build on train_conv.py ("read that one first")
# and explain only what they add.
FIRST_LESSONS = ["train_conv.py", "train_dense.py"]


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
    text = (REPOSITORY / "train_conv.py").read_text()
    assert "autoencoder.fit(" in text
    moved = text.replace("autoencoder.fit(", "runs.train(")
    (tmp_path / "train_conv.py").write_text(moved)
    assert "fit" not in called_methods(tmp_path / "train_conv.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_runs_as_a_notebook_with_papermill_parameters(script, tmp_path):
    notebook, executed, out = tmp_path / "lesson.ipynb", tmp_path / "out.ipynb", tmp_path / "run"
    subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--set-kernel", "python3",
                    "--output", str(notebook), str(REPOSITORY / script)],
                   check=True, capture_output=True, timeout=120)
    parameters = {"epochs": 1, "train_limit": 300, "test_limit": 50, "validation_split": 0.2}
    if script == "train_photos.py":  # a folder of 20 photos, in place of Train400 and BSD68;
        parameters = {"epochs": 1, "train_limit": 12, "test_limit": 3, "image_size": 16,
                      "batch_size": 8, "dataset": write_photo_folder(tmp_path / "photos", 20),
                      "test_dataset": None}  # a knob's None, no flag's: a fifth to test on
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook), str(executed), "--cwd", str(REPOSITORY),
         *(word for name, value in parameters.items() for word in ("-p", name, str(value))),
         "-p", "out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(out)
    if script == "train_photos.py":
        assert (metrics["epochs"], metrics["train_images"], metrics["validation_images"],
                metrics["test_images"]) == (1, 10, 2, 3)  # 12 photos: the last tenth validates
    else:  # the last fifth of the 300 training digits held out to validate on
        assert (metrics["epochs"], metrics["train_images"], metrics["validation_images"],
                metrics["test_images"]) == (1, 240, 60, 50)
    assert metrics["psnr"] > 0 and len(metrics["history"]["val_psnr"]) == 2
    if script == "train_photos.py":
        assert json.loads((out / "arguments.json").read_text())["test_dataset"] is None
    for name in ("model.keras", "noisy.png", "samples.png", "history.png", "arguments.json",
                 "epochs.json"):
        assert (out / name).is_file()
    assert keras.models.load_model(out / "model.keras").count_params() == metrics["params"]
    assert "test PSNR: noisy" in executed.read_text()  # the cells' output is in the notebook


def knobs_and_story(text):
    """The names the parameters cell sets (the knobs), and the code after it (the story)."""
    start = text.index('# %% tags=["parameters"]')
    end = text.index("# %%", start + 1)
    knobs = {node.id for node in ast.walk(ast.parse(text[start:end]))
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    return knobs, text[end:]


def settings_read(story):
    """The settings a story reads: every `args.NAME`."""
    return {node.attr for node in ast.walk(ast.parse(story))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "args"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_setting_the_story_reads_is_a_knob_of_the_same_name(script):
    knobs, story = knobs_and_story((REPOSITORY / script).read_text())
    assert settings_read(story) - knobs == set()
    assert {"epochs", "noise_kind", "devices", "data_dir", "quiet", "show"} <= settings_read(story)


def test_the_knob_check_catches_a_setting_that_is_no_knob():
    text = (REPOSITORY / "train_conv.py").read_text().replace("args.seed)", "args.secret)")
    knobs, story = knobs_and_story(text)
    assert settings_read(story) - knobs == {"secret"}


@pytest.mark.parametrize("script", FIRST_LESSONS)
def test_psnr_is_explained_with_its_formula_before_the_first_score_is_printed(script):
    text = (REPOSITORY / script).read_text()
    formula = text.index("PSNR = 10 * log10(1 / MSE)")
    first_score = min(text.index(word) for word in ("PSNR {", "val_psnr {"))
    assert formula < first_score
    assert "docs/glossary.md" in text


def test_the_default_models_layers_named_in_the_lesson_are_its_layers():
    """The build cell describes the default U-Net layer by layer: every kind of layer it
    has is named there, so the prose cannot drift from the model."""
    import conv_models

    text = (REPOSITORY / "train_conv.py").read_text()
    build_cell = text[text.index("## 3. Build the model"):text.index("## 4. Train it")]
    model = conv_models.MODELS["unet-psnr"].build((None, None, 1))
    kinds = {type(layer).__name__ for layer in model.layers} - {"InputLayer"}
    assert kinds == {"Conv2D", "MaxPooling2D", "UpSampling2D", "Concatenate", "ReLU"}
    assert all(f"`{kind}(" in build_cell for kind in kinds)


def test_the_notebook_run_from_another_folder_says_where_to_run_it(tmp_path):
    notebook = tmp_path / "lesson.ipynb"
    subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--set-kernel", "python3",
                    "--output", str(notebook), str(REPOSITORY / "train_conv.py")],
                   check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook), str(tmp_path / "out.ipynb"),
         "--cwd", str(tmp_path), "-p", "epochs", "1"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert ("error: run this lesson from the project's folder, where train_conv.py is"
            in result.stderr)
    assert "No module named" not in result.stderr


def test_the_drawing_of_the_default_unet_has_its_convolutions_in_order():
    import conv_models

    text = (REPOSITORY / "train_conv.py").read_text()
    build_cell = text[text.index("## 3. Build the model"):text.index("## 4. Train it")]
    drawing = [line for line in build_cell.splitlines() if line.startswith("#     ")]
    drawn = [int(filters) for line in drawing for filters in re.findall(r"Conv2D\((\d+)", line)]
    model = conv_models.MODELS["unet-psnr"].build((28, 28, 1))
    assert drawn == [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert drawn == [16, 16, 32, 32, 64, 64, 32, 32, 16, 16, 1]


@pytest.mark.parametrize("script, preset, kind", [
    ("train_conv.py", "unet-psnr", "gaussian"), ("train_dense.py", "deep", "gaussian"),
    ("train_noisy_targets.py", "unet-psnr", "gaussian-unclipped")])
def test_the_defaults_the_knobs_name_are_the_presets(script, preset, kind):
    import conv_models
    import dense_models
    import noise

    recipe = {**conv_models.MODELS, **dense_models.MODELS}[preset]
    text = (REPOSITORY / script).read_text()
    assert f"# passes over the training images ({preset}: {recipe.epochs})" in text
    assert f"# images per training step ({preset}: {recipe.batch_size})" in text
    named = re.search(rf"noise_level = None  # how strong \({kind}: ([^,)]+)", text)
    assert named, f"the noise_level knob names no default level of {kind}"
    assert noise.level_or_range_argument(named.group(1)) == pytest.approx(
        noise.NOISES[kind].default_level)  # such as 0.2, or 25/255
