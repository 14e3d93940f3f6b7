"""tools/compare.py run as a user would: every method in the table, failures reported, not raised."""

import argparse
import json

import keras
import numpy as np
import pytest
from PIL import Image

import data
import metrics
import noise
from tools import classical, compare, published
from conftest import run_script


def save_identity_model(path, input_shape):
    """A model whose output is its input: its PSNR must be exactly the noisy input's,
    which checks that tools/compare.py feeds it the same noisy images."""
    inputs = keras.Input(input_shape)
    path.parent.mkdir()
    keras.Model(inputs, keras.layers.Identity()(inputs)).save(path)
    return path


def rows_by_method(folder):
    results = json.loads((folder / "results.json").read_text())
    return results, {row["method"]: row for row in results["results"]}


def test_mnist_table_lists_every_method_and_reports_the_broken_ones(tiny_data_dir, tmp_path):
    identity = save_identity_model(tmp_path / "identity" / "model.keras", (28, 28, 1))
    too_big = save_identity_model(tmp_path / "too-big" / "model.keras", (32, 32, 1))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.keras").write_text("not a model")
    out = tmp_path / "out"
    finished = run_script("tools/compare.py", "--data-dir", tiny_data_dir, "--limit", 3,
                          "--workers", 1, "--out", out, "--self-ensemble",
                          "--models", identity, too_big, tmp_path / "junk" / "model.keras")
    # Two models were not scored: the run fails, once the others are scored and written.
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    last = finished.stderr.strip().splitlines()[-1]
    assert last == (f"error: 3 model(s) not scored (too-big, too-big x8, junk): see above; "
                    f"the rest are in {out}")
    assert any(line.startswith("error: junk: cannot load") for line in finished.stderr.splitlines())
    for name in ("results.md", "results.json", "psnr.png", "samples.png"):
        assert (out / name).stat().st_size > 0
    results, rows = rows_by_method(out)
    table = (out / "results.md").read_text()
    for method in ("noisy input", *classical.METHOD_NAMES, "identity", "too-big", "junk"):
        assert f"| {method} |" in table
        assert method in rows
    assert results["test_images"] == 3
    (_, _), (clean, _) = data.load_dataset("mnist", tiny_data_dir, test_limit=3)
    noisy = noise.fixed_noisy_copy(clean, "gaussian", 0.2)  # what the training scripts score
    assert rows["noisy input"]["psnr"] == pytest.approx(metrics.image_quality(clean, noisy)["psnr"])
    for identity_row in ("identity", "identity x8"):  # once, and in 8 orientations
        assert rows[identity_row]["psnr"] == pytest.approx(rows["noisy input"]["psnr"], abs=1e-4)
    assert "(32, 32, 1)" in rows["too-big"]["failed"]
    assert "cannot load" in rows["junk"]["failed"]
    for method in classical.METHODS:
        assert rows[method]["seconds_per_image"] > 0 and 0 < rows[method]["ssim"] <= 1


def test_folder_of_photos_of_two_sizes_with_a_sweep(tmp_path):
    rng = np.random.default_rng(0)
    for folder, shapes in (("test", [(40, 30), (30, 44)]), ("tune", [(50, 50)])):
        (tmp_path / folder).mkdir()
        for index, shape in enumerate(shapes):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{index}.png")
    identity = save_identity_model(tmp_path / "conv" / "model.keras", (None, None, 1))
    out = tmp_path / "out"
    finished = run_script("tools/compare.py", "--dataset", tmp_path / "test", "--tune-dataset",
                          tmp_path / "tune", "--channels", 1,
                          "--noise-level", "25/255", "--sweep", "0.05", "25/255", "--workers", 1,
                          "--classical", "median", "wavelet",
                          "--out", out, "--self-ensemble", "--models", identity)
    assert finished.returncode == 0, finished.stderr
    results, rows = rows_by_method(out)
    assert list(rows) == ["noisy input", "median", "wavelet", "conv", "conv x8"]
    assert results["noise_level"] == pytest.approx(25 / 255)
    # Padded to a multiple of 8 and cropped back, and each orientation turned back: the
    # identity model changes nothing (with clipped noise: tools/compare.py clips every output).
    for identity_row in ("conv", "conv x8"):
        assert rows[identity_row]["psnr"] == pytest.approx(rows["noisy input"]["psnr"], abs=1e-4)
    assert results["sweep"]["levels"] == pytest.approx([0.05, 25 / 255])
    noisy_curve = results["sweep"]["psnr"]["noisy input"]
    assert noisy_curve[0] > noisy_curve[1]  # less noise, higher PSNR
    assert noisy_curve[1] == pytest.approx(rows["noisy input"]["psnr"])
    assert (out / "sweep.png").stat().st_size > 0


def test_models_alone_on_a_folder_need_no_tuning_folder(tmp_path):
    (tmp_path / "test").mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "test" / "photo.png")
    identity = save_identity_model(tmp_path / "conv" / "model.keras", (None, None, 3))
    finished = run_script("tools/compare.py", "--dataset", tmp_path / "test", "--classical",
                          "--out", tmp_path / "out", "--models", identity)
    assert finished.returncode == 0, finished.stderr
    _, rows = rows_by_method(tmp_path / "out")
    assert list(rows) == ["noisy input", "conv"]
    assert rows["conv"]["psnr"] == pytest.approx(rows["noisy input"]["psnr"], abs=1e-4)


def test_models_are_named_after_their_run_folder_or_their_own_file(tmp_path):
    run = save_identity_model(tmp_path / "unet-mnist" / "model.keras", (None, None, 1))
    ready = save_identity_model(tmp_path / "models" / "unet-faces.keras", (None, None, 1))
    recipe = {"model": "unet", "loss": "bce", "epochs": 3, "dataset": "mnist",
              "noise": "gaussian", "noise_level": [0.05, 0.5]}
    (run.parent / "metrics.json").write_text(json.dumps(recipe))
    (ready.parent / "unet-faces.metrics.json").write_text(json.dumps(
        {**recipe, "epochs": 5, "target": "neighbours", "regulariser_weight": 0.0,
         "flip_rotate": True}))
    models = compare.load_models([str(run), str(ready)])
    assert list(models) == ["unet-mnist", "unet-faces"]  # not "models", the folder
    assert models["unet-mnist"][1] == "unet, bce, 3 epochs, trained on mnist at gaussian 0.05:0.5"
    assert models["unet-faces"][1] == ("unet, bce, 5 epochs, trained on mnist at gaussian "
                                       "0.05:0.5, neighbours as targets, regulariser weight 0, "
                                       "turned and mirrored")


@pytest.mark.parametrize("arguments, message", [
    (["--dataset", "some/folder"], "--tune-dataset: needed"),
    (["--models", "missing.keras"], "no such file: missing.keras"),
    (["--noise-level", "-1"], "a Gaussian noise level must lie in [0, 10] (got -1)"),
    (["--noise-level", "one"], "a fraction such as 25/255"),
])
def test_bad_arguments_stop_before_any_work(arguments, message, tmp_path):
    finished = run_script("tools/compare.py", *arguments, "--out", tmp_path / "out")
    assert finished.returncode == 2
    assert message in finished.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_test_folder_is_one_line(tmp_path):
    finished = run_script("tools/compare.py", "--dataset", tmp_path / "nowhere", "--tune-dataset",
                          tmp_path, "--out", tmp_path / "out")
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize("dataset, channels, noise_kind, level, published_bars", [
    ("bsd68", 1, "gaussian-unclipped", 25 / 255, ["BM3D", "DnCNN-S", "FFDNet", "DRUNet"]),
    ("cbsd68", 3, "gaussian-unclipped", 50 / 255, ["CBM3D", "CDnCNN", "FFDNet", "DRUNet"]),
    ("cbsd68", 1, "gaussian-unclipped", 25 / 255, []),  # the papers scored it in colour
    ("bsd68", 1, "gaussian", 25 / 255, []),  # clipped noise: not the papers' noise
    ("bsd68", 1, "gaussian-unclipped", 30 / 255, []),  # no published sigma 30
])
def test_the_papers_scores_stand_beside_ours_only_where_they_were_scored_the_same_way(
        dataset, channels, noise_kind, level, published_bars, tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(compare.plots, "save_bar_chart",
                        lambda path, names, psnrs, colours, title: drawn.update(
                            names=names, psnrs=psnrs, colours=colours, title=title))
    args = argparse.Namespace(dataset=dataset, channels=channels, noise=noise_kind,
                              noise_level=level, workers=1, out=str(tmp_path))
    ours = {"method": "unet", "kind": "model", "setting": "s", "psnr": 28.9, "ssim": 0.8,
            "seconds_per_image": 0.1}
    clean = [np.zeros((80, 80, channels), np.float32)]
    compare.write_results(args, [ours], None, clean, {"unet": clean})
    assert drawn["names"] == ["unet", *(f"{method} (published)" for method in published_bars)]
    sigma = round(level * 255)
    for name, psnr in zip(drawn["names"][1:], drawn["psnrs"][1:]):
        row = next(row for row in published.PUBLISHED if row.dataset == dataset
                   and f"{row.method} (published)" == name)
        assert psnr == row.psnr[published.SIGMAS.index(sigma)]
    assert ("(published)" in drawn["title"]) == bool(published_bars)
    assert "published" not in (tmp_path / "results.md").read_text()  # measured numbers only
