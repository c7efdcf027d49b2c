"""``dfcl bench``: the bare loop trains what the suite trains (same weights at the end on CPU), every
measurement is reported, and the cold-cache measurement leaves the user's cache alone."""

import json

import pytest
from conftest import two_family_folder

from benchmark import bench, data_cache
from benchmark.cli import main

TINY = bench.BenchSize(tasks=2, epochs=1, train_images=None, test_images=None, repeats=2)


def test_suite_and_bare_loop_train_the_same_weights(two_task_yaml):
    result = bench.bench(scenario_name=str(two_task_yaml), size=TINY, log=lambda line: None)
    assert result["max_weight_difference"] == 0.0  # same batches, same arithmetic: the ratio compares like with like
    assert result["train_ratio"] > 0 and result["eval_ratio"] > 0
    assert len(result["train_images_per_s"]["suite_all"]) == len(result["train_images_per_s"]["bare_all"]) == 2
    paired = [s / b for s, b in zip(result["train_images_per_s"]["suite_all"], result["train_images_per_s"]["bare_all"])]
    assert result["train_ratio"] == pytest.approx(sum(paired) / 2)  # the median of two
    assert result["loader"]["source"] == "in-memory arrays" and result["loader_images_per_s"] > 0
    assert result["loader"]["cold"] is None and result["peak_memory_mb"] is None
    assert result["setup"]["precision"] == "fp32" and result["setup"]["train_images"] == 96  # 2 tasks × 48


def test_a_different_training_is_caught(two_task_yaml, monkeypatch):
    """The weight check can fail: a bare loop on another learning rate ends elsewhere."""
    real = bench.BareTraining.__init__

    def other_lr(self, model, scenario, train, *args):
        real(self, model, scenario, bench.dataclasses.replace(train, lr=train.lr * 2), *args)

    monkeypatch.setattr(bench.BareTraining, "__init__", other_lr)
    result = bench.bench(scenario_name=str(two_task_yaml), size=TINY, log=lambda line: None)
    assert result["max_weight_difference"] > 0


@pytest.fixture
def folder_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("DFCL_CACHE", str(tmp_path / "cache"))
    return two_family_folder(tmp_path, per_class=10, size=40, params={"crop": 32}, train={"epochs": 1, "batch_size": 4})


def test_folder_loader_is_measured_cold_warm_and_from_files(folder_yaml, tmp_path):
    result = bench.bench(scenario_name=str(folder_yaml), size=TINY, data_root=str(tmp_path), log=lambda line: None)
    before = sorted(entry.path for entry in data_cache.entries())
    loader = result["loader"]
    assert loader["source"] == "decoded-image cache" and loader["images"] == 24
    assert all(loader[key] > 0 for key in ("warm", "cold", "pil", "cache_build_images_per_s"))
    assert result["loader_images_per_s"] == loader["warm"] and result["max_weight_difference"] == 0.0
    assert len(before) == 2 and sorted(entry.path for entry in data_cache.entries()) == before  # cold used its own


def test_bench_command_prints_json_with_the_ratio_keys(two_task_yaml, capsys):
    assert main(["-q", "bench", "--scenario", str(two_task_yaml), "--tasks", "1", "--repeats", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"train_ratio", "eval_ratio", "loader_images_per_s"} <= set(printed)
    assert printed["setup"]["tasks"] == 1 and printed["setup"]["repeats"] == 1


def test_bench_refuses_more_tasks_than_the_scenario_has(two_task_yaml, capsys):
    assert main(["bench", "--scenario", str(two_task_yaml), "--tasks", "3"]) == 2
    assert "--tasks" in capsys.readouterr().err
