"""Per-task checkpoints: a seed interrupted after any task and resumed in a new object graph ends bit for bit
where an uninterrupted run ends, for every strategy and for the detectors that train with state of their own;
damaged checkpoints are detected, foreign ones refused, and nothing is pickled."""

import io
import logging

import pytest
import torch

import strategies
from benchmark import checkpoints, detectors, results
from benchmark.errors import ResultError
from benchmark.runner import RunRequest, run
from benchmark.validate import Interrupted, interrupting_save

#: (strategy, detector) pairs the round trip covers: every strategy on the CPU default, and the detectors
#: whose training has state of its own (clip-mlp's SAM and cached encoder; CMFL's and HRR's own losses).
ROUND_TRIPS = [(strategy, "smallcnn") for strategy in strategies.available()] + [
    ("naive", "clip-mlp"), ("fretal", "clip-mlp"), ("lwf", "cmfl"), ("naive", "hrr")]


def request(tmp_path, strategy="naive", detector="smallcnn", **overrides) -> RunRequest:
    return RunRequest(**{"scenario": "three", "strategy": strategy, "detector": detector, "seeds": [0],
                         "results_dir": tmp_path, "detector_params": detectors.REGISTRY.small_params(detector),
                         "strategy_params": strategies.REGISTRY.small_params(strategy), "keep_checkpoints": True,
                         **overrides})


def interrupt_after(monkeypatch, task: int) -> None:
    monkeypatch.setattr(checkpoints, "save", interrupting_save(task))


def _probe_matrices(result: dict):
    probe = result.get("probe")
    assert probe is not None, "every registered strategy's model exposes features(): each run is probed"
    return probe["matrices"], probe["initial"], probe["chosen_C"]


def final_weights(outcome) -> dict[str, torch.Tensor]:
    folder = checkpoints.directory(outcome.path)
    saved = torch.load(folder / "task3.pt", weights_only=True)  # nothing pickled: weights_only loads it
    return saved["strategy"]["model"]


@pytest.mark.parametrize("strategy,detector", ROUND_TRIPS)
def test_a_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_does(strategy, detector, three_task_scenario,
                                                                      tmp_path, monkeypatch, caplog):
    straight, = run(request(tmp_path / "straight", strategy, detector), scenario=three_task_scenario)
    with monkeypatch.context() as patch:
        interrupt_after(patch, 1)
        with pytest.raises(Interrupted):
            run(request(tmp_path / "resumed", strategy, detector), scenario=three_task_scenario)
    assert not (tmp_path / "resumed" / straight.path.relative_to(tmp_path / "straight")).exists()
    with caplog.at_level(logging.INFO, logger="dfcl"):
        resumed, = run(request(tmp_path / "resumed", strategy, detector), scenario=three_task_scenario)
    assert f"resuming {strategy}--{detector} seed 0 from task 2/3" in caplog.text
    assert resumed.result["matrices"] == straight.result["matrices"]
    assert resumed.result["initial"] == straight.result["initial"]
    assert resumed.result["training"] == straight.result["training"]
    assert _probe_matrices(resumed.result) == _probe_matrices(straight.result)
    assert resumed.result["provenance"]["resumed_from_task"] == [1]
    timing = resumed.result["timing"]
    assert {key: len(values) for key, values in timing.items()} == {key: 3 for key in timing}
    assert timing["checkpoint_seconds"][0] is None and None not in timing["checkpoint_seconds"][1:]
    expected, found = final_weights(straight), final_weights(resumed)
    assert expected.keys() == found.keys()
    for name in expected:
        assert torch.equal(expected[name], found[name]), f"{strategy} × {detector}: {name} differs after resume"


def test_the_optimiser_state_carries_over_a_resume_when_it_is_not_reset(three_task_scenario, tmp_path, monkeypatch):
    train = {"reset_optimizer": False}
    straight, = run(request(tmp_path / "a", train=train), scenario=three_task_scenario)
    interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        run(request(tmp_path / "b", train=train), scenario=three_task_scenario)
    monkeypatch.undo()
    resumed, = run(request(tmp_path / "b", train=train), scenario=three_task_scenario)
    assert resumed.result["matrices"] == straight.result["matrices"]


def test_checkpoints_are_removed_once_the_result_is_written_unless_kept(three_task_scenario, tmp_path):
    outcome, = run(request(tmp_path, keep_checkpoints=False), scenario=three_task_scenario)
    assert not checkpoints.directory(outcome.path).exists()
    kept, = run(request(tmp_path / "kept"), scenario=three_task_scenario)
    assert sorted(p.name for p in checkpoints.directory(kept.path).iterdir()) == [
        "task2.pt", "task2.pt.sha256", "task3.pt", "task3.pt.sha256"]  # the newest two


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-checksum"])
def test_a_damaged_checkpoint_is_reported_by_name_and_the_previous_one_used(damage, three_task_scenario, tmp_path,
                                                                           monkeypatch, caplog):
    straight, = run(request(tmp_path / "a"), scenario=three_task_scenario)
    interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        run(request(tmp_path / "b"), scenario=three_task_scenario)
    monkeypatch.undo()
    newest = checkpoints.directory(tmp_path / "b" / straight.path.relative_to(tmp_path / "a")) / "task2.pt"
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[:len(data) // 2])
    elif damage == "flip":
        newest.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    else:
        newest.with_name("task2.pt.sha256").unlink()
    with caplog.at_level(logging.INFO, logger="dfcl"):
        resumed, = run(request(tmp_path / "b"), scenario=three_task_scenario)
    assert str(newest) in caplog.text and "ignored" in caplog.text
    assert "from task 2/3" in caplog.text  # task 1's checkpoint was the good one
    assert resumed.result["matrices"] == straight.result["matrices"]


def test_a_checkpoint_of_another_configuration_is_refused_and_force_starts_over(three_task_scenario, tmp_path,
                                                                               monkeypatch):
    interrupt_after(monkeypatch, 1)
    with pytest.raises(Interrupted):
        run(request(tmp_path), scenario=three_task_scenario)
    monkeypatch.undo()
    with pytest.raises(ResultError, match=r"task1\.pt belongs to another configuration.*--force"):
        run(request(tmp_path, train={"lr": 0.01}), scenario=three_task_scenario)
    outcome, = run(request(tmp_path, train={"lr": 0.01}, force=True), scenario=three_task_scenario)
    assert outcome.result["provenance"]["resumed_from_task"] == []


def test_a_plugin_without_declared_state_is_refused(two_task_scenario):
    from avalanche.training.plugins import SupervisedPlugin

    from benchmark.training import TrainConfig, TrainSetup

    strategy = strategies.create("naive", detectors.create("smallcnn"),
                                 TrainSetup(TrainConfig(), torch.device("cpu")))
    strategy.plugins.append(type("Remembers", (SupervisedPlugin,), {})())
    with pytest.raises(ResultError, match="Remembers declares no checkpoint state"):
        checkpoints.capture(strategy)


def test_a_checkpoint_holds_only_tensors_and_plain_containers(three_task_scenario, tmp_path):
    """weights_only=True refuses any pickled object, so loading every strategy's checkpoint proves it."""
    for strategy in strategies.available():
        outcome, = run(request(tmp_path, strategy), scenario=three_task_scenario)
        data = (checkpoints.directory(outcome.path) / "task3.pt").read_bytes()
        saved = torch.load(io.BytesIO(data), weights_only=True)
        assert saved["completed"] == 3 and saved["config_hash"] == outcome.result["provenance"]["config_hash"]
        results.validate(outcome.result)
