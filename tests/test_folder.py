"""The folder source: both layouts, deterministic stratified splits, and errors that name the path."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import scenarios
from benchmark.errors import ConfigError, DataError


def write_images(folder: Path, count: int, start: int = 0, size: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for index in range(start, start + count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")


def scenario_yaml(tmp_path: Path, tasks, **params) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "disk", "version": "1", "source": "folder", "tasks": tasks,
                                    "params": {"dataset": "data", "crop": 32, **params}}))
    return path


def labels(dataset) -> list[int]:
    return list(dataset.targets)


def test_flat_layout_is_split_stratified_and_deterministically(tmp_path):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 10)
    path = scenario_yaml(tmp_path, ["famA"], fractions={"train": 0.6, "val": 0.2, "test": 0.2})
    first = scenarios.load(path, data_root=tmp_path)
    task = first.tasks[0]
    assert task.sizes() == {"train": 12, "val": 4, "test": 4}
    assert labels(task.test).count(0) == labels(task.test).count(1) == 2
    splits = [set(getattr(task, s).paths) for s in ("train", "val", "test")]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    again = scenarios.load(path, data_root=tmp_path)
    assert again.fingerprint == first.fingerprint and again.tasks[0].test.paths == task.test.paths
    reseeded = scenarios.load(path, data_root=tmp_path, params={"data_seed": 1})
    assert reseeded.tasks[0].test.paths != task.test.paths


def test_split_layout_with_object_subfolders_as_in_cddb(tmp_path):
    base = tmp_path / "data" / "cyclegan"
    for split, count in (("train", 10), ("val", 3)):
        for obj in ("horse", "apple"):
            write_images(base / split / obj / "0_real", count, start=0)
            write_images(base / split / obj / "1_fake", count, start=100)
    path = scenario_yaml(tmp_path, ["cyclegan"], splits={"train": "train", "val": None, "test": "val"},
                         val_fraction=0.1)
    task = scenarios.load(path, data_root=tmp_path).tasks[0]
    assert task.sizes() == {"train": 36, "val": 4, "test": 12}
    image, label = task.train[0]
    assert image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1 and label in (0, 1)
    assert sorted(set(labels(task.test))) == [0, 1]


def test_missing_family_folder_names_the_path(tmp_path):
    write_images(tmp_path / "data" / "famA" / "0_real", 3)
    write_images(tmp_path / "data" / "famA" / "1_fake", 3)
    path = scenario_yaml(tmp_path, ["famA", "famB"])
    with pytest.raises(DataError, match=f"task folder {tmp_path / 'data' / 'famB'} not found"):
        scenarios.load(path, data_root=tmp_path)


def test_empty_class_names_the_folder(tmp_path):
    write_images(tmp_path / "data" / "famA" / "0_real", 3)
    (tmp_path / "data" / "famA" / "1_fake").mkdir(parents=True)
    with pytest.raises(DataError, match="no images in a '1_fake' folder below .*famA"):
        scenarios.load(scenario_yaml(tmp_path, ["famA"]), data_root=tmp_path)


def test_truncated_image_stops_before_training_and_can_be_skipped_with_a_count(tmp_path):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 6)
    broken = tmp_path / "data" / "famA" / "1_fake" / "002.png"
    broken.write_bytes(broken.read_bytes()[:60])
    path = scenario_yaml(tmp_path, ["famA"])
    with pytest.raises(DataError, match=f"(?s)1 unreadable image.*{broken}.*--skip-unreadable"):
        scenarios.load(path, data_root=tmp_path)
    scenario = scenarios.load(path, data_root=tmp_path, params={"skip_unreadable": True})
    assert sum(scenario.tasks[0].sizes().values()) == 11
    assert scenario.params["skipped_unreadable"] == 1 and "1 unreadable image(s) skipped" in scenario.notes


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 5)
    path = scenario_yaml(tmp_path, ["famA"])
    before = scenarios.load(path, data_root=tmp_path).fingerprint
    write_images(tmp_path / "data" / "famA" / "0_real", 1, start=50, size=48)
    assert scenarios.load(path, data_root=tmp_path).fingerprint != before


def test_data_root_is_required_and_comes_from_the_environment(tmp_path, monkeypatch):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 5)
    path = scenario_yaml(tmp_path, ["famA"])
    monkeypatch.delenv("DFCL_DATA", raising=False)
    with pytest.raises(ConfigError, match="--data-root DIR or set DFCL_DATA"):
        scenarios.load(path)
    monkeypatch.setenv("DFCL_DATA", str(tmp_path))
    assert scenarios.load(path).task_names == ["famA"]


def test_scenario_yaml_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nsource: folder\ntasks: []\n")
    with pytest.raises(ConfigError, match=f"{bad}: field 'tasks' must be a non-empty list"):
        scenarios.load(bad)
    bad.write_text("name: x\nversion: 1\nsource: folder\ntasks: [a]\ntaks: [b]\n")
    with pytest.raises(ConfigError, match="unknown field\\(s\\) \\['taks'\\]"):
        scenarios.load(bad)
    with pytest.raises(ConfigError, match="unknown scenario 'nope'"):
        scenarios.load("nope")


@pytest.mark.parametrize("name,count", [("cddb-easy", 7), ("cddb-hard", 5), ("cddb-long", 12)])
def test_cddb_scenarios_keep_the_published_task_orders(name, count):
    spec = scenarios.read_yaml(scenarios.SCENARIO_DIR / f"{name}.yaml")
    orders = {"cddb-easy": "gaugan biggan cyclegan imle deepfake crn wild",
              "cddb-hard": "gaugan biggan wild whichfaceisreal san",
              "cddb-long": "gaugan biggan cyclegan imle deepfake crn wild glow stargan_gf stylegan whichfaceisreal san"}
    assert spec["tasks"] == orders[name].split() and len(spec["tasks"]) == count
    assert spec["params"]["splits"]["test"] == "val" and spec["params"]["dataset"] == "CDDB"


@pytest.mark.parametrize("count,fractions", [(5, (0.1, 0.1, 0.8)), (3, (0.6, 0.2, 0.2)), (4, (0.98, 0.01, 0.01)),
                                             (20, (0.6, 0.2, 0.2))])
def test_every_split_gets_at_least_one_file_per_class(tmp_path, count, fractions):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, count)
    path = scenario_yaml(tmp_path, ["famA"], fractions=dict(zip(("train", "val", "test"), fractions)))
    sizes = scenarios.load(path, data_root=tmp_path).tasks[0].sizes()
    assert min(sizes.values()) >= 2 and sum(sizes.values()) == 2 * count
    if count == 5:  # cuts at 0.5 and 1.0 files, pushed apart: 1 / 1 / 3 per class, in train/val/test order
        assert sizes == {"train": 2, "val": 2, "test": 6}


def test_bad_fractions_are_named(tmp_path):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 5)
    path = scenario_yaml(tmp_path, ["famA"], fractions={"train": 0.8, "test": 0.2})
    with pytest.raises(ConfigError, match="params.fractions must give a positive share for each of"):
        scenarios.load(path, data_root=tmp_path)
