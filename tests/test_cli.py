"""The command line: help everywhere, listings, a run from a YAML config with flag overrides, and bad
input answered with a message and exit status 2."""

import json

import pytest
import yaml

import strategies
from benchmark import detectors
from benchmark.cli import main, parse_assignments

COMMANDS = ["run", "list", "scenario", "leaderboard", "validate", "verify", "new-strategy"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: dfcl" in capsys.readouterr().out


def test_list_shows_every_registered_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in strategies.available() + detectors.available() + ["synthetic", "cddb-hard", "gan_tconv"]:
        assert name in out


def test_assignments_are_read_as_yaml_values():
    assert parse_assignments(["lr=1e-3", "widths=[8, 16]", "weights=null", "name=abc"], "--x") == {
        "lr": 0.001, "widths": [8, 16], "weights": None, "name": "abc"}


def test_run_from_config_file_with_overrides(two_task_yaml, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"scenario": str(two_task_yaml), "strategies": ["naive"], "seeds": [0],
                                      "train": {"epochs": 2}, "results_dir": str(tmp_path / "res")}))
    board = tmp_path / "board.md"
    assert main(["-q", "run", "--config", str(config), "--epochs", "1", "--seeds", "3",
                 "--leaderboard", str(board)]) == 0
    result = json.loads((tmp_path / "res" / "tiny" / "naive--smallcnn" / "seed3.json").read_text())
    assert result["config"]["train"]["epochs"] == 1 and result["seed"] == 3
    assert "naive" in board.read_text()


@pytest.mark.parametrize("argv,message", [
    (["run", "--strategy", "nope"], "unknown strategy 'nope'"),
    (["run", "--strategy", "naive", "--train", "epochs"], "--train expects KEY=VALUE"),
    (["run", "--strategy", "naive", "--strategy-param", "alpha=1"], "strategy 'naive' has no parameter 'alpha'"),
    (["run", "--scenario", "missing.yaml", "--strategy", "naive"], "scenario file missing.yaml not found"),
])
def test_bad_input_exits_2_with_a_message(argv, message, capsys, two_task_yaml):
    if argv[1] == "--strategy" and "--scenario" not in argv:
        argv = [*argv, "--scenario", str(two_task_yaml)]
    assert main(["-q", *argv]) == 2
    assert message in capsys.readouterr().err


def test_scenario_command_describes_tasks(two_task_yaml, capsys):
    assert main(["scenario", str(two_task_yaml)]) == 0
    out = capsys.readouterr().out
    assert "fingerprint: sha256:" in out and "gan_tconv" in out and "train 48, val 8, test 48" in out
