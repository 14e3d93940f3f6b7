"""tools/curves.py: the validation PSNR of several runs, read from their metrics.json."""

import json

import matplotlib.image
import pytest

from tools import curves


def finished_run(folder, val_psnr, seconds, loss=(0.5, 0.25)):
    """A run folder as a training script leaves it, with only what curves.py reads."""
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({
        "dataset": "mnist", "noisy_psnr": 20.0, "train_seconds": seconds,
        "history": {"val_psnr": val_psnr, "loss": list(loss)}}))
    return folder


def test_each_run_gets_a_line_and_a_column_at_evenly_spaced_epochs(tmp_path):
    short = finished_run(tmp_path / "short", [10.0, 25.0, 27.0], 30)
    long = finished_run(tmp_path / "long", [10.0 + epoch for epoch in range(21)], 1234.4,
                        loss=(0.5, 0.0096123))
    curves.main([str(short), str(long), "--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "curves.md").read_text().splitlines()
    assert lines[0] == "| epoch | short | long |"
    rows = [line.split(" | ")[0] for line in lines[2:-2]]
    assert rows == ["| " + str(epoch) for epoch in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20)]
    assert lines[3] == "| 2 | 27.00 | 12.00 |"
    assert lines[4] == "| 4 |  | 14.00 |"  # the short run had ended
    assert lines[-2] == "| final training loss | 0.25000 | 0.00961 |"  # each run's last epoch
    assert lines[-1] == "| training seconds | 30 | 1,234 |"
    assert matplotlib.image.imread(tmp_path / "out" / "curves.png").shape[0] > 100


def test_a_kept_metrics_file_is_named_for_its_model(tmp_path):
    run = finished_run(tmp_path / "run", [10.0, 25.0, 27.0], 30)
    kept = tmp_path / "unet-level-train400.metrics.json"
    kept.write_text((run / "metrics.json").read_text())
    curves.main([str(kept), str(run), "--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "curves.md").read_text().splitlines()
    assert lines[0] == "| epoch | unet-level-train400 | run |"
    assert lines[4] == "| 2 | 27.00 | 27.00 |"


def test_a_folder_without_a_finished_run_is_one_line(tmp_path, capsys):
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(SystemExit) as stop:
        curves.main([str(tmp_path / "unfinished"), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "unfinished holds no readable metrics.json" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
