"""Real processes: a `dfcl run` killed with SIGKILL after its second task's checkpoint resumes to exactly the
numbers of an uninterrupted run; two `dfcl run` on one results folder never train one seed twice nor replace
each other's file; `dfcl leaderboard` while runs write reads only complete files."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import results
from conftest import three_task_yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    """Three tasks, each a second or two of training: slow enough to kill a process between two tasks."""
    return three_task_yaml(tmp_path_factory.mktemp("scenario"), n_train=120, n_test=32, epochs=2, batch_size=32)


def dfcl(*args: str, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "DFCL_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "benchmark.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


def run_args(scenario: Path, results_dir: Path, *extra: str) -> list[str]:
    return ["run", "--scenario", str(scenario), "--strategy", "lwf", "--threads", "1", "--results-dir",
            str(results_dir), *extra]


def test_a_run_killed_after_its_second_checkpoint_resumes_to_the_uninterrupted_numbers(scenario_file, tmp_path):
    cache = tmp_path / "cache"
    finish(dfcl(*run_args(scenario_file, tmp_path / "straight"), cache=cache))
    straight = results.load(tmp_path / "straight" / "three" / "lwf--smallcnn" / "seed0.json")

    folder = tmp_path / "killed" / "three" / "lwf--smallcnn"
    process = dfcl(*run_args(scenario_file, tmp_path / "killed"), cache=cache)
    deadline = time.monotonic() + 300
    while not (folder / "seed0.ckpt" / "task2.pt.sha256").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "no second checkpoint within 5 minutes"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (folder / "seed0.json").exists(), "task 3 finished before the kill: make it slower"

    out = finish(dfcl(*run_args(scenario_file, tmp_path / "killed"), cache=cache))
    assert "resuming lwf--smallcnn seed 0 from task 3/3" in out
    resumed = results.load(folder / "seed0.json")
    assert resumed["matrices"] == straight["matrices"] and resumed["training"] == straight["training"]
    assert resumed["provenance"]["resumed_from_task"] == [2]


def test_two_processes_never_train_one_seed_twice(scenario_file, tmp_path):
    cache = tmp_path / "cache"
    finish(dfcl("scenario", str(scenario_file), cache=cache))  # build the data once, before the race
    args = run_args(scenario_file, tmp_path / "res", "--seeds", "0", "1")
    first, second = dfcl(*args, cache=cache), dfcl(*args, cache=cache)
    outputs = finish(first) + finish(second)
    assert outputs.count("wrote ") == 2, outputs  # each seed trained and written exactly once
    assert "is being run by another process" in outputs or "exists with the same configuration" in outputs
    for seed in (0, 1):
        results.load(tmp_path / "res" / "three" / "lwf--smallcnn" / f"seed{seed}.json")


def test_a_second_process_with_other_settings_replaces_nothing(scenario_file, tmp_path):
    cache = tmp_path / "cache"
    finish(dfcl("scenario", str(scenario_file), cache=cache))
    first = dfcl(*run_args(scenario_file, tmp_path / "res", "--epochs", "2"), cache=cache)
    second = dfcl(*run_args(scenario_file, tmp_path / "res", "--epochs", "3"), cache=cache)
    out_first, _ = first.communicate(timeout=300)
    out_second, _ = second.communicate(timeout=300)
    writes = (out_first + out_second).count("wrote ")
    assert writes == 1, out_first + out_second  # one trained; the other was told, never silently replaced
    written = results.load(tmp_path / "res" / "three" / "lwf--smallcnn" / "seed0.json")
    winner = out_first if "wrote " in out_first else out_second
    assert f"--epochs {written['config']['train']['epochs']}" in " ".join(first.args if winner is out_first
                                                                          else second.args)


def test_the_leaderboard_reads_only_complete_files_while_runs_write(scenario_file, tmp_path):
    cache = tmp_path / "cache"
    writer = dfcl(*run_args(scenario_file, tmp_path / "res", "--seeds", "0", "1"), cache=cache)
    (tmp_path / "res").mkdir(exist_ok=True)
    boards = 0
    while writer.poll() is None:
        board = subprocess.run([sys.executable, "-m", "benchmark.cli", "leaderboard", "--results-dir",
                                str(tmp_path / "res"), "--output", str(tmp_path / "board.md")], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
        assert board.returncode == 0, board.stderr
        boards += 1
    finish(writer)
    assert boards >= 2
