"""Real camera-noise pairs by name (data.REAL_PAIRS) and their scorer, tools/real_pairs.py:
each noisy shot through denoise.py's own path, scored against its clean reference."""

import json
import os

import numpy as np
import pytest

import data
import metrics
from conftest import REPOSITORY, run_script

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
