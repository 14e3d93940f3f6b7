"""Real camera-noise pairs by name (data.REAL_PAIRS) and their scorer, tools/real_pairs.py:
each noisy shot through denoise.py's own path, scored against its clean reference."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import data
import denoiser
import metrics
import noise
import plots
from conftest import REPOSITORY, run_script
from tools import classical

MODEL = REPOSITORY / "models" / "unet-psnr-cbsd432-blind.keras"
needs_pairs = pytest.mark.skipif(
    not os.environ.get(data.DATA_DIR_VARIABLE) or data.find_photo_set("polyu100") is None,
    reason=f"needs ${data.DATA_DIR_VARIABLE}/real-noise/PolyU100/")


@needs_pairs
def test_the_pairs_are_found_by_name_each_shot_with_its_reference():
    pairs = data.real_pairs("polyu100")
    assert len(pairs) == 100
    for noisy, clean in pairs:
        assert noisy.endswith("_real.JPG") and clean == noisy[: -len("_real.JPG")] + "_mean.JPG"
        assert os.path.isfile(clean)


@needs_pairs
def test_the_scorer_scores_what_denoise_py_writes(tmp_path):
    """The model's row is the PSNR of the very PNG denoise.py writes for each noisy shot."""
    result = run_script("tools/real_pairs.py", "--models", MODEL, "--limit", 2,
                        "--out", tmp_path / "scores")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "scores" / "results.json").read_text())["rows"]
    assert [row["method"] for row in rows] == ["noisy", MODEL.name]
    pairs = data.real_pairs("polyu100", limit=2)
    written = run_script("denoise.py", "--model", MODEL, *(noisy for noisy, _ in pairs),
                         "--out", tmp_path / "denoised")
    assert written.returncode == 0, written.stderr[-2000:]
    for index, (noisy, clean) in enumerate(pairs):
        reference = data.read_image(clean)[0]
        output = data.read_image(tmp_path / "denoised" / (
            os.path.basename(noisy)[: -len(".JPG")] + "_denoised.png"))[0]
        expected = metrics.image_quality([reference], [output])["psnr"]
        assert rows[1]["pairs"][index]["psnr"] == pytest.approx(expected, abs=1e-3)
        noisy_psnr = metrics.image_quality([reference], [data.read_image(noisy)[0]])["psnr"]
        assert rows[0]["pairs"][index]["psnr"] == pytest.approx(noisy_psnr, abs=1e-3)
    assert rows[0]["psnr"] == pytest.approx(np.mean([p["psnr"] for p in rows[0]["pairs"]]),
                                            abs=1e-3)
    assert "| noisy |" in (tmp_path / "scores" / "results.md").read_text()
    with Image.open(tmp_path / "scores" / "samples.png") as samples:  # reference, noisy, model
        width = min(data.read_image(pairs[0][1])[0].shape[1], plots.SHOWN_SIDE)
        assert samples.width == 3 * (width + 8) + 8  # each at full resolution, 8 pixels apart
    spreads = json.loads((tmp_path / "scores" / "results.json").read_text())["noise_spreads"]
    for (noisy, clean), spread in zip(pairs, spreads):  # the noise's own spread, and auto's
        residual = data.read_image(noisy)[0] - data.read_image(clean)[0]
        assert spread["true"] == pytest.approx(float(np.std(residual)), rel=1e-4)
        assert 0 < spread["estimated"] < 1


def test_real_pairs_are_no_dataset_to_train_on(tmp_path):
    """The pairs are for evaluation: the training scripts do not take them by name."""
    result = run_script("train_photos.py", "--dataset", "polyu100", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --dataset: polyu100 holds real noisy pictures with clean references, to "
        "score on (python -m tools.real_pairs), never to train on")


def test_the_halves_are_whole_scenes_each_in_turn():
    paths = ["x/A_1_2_chair_11_real.JPG", "x/A_1_2_chair_5_real.JPG", "x/A_1_2_plug_3_real.JPG",
             "x/B_1_2_tree_1_real.JPG", "x/B_1_2_tree_2_real.JPG"]
    assert data.real_pair_scene(paths[0]) == "A_1_2_chair"
    assert data.real_pair_halves(paths) == ([0, 1, 3, 4], [2])


@needs_pairs
def test_the_camera_estimate_is_chosen_on_one_half_and_scored_on_the_other(tmp_path):
    """tools/noise_estimator.py: its factor is the choosing half's geometric mean of true /
    block estimate, and the model's factor the choosing half's best. The first 4 and the
    first 5 pairs have the same choosing half (the 3 crops of the first scene): so the same
    choices, whatever the pairs that score them."""
    told_model = REPOSITORY / "models" / "unet-level-cbsd432.keras"
    found = {}
    for limit in (4, 5):
        result = run_script("tools/noise_estimator.py", "--limit", limit, "--model", told_model,
                            "--textured-limit", 2, "--out", tmp_path / str(limit))
        assert result.returncode == 0, result.stderr[-2000:]
        found[limit] = json.loads((tmp_path / str(limit) / "results.json").read_text())
    assert found[4]["choosing"] == found[5]["choosing"] == [0, 1, 2]
    assert found[4]["scoring"] == [3] and found[5]["scoring"] == [3, 4]
    assert found[4]["chosen"] == found[5]["chosen"]
    assert found[4]["told"]["choosing"] == found[5]["told"]["choosing"]
    pictures = [(data.read_image(noisy)[0], data.read_image(clean)[0])
                for noisy, clean in data.real_pairs("polyu100", limit=5)]
    chosen = found[5]["chosen"]
    truths = [np.std(noisy - clean) for noisy, clean in pictures[:3]]
    coarse = [noise.estimate_noise_level(noise.block_means(noisy, chosen["block"]))
              for noisy, _ in pictures[:3]]
    assert chosen["factor"] == pytest.approx(np.exp(np.mean(np.log(np.array(truths) / coarse))),
                                             abs=0.005)
    told = found[5]["told"]
    assert [row["method"] for row in told["scored"]] == [
        "noisy", "told auto's estimate", f"told {told['factor']:g} x the camera estimate"]
    model = denoiser.load_model(str(told_model))
    for index, (noisy, clean) in enumerate(pictures[3:]):  # the scoring half, as denoise.py
        level = told["factor"] * noise.estimate_camera_noise_level(
            noisy, chosen["block"], chosen["factor"])
        output = denoiser.denoise_picture(model, noisy, ensemble=False, level=level)
        written = denoiser.to_integers(output, 8).astype(np.float32) / 255
        expected = metrics.image_quality([clean], [written])["psnr"]
        assert told["scored"][2]["pairs"][index]["psnr"] == pytest.approx(expected, abs=1e-3)
    assert "Chosen: blocks of" in (tmp_path / "5" / "results.md").read_text()


@needs_pairs
def test_the_scorer_scores_one_half_of_the_scenes_when_asked(tmp_path):
    result = run_script("tools/real_pairs.py", "--limit", 5, "--half", "scoring",
                        "--out", tmp_path / "scores")
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads((tmp_path / "scores" / "results.json").read_text())
    assert found["files"] == ["Canon5D2_5_160_3200_plug_11_real.JPG",
                              "Canon5D2_5_160_3200_plug_12_real.JPG"]
    assert len(found["rows"][0]["pairs"]) == 2


@needs_pairs
def test_an_empty_half_is_refused_in_one_line(tmp_path):
    result = run_script("tools/real_pairs.py", "--limit", 2, "--half", "scoring",
                        "--out", tmp_path / "scores")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the scoring half of the first 2 pairs is empty (they are of one scene): give a "
        "larger --limit"]
    assert not (tmp_path / "scores").exists()


@needs_pairs
def test_one_scene_is_refused_in_one_line(tmp_path):
    result = run_script("tools/noise_estimator.py", "--limit", 3, "--out", tmp_path / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: choosing on one half")


@pytest.mark.skipif(classical.bm3d is not None, reason="bm3d is installed here")
def test_bm3d_without_its_package_is_refused_in_one_line(tmp_path):
    result = run_script("tools/real_pairs.py", "--bm3d", "--out", tmp_path / "scores")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"argument --bm3d: bm3d is {classical.BM3D_MISSING}")
    assert not (tmp_path / "scores").exists()


@needs_pairs
@pytest.mark.skipif(classical.bm3d is None, reason="needs the optional bm3d package")
def test_bm3d_is_told_the_camera_estimate(tmp_path):
    result = run_script("tools/real_pairs.py", "--bm3d", "--limit", 1, "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "s" / "results.json").read_text())["rows"]
    noisy, clean = (data.read_image(path)[0] for path in data.real_pairs("polyu100", limit=1)[0])
    output = classical.block_matching_3d(noisy, noise.estimate_camera_noise_level(noisy))
    written = denoiser.to_integers(np.array(output, np.float32), 8).astype(np.float32) / 255
    assert rows[-1]["method"] == "BM3D, told the camera estimate"
    assert rows[-1]["psnr"] == pytest.approx(metrics.image_quality([clean], [written])["psnr"],
                                             abs=1e-3)


@needs_pairs
def test_a_model_told_a_map_of_one_level_scores_as_told_that_level(tmp_path):
    """tools/noise_map.py: its first row, the camera estimate told as a map of one value, is
    what tools/real_pairs.py scores for the same model told the camera estimate; the map of
    brightness bands tells something else."""
    model = REPOSITORY / "models" / "unet-level-cbsd432.keras"
    mapped = run_script("tools/noise_map.py", "--limit", 5, "--model", model,
                        "--out", tmp_path / "map")
    assert mapped.returncode == 0, mapped.stderr[-2000:]
    scored = run_script("tools/real_pairs.py", "--half", "scoring", "--noise-level", "camera",
                        "--limit", 5, "--models", model, "--out", tmp_path / "scores")
    assert scored.returncode == 0, scored.stderr[-2000:]
    rows = json.loads((tmp_path / "map" / "results.json").read_text())["rows"]
    told = json.loads((tmp_path / "scores" / "results.json").read_text())["rows"][1]
    assert rows[1]["method"].startswith("told the camera estimate, one number")
    assert rows[1]["psnr"] == pytest.approx(told["psnr"], abs=1e-3)
    assert rows[3]["psnr"] != pytest.approx(rows[2]["psnr"], abs=1e-3)
