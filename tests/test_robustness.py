"""Every command answers bad input with exit status 2 and a message naming the flag or field, before any
work starts (a table: a new flag is covered by adding a row), and the traps a new user fell into are
closed: copied results are not counted, paths are expanded and checked, nothing is half-written."""

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from benchmark import leaderboard, results
from benchmark.cli import main
from conftest import make_result, write_result

GOOD = [[0.9, 0.5], [0.85, 0.95]]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with one valid result, a config writer, a plain file and an empty folder to misuse."""
    monkeypatch.chdir(tmp_path)
    write_result(tmp_path / "res", make_result(GOOD))
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()

    def config(**keys) -> str:
        path = tmp_path / f"config{len(list(tmp_path.glob('config*')))}.yaml"
        path.write_text(yaml.safe_dump({"scenario": "synthetic", "strategies": ["naive"], **keys}))
        return str(path)

    return config


#: (argv, or a function of the config writer giving argv; the text the message must contain)
BAD_INPUTS = [
    (["run", "--config", "missing.yaml"], "--config missing.yaml: no such file"),
    (lambda c: ["run", "--config", c(train=[1, 2])], "'train' must be a mapping"),
    (lambda c: ["run", "--config", c(scenario_params="big")], "'scenario_params' must be a mapping"),
    (lambda c: ["run", "--config", c(seeds=0)], "seeds must be a non-empty list of integers"),
    (lambda c: ["run", "--config", c(seeds=["zero"])], "seeds must be a non-empty list of integers"),
    (lambda c: ["run", "--config", c(seeds=[-1])], "seeds must be a non-empty list of integers"),
    (lambda c: ["run", "--config", c(threads=0)], "--threads must be an integer ≥ 1"),
    (lambda c: ["run", "--config", c(results_dir="a-file")], "--results-dir a-file: is a file"),
    (["run", "--strategy", "ewc", "--strategy-param", "ewc_lambda=abc"], "parameter ewc_lambda expects a number"),
    (["run", "--strategy", "replay", "--strategy-param", "mem_size=1.5"], "parameter mem_size expects an integer"),
    (["run", "--strategy", "naive", "--strategy-param", "alpha=1"], "has no parameter 'alpha'"),
    (["run", "--strategy", "naive", "--detector", "nope"], "unknown detector 'nope'"),
    (["run", "--strategy", "naive", "--threads", "-3"], "argument --threads: expected an integer ≥ 1"),
    (["run", "--strategy", "naive", "--threads", "0"], "argument --threads: expected an integer ≥ 1"),
    (["run", "--strategy", "naive", "--lr", "nan"], "argument --lr: expected a finite number > 0"),
    (["run", "--strategy", "naive", "--lr", "inf"], "argument --lr: expected a finite number > 0"),
    (["run", "--strategy", "naive", "--lr", "-1"], "argument --lr: expected a finite number > 0"),
    (["run", "--strategy", "naive", "--epochs", "1.7"], "argument --epochs: expected an integer ≥ 1"),
    (["run", "--strategy", "naive", "--train", "epochs=1.7"], "train.epochs: expected an integer, got 1.7"),
    (["run", "--strategy", "naive", "--train", "lr=inf"], "train.lr must be a finite number > 0"),
    (["run", "--strategy", "naive", "--train", "momentum=2"], "train.momentum must lie in [0, 1)"),
    (["run", "--strategy", "naive", "--train", "optimiser=sgd"], "unknown training setting(s) ['optimiser']"),
    (["run", "--strategy", "naive", "--seeds", "x"], "argument --seeds: expected an integer ≥ 0"),
    (["run", "--strategy", "naive", "--results-dir", "a-file"], "--results-dir a-file: is a file"),
    (["run", "--strategy", "naive", "--leaderboard", "a-folder"], "--leaderboard a-folder: is a folder"),
    (["leaderboard", "--results-dir", "typo"], "--results-dir typo: no such folder"),
    (["leaderboard", "--results-dir", "res", "--output", "a-folder"], "--output a-folder: is a folder"),
    (["table", "--results-dir", "res", "--resamples", "-5"], "argument --resamples: expected an integer ≥ 0"),
    (["table", "--results-dir", "res", "--output", "a-folder"], "--output a-folder: is a folder"),
    (["table", "--results-dir", "typo"], "--results-dir typo: no such folder"),
    (["plot", "--results-dir", "res", "--scenario", "demo", "--output", "a-file"], "--output a-file: is a file"),
    (["compare", "naive", "joint", "--alpha", "2"], "argument --alpha: expected a number strictly between 0 and 1"),
    (["compare", "naive", "joint", "--alpha", "0"], "argument --alpha: expected a number strictly between 0 and 1"),
    (["compare", "naive", "joint", "--results-dir", "typo"], "--results-dir typo: no such folder"),
    (["scenario", "nope"], "unknown scenario 'nope'"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_exits_2_naming_the_flag_or_field(argv, message, workspace, capsys):
    argv = argv(workspace) if callable(argv) else argv
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse's own errors (a value of the wrong type)
        status = exit_info.code
    assert status == 2, f"{argv}: exit status {status}"
    err = capsys.readouterr().err
    assert message in err, f"{argv}: {err!r}"
    assert "Traceback" not in err


@pytest.mark.parametrize("edit,field", [
    (lambda r: r["matrices"]["auc"][0].__setitem__(1, "0.7"), "matrices.auc[0][1] must be a number"),
    (lambda r: r["initial"]["acc"].__setitem__(0, [0.5]), "initial.acc[0] must be a number"),
    (lambda r: r.__setitem__("seed", "0"), "seed must be an integer"),
    (lambda r: r["provenance"].pop("data_fingerprint"), "provenance lacks ['data_fingerprint']"),
    (lambda r: r["training"].__setitem__("loss", [0.1]), "training.loss must list 2 values"),
])
def test_a_malformed_result_is_refused_naming_the_field(edit, field, tmp_path, capsys):
    path = write_result(tmp_path, make_result(GOOD))
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    assert main(["leaderboard", "--results-dir", str(tmp_path), "--output", str(tmp_path / "b.md")]) == 2
    err = capsys.readouterr().err
    assert field in err and str(path) in err


@pytest.mark.parametrize("copy", ["folder", "backup-folder", "file", "padded-seed"])
def test_a_copied_result_is_refused_not_counted_as_another_seed(copy, tmp_path):
    path = write_result(tmp_path, make_result(GOOD))
    if copy == "folder":
        shutil.copytree(path.parent, path.parent.with_name("naive--smallcnn copy"))
    elif copy == "backup-folder":
        shutil.copytree(path.parent, path.parent.with_name("naive--smallcnn.bak"))
    elif copy == "file":
        shutil.copy(path, path.with_name("seed0 (copy).json"))
    else:
        shutil.copy(path, path.with_name("seed00.json"))
    with pytest.raises(results.ResultError, match="copied or renamed|not result files in the layout"):
        leaderboard.render(tmp_path, tmp_path / "board.md")


def test_a_seed_field_that_disagrees_with_its_file_name_is_refused(tmp_path):
    path = write_result(tmp_path, make_result(GOOD, seed=0))
    data = json.loads(path.read_text())
    data["seed"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(results.ResultError, match="its content is .*seed1.json, but it lies at .*seed0.json"):
        results.load(path)


def test_a_schema_1_file_stays_loadable(tmp_path):
    result = make_result(GOOD)
    result["schema_version"] = 1
    del result["training"], result["warnings"]
    path = results.result_path(tmp_path, "demo", "naive", "smallcnn", 0)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result))
    loaded = results.load(path)
    assert loaded["schema_version"] == 2 and loaded["training"]["loss"] == [None, None]


def test_results_dir_with_a_tilde_is_the_home_folder_not_a_literal_one(two_task_yaml, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--results-dir", "~/res",
                 "--no-scores"]) == 0
    assert (tmp_path / "home" / "res" / "tiny" / "naive--smallcnn" / "seed0.json").is_file()
    assert not (tmp_path / "~").exists()


def test_a_typo_in_the_results_dir_never_overwrites_a_good_leaderboard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_result(tmp_path / "results", make_result(GOOD))
    assert main(["leaderboard"]) == 0
    before = (tmp_path / "leaderboard.md").read_text()
    assert main(["leaderboard", "--results-dir", "reslts"]) == 2
    assert (tmp_path / "leaderboard.md").read_text() == before


def test_force_without_scores_removes_the_old_runs_scores(two_task_yaml, tmp_path):
    argv = ["-q", "run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--results-dir", str(tmp_path)]
    assert main(argv) == 0
    result = tmp_path / "tiny" / "naive--smallcnn" / "seed0.json"
    assert results.scores_path(result).is_file()
    assert main([*argv, "--epochs", "2", "--force", "--no-scores"]) == 0
    assert not results.scores_path(result).exists()


def test_a_diverging_run_stops_loudly_keeps_its_checkpoints_and_writes_no_result(three_task_scenario, tmp_path,
                                                                                monkeypatch):
    """The loss becomes NaN in task 2: the seed stops naming task, epoch and iteration, exit status 2 at the
    command line, no result file, and task 1's checkpoint stays for a rerun with other settings."""
    from benchmark import checkpoints
    from benchmark.runner import RunRequest, run
    from benchmark.training import DivergenceError, LossMonitor

    real = LossMonitor.after_training_iteration

    def poison(self, strategy, **kwargs):
        if strategy.clock.train_exp_counter == 1 and strategy.clock.train_epoch_iterations == 1:
            strategy.loss = strategy.loss * math.nan
        real(self, strategy, **kwargs)

    monkeypatch.setattr(LossMonitor, "after_training_iteration", poison)
    request = RunRequest(scenario="three", strategy="naive", results_dir=tmp_path)
    with pytest.raises(DivergenceError, match=r"loss became nan at task 2, epoch 1, iteration 2.*--lr"):
        run(request, scenario=three_task_scenario)
    path = results.result_path(tmp_path, "three", "naive", "smallcnn", 0)
    assert not path.exists()
    assert sorted(p.name for p in checkpoints.directory(path).glob("*.pt")) == ["task1.pt"]


def test_training_losses_are_recorded_per_task_and_epoch(three_task_scenario, tmp_path):
    from benchmark.runner import RunRequest, run

    outcome, = run(RunRequest(scenario="three", strategy="naive", results_dir=tmp_path), scenario=three_task_scenario)
    training = outcome.result["training"]
    assert len(training["loss"]) == 3 and all(len(epochs) == 2 for epochs in training["loss_per_epoch"])
    assert all(0 < loss < 5 for loss in training["loss"])
    assert training["loss"][0] == pytest.approx(sum(training["loss_per_epoch"][0]) / 2)


def test_a_collapsed_model_is_reported_in_the_result(three_task_scenario, tmp_path, monkeypatch):
    """One constant score for every image (what `--lr 1e6` produced) is ranked as AUC 0.5 unless said."""
    from benchmark import evaluation
    from benchmark.runner import RunRequest, run

    real = evaluation.predict
    constant = lambda scores, *rest: (scores * 0 + 0.5, *rest)  # noqa: E731
    monkeypatch.setattr(evaluation, "predict", lambda *a, **k: constant(*real(*a, **k)))
    outcome, = run(RunRequest(scenario="three", strategy="naive", results_dir=tmp_path), scenario=three_task_scenario)
    assert any("same score (0.5) to every test image" in w for w in outcome.result["warnings"])


def test_the_committed_results_sit_in_the_canonical_layout():
    root = Path(__file__).resolve().parents[1] / "results"
    assert results.find(root), "no committed results found"


def test_a_weights_file_holding_a_bare_tensor_is_named(two_task_yaml, tmp_path, capsys):
    import torch

    torch.save(torch.zeros(3), tmp_path / "bare.pt")
    status = main(["run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--detector", "resnet18",
                   "--detector-param", f"weights={tmp_path / 'bare.pt'}", "--results-dir", str(tmp_path / "res")])
    assert status == 2
    assert f"weights file {tmp_path / 'bare.pt'} holds a Tensor, not a state dict" in capsys.readouterr().err
    assert not (tmp_path / "res" / "tiny").exists() or not list((tmp_path / "res").rglob("seed*.json"))
