"""tools/benchmark.py: the table of many runs, and the spread of a run over its seeds."""

from tools import benchmark


def test_the_spread_table_gives_each_runs_mean_and_spread_over_its_seeds():
    results = [{"run": "a-seed0", "psnr": 20.0}, {"run": "a-seed1", "psnr": 22.0},
               {"run": "a-seed2", "psnr": 21.0}, {"run": "b-seed0", "psnr": 30.0},
               {"run": "b-seed1", "failed": "exit code 1, see b-seed1.log"}]
    lines = benchmark.spread_table(results, ["a", "b"]).splitlines()
    assert lines[2] == "| a | 3 | 21.00 | 0.82 | 20.00 | 22.00 |"
    assert lines[3] == "| b | 1 | 30.00 | 0.00 | 30.00 | 30.00 |"  # the failed seed left out


def test_each_seed_is_a_run_of_its_own_with_its_seed_on_the_command_line(tmp_path, monkeypatch):
    args = benchmark.parse_arguments(["--runs", "noise2noise", "--seeds", "0", "1",
                                      "--train-limit", "100", "--out", str(tmp_path / "b")])
    commands = []
    monkeypatch.setattr(benchmark.signals, "run_child", lambda command, **_: commands.append(
        command) or type("Finished", (), {"returncode": 1})())  # the command, not run
    (tmp_path / "b").mkdir()
    failed = benchmark.run_one("noise2noise", 1, args)
    assert failed["run"] == "noise2noise-seed1" and failed["seed"] == 1
    assert commands[0][1:] == ["train_noisy_targets.py", "--loss", "mse", "--noise",
                               "gaussian-unclipped", "--train-limit", "4000", "--target", "noisy",
                               "--dataset", "mnist", "--seed", "1",
                               "--out", str(tmp_path / "b" / "noise2noise-seed1"),
                               "--train-limit", "100"]  # the last --train-limit counts


def test_a_photo_run_keeps_its_own_dataset_and_noise_level(tmp_path, monkeypatch):
    args = benchmark.parse_arguments(["--runs", "photos-neighbours", "--noise-level", "0.3",
                                      "--out", str(tmp_path / "b")])
    commands = []
    monkeypatch.setattr(benchmark.signals, "run_child", lambda command, **_: commands.append(
        command) or type("Finished", (), {"returncode": 1})())  # the command, not run
    (tmp_path / "b").mkdir()
    benchmark.run_one("photos-neighbours", 0, args)
    command = commands[0][1:]
    assert command[0] == "train_noisy_targets.py"
    assert command.count("--dataset") == 1 and command[command.index("--dataset") + 1] == "train400"
    assert command.count("--noise-level") == 1
    assert command[command.index("--noise-level") + 1] == "25/255"
    assert benchmark.own_dataset("photos-neighbours") == "train400"
    assert benchmark.settings_of("blind", args) == [  # a digit run takes the tool's, last:
        "--dataset", "mnist", "--noise-level", "0.3"]  # over its own range, 0.05:0.5
