"""The command line: --help, bad values, and folders that must not be overwritten."""

import pytest

import train_conv
import train_dense
from conftest import run_script


@pytest.mark.parametrize("script", ["train_conv.py", "train_dense.py"])
def test_help_describes_every_option(script):
    result = run_script(script, "--help")
    assert result.returncode == 0
    for flag in ("--dataset", "--noise", "--noise-level", "--model", "--loss", "--epochs",
                 "--batch-size", "--train-limit", "--test-limit", "--seed", "--data-dir",
                 "--out", "--show"):
        assert flag in result.stdout


@pytest.mark.parametrize("main", [train_conv.main, train_dense.main])
@pytest.mark.parametrize("arguments, complaint", [
    (["--model", "nope"], "--model"),
    (["--epochs", "0"], "--epochs"),
    (["--noise", "speckle"], "--noise"),
    (["--noise", "salt-pepper", "--noise-level", "1.5"], "--noise-level"),
    (["--noise-level", "-0.2"], "--noise-level"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--batch-size", "many"], "--batch-size"),
])
def test_bad_values_exit_2_with_the_usage_line(main, arguments, complaint, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*arguments, "--out", str(tmp_path / "run")])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage:") and complaint in error
    assert not (tmp_path / "run").exists()


def test_an_existing_out_folder_is_never_overwritten_silently(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("earlier work")
    with pytest.raises(SystemExit) as raised:
        train_conv.main(["--out", str(tmp_path)])
    assert raised.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_text() == "earlier work"


def test_without_out_each_run_gets_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_conv.training, "stop_cleanly_on_signals", lambda folder: None)
    (tmp_path / "runs" / "unet-mnist").mkdir(parents=True)
    (tmp_path / "runs" / "unet-mnist" / "metrics.json").write_text("{}")
    args = train_conv.training.parse_arguments("", train_conv.MODELS, "unet", [])
    assert args.out == "runs/unet-mnist-2"


def test_missing_data_is_one_line_and_exit_1(tmp_path):
    result = run_script("train_conv.py", "--data-dir", tmp_path / "nowhere",
                        "--out", tmp_path / "run")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: no folder") and "mnist/" in last_line
