"""The runner: result files with provenance, resume and its refusals, determinism, atomic writes,
raw scores that reproduce the matrices."""

import json

import numpy as np
import pytest

from benchmark import metrics, results
from benchmark.errors import ResultError
from benchmark.runner import RunRequest, run


def request(tmp_path, **overrides):
    return RunRequest(**{"scenario": "tiny", "strategy": "naive", "seeds": [0], "results_dir": tmp_path, **overrides})


def test_result_file_holds_matrices_summaries_config_and_provenance(two_task_scenario, tmp_path):
    outcome, = run(request(tmp_path), scenario=two_task_scenario)
    assert outcome.path == tmp_path / "tiny" / "naive--smallcnn" / "seed0.json"
    result = json.loads(outcome.path.read_text())
    assert result["scenario"]["tasks"] == ["gan_tconv", "faceswap"]
    assert result["scenario"]["fingerprint"] == two_task_scenario.fingerprint
    for name in metrics.SCORE_METRICS:
        assert np.array(result["matrices"][name]).shape == (2, 2) and len(result["initial"][name]) == 2
    assert result["config"]["train"]["epochs"] == 1  # from the scenario YAML
    assert result["config"]["detector"]["params"] == {"widths": [16, 32, 64, 64]}
    assert result["detector"]["label"] == "smallcnn"  # no parameter changed
    provenance = result["provenance"]
    for key in ("dfcl_version", "git_commit", "config_hash", "data_fingerprint", "torch", "device", "threads",
                "wall_seconds", "peak_memory_mb", "started_at", "libraries"):
        assert key in provenance
    assert provenance["wall_seconds"] > 0 and provenance["peak_memory_mb"] > 0
    assert provenance["libraries"]["avalanche-lib"] == "0.6.0" or provenance["libraries"]["avalanche-lib"]
    assert len(result["timing"]["train_seconds"]) == 2


def test_saved_scores_reproduce_every_matrix_entry(two_task_scenario, tmp_path):
    outcome, = run(request(tmp_path), scenario=two_task_scenario)
    result = results.load(outcome.path)
    with np.load(results.scores_path(outcome.path)) as saved:
        for i in range(2):
            for j in range(2):
                labels, scores = saved[f"labels_t{j}"], saved[f"scores_after{i}_t{j}"]
                assert metrics.roc_auc(labels, scores) == pytest.approx(result["matrices"]["auc"][i][j])
                assert metrics.equal_error_rate(labels, scores) == pytest.approx(result["matrices"]["eer"][i][j])
            assert metrics.roc_auc(saved[f"labels_t{i}"], saved[f"scores_init_t{i}"]) == pytest.approx(
                result["initial"]["auc"][i])


def test_same_seed_gives_identical_results_on_cpu(two_task_scenario, tmp_path):
    first, = run(request(tmp_path / "a"), scenario=two_task_scenario)
    second, = run(request(tmp_path / "b"), scenario=two_task_scenario)
    assert first.result["matrices"] == second.result["matrices"]
    third, = run(request(tmp_path / "c", seeds=[1]), scenario=two_task_scenario)
    assert third.result["matrices"] != first.result["matrices"]


def test_finished_run_is_skipped_and_replaced_only_with_force(two_task_scenario, tmp_path):
    first, = run(request(tmp_path), scenario=two_task_scenario)
    stamp = first.path.stat().st_mtime_ns
    again, = run(request(tmp_path), scenario=two_task_scenario)
    assert again.status == "skipped" and first.path.stat().st_mtime_ns == stamp
    forced, = run(request(tmp_path, force=True), scenario=two_task_scenario)
    assert forced.status == "done" and first.path.stat().st_mtime_ns != stamp


def test_a_different_configuration_never_silently_replaces_a_result(two_task_scenario, tmp_path):
    first, = run(request(tmp_path), scenario=two_task_scenario)
    original = first.path.read_text()
    with pytest.raises(ResultError, match="another configuration.*--force.*--tag"):
        run(request(tmp_path, train={"lr": 0.01}), scenario=two_task_scenario)
    with pytest.raises(ResultError, match="another configuration"):  # a new seed beside the old ones too
        run(request(tmp_path, seeds=[1], train={"lr": 0.01}), scenario=two_task_scenario)
    assert first.path.read_text() == original
    tagged, = run(request(tmp_path, train={"lr": 0.01}, tag="lr01"), scenario=two_task_scenario)
    assert tagged.path.parent.name == "naive+lr01--smallcnn"


def test_failed_seed_keeps_finished_ones_and_leaves_no_partial_file(two_task_scenario, tmp_path, monkeypatch):
    import benchmark.runner as runner

    real_run_seed = runner.run_seed

    def crash_on_seed_1(request, scenario, config, train, seed, device):
        if seed == 1:
            raise RuntimeError("boom")
        return real_run_seed(request, scenario, config, train, seed, device)

    monkeypatch.setattr(runner, "run_seed", crash_on_seed_1)
    with pytest.raises(RuntimeError, match="boom"):
        run(request(tmp_path, seeds=[0, 1]), scenario=two_task_scenario)
    folder = tmp_path / "tiny" / "naive--smallcnn"
    visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # hidden: the seeds' locks
    assert visible == ["seed0.json", "seed0.scores.npz"]


def test_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    results.write_atomic(path, "old")
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        results.write_atomic(path, "new")
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]


def test_hand_edited_summary_is_caught(two_task_scenario, tmp_path):
    outcome, = run(request(tmp_path), scenario=two_task_scenario)
    data = json.loads(outcome.path.read_text())
    data["summary"]["auc"]["average"] = 0.99
    outcome.path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="summary.auc.average = 0.99 but the matrices give"):
        results.load(outcome.path)


def test_a_run_scored_on_validation_data_says_so_and_is_never_taken_for_a_test_scored_one(two_task_scenario,
                                                                                        tmp_path):
    """Calibration scores the validation split (``Scenario.scored_on``): its results carry ``scored_split``
    in their configuration, so a test-scored run in the same folder is neither skipped for it nor pooled."""
    assert two_task_scenario.scored_on("test") is two_task_scenario
    request = RunRequest(scenario="tiny", strategy="naive", seeds=[0], results_dir=tmp_path, save_scores=False)
    validation, = run(request, scenario=two_task_scenario.scored_on("val"))
    assert validation.result["config"]["scenario"]["params"]["scored_split"] == "val"
    assert validation.result["test_sizes"] == [len(task.val) for task in two_task_scenario.tasks]
    with pytest.raises(ResultError, match="another configuration|different configuration"):
        run(request, scenario=two_task_scenario)
