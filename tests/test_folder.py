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


def split_files(scenario) -> dict[str, dict[str, list]]:
    return {task.name: {split: list(getattr(task, split).paths) for split in ("train", "val", "test")}
            for task in scenario.tasks}


def test_a_familys_split_does_not_depend_on_the_other_tasks_or_their_order(tmp_path):
    for family in ("famA", "famB"):
        for cls in ("0_real", "1_fake"):
            write_images(tmp_path / "data" / family / cls, 10)
    load = lambda tasks: split_files(scenarios.load(scenario_yaml(tmp_path, tasks), data_root=tmp_path))  # noqa: E731
    both, reversed_, alone = load(["famA", "famB"]), load(["famB", "famA"]), load(["famB"])
    assert both["famB"] == reversed_["famB"] == alone["famB"]
    assert both["famA"] == reversed_["famA"]


def side_of(scenario, group_of) -> dict[tuple[str, str], set[str]]:
    """(task, group) → the splits its files are in."""
    sides: dict[tuple[str, str], set[str]] = {}
    for task in scenario.tasks:
        for split in ("train", "val", "test"):
            for path in getattr(task, split).paths:
                sides.setdefault((task.name, group_of(path)), set()).add(split)
    return sides


def write_frames(folder: Path, groups: list[str], frames: int, size: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for group in groups:
        for frame in range(frames):
            Image.new("RGB", (size, size), (len(group), frame, 0)).save(folder / f"{group}_{frame:02d}.png")


def test_a_group_pattern_keeps_every_group_on_one_side_across_classes(tmp_path):
    videos = [f"v{i:02d}" for i in range(12)]
    write_frames(tmp_path / "data" / "famA" / "0_real", videos, 3)
    write_frames(tmp_path / "data" / "famA" / "1_fake", videos[:10], 4)  # two groups hold reals only
    rule = {"pattern": "{group}_{frame}.png"}
    path = scenario_yaml(tmp_path, ["famA"], group=rule, fractions={"train": 0.5, "val": 0.25, "test": 0.25},
                         verify=False)
    scenario = scenarios.load(path, data_root=tmp_path)
    sides = side_of(scenario, lambda p: p.name.split("_")[0])
    assert len(sides) == 12 and all(len(splits) == 1 for splits in sides.values())
    test = scenario.tasks[0].test
    assert 0 < labels(test).count(1) and 0 < labels(test).count(0)
    assert scenario.params["group"] == rule  # the rule goes into every result's resolved config


def test_without_a_group_rule_the_frames_of_one_video_straddle_the_split(tmp_path):
    """What the rule prevents: split file by file, a video's frames land on both sides."""
    videos = [f"v{i:02d}" for i in range(6)]
    for cls in ("0_real", "1_fake"):
        write_frames(tmp_path / "data" / "famA" / cls, videos, 5)
    scenario = scenarios.load(scenario_yaml(tmp_path, ["famA"], verify=False), data_root=tmp_path)
    assert any(len(splits) > 1 for splits in side_of(scenario, lambda p: p.name.split("_")[0]).values())


def test_subfolder_groups_and_joined_ids_as_in_faceforensics(tmp_path):
    """FF++-like: reals <video>/, fakes <target>_<source>/; a fake joins its two real videos, and the
    shared real videos fall on the same side in every task."""
    root = tmp_path / "data"
    videos = [f"{i:03d}" for i in range(20)]
    pairs = [(videos[i], videos[i + 1]) for i in range(0, 20, 2)]
    for video in videos:
        write_images(root / "original" / video, 2, size=20)
    for method in ("Deepfakes", "FaceSwap"):
        for a, b in pairs:
            for target, source in ((a, b), (b, a)):
                write_images(root / method / f"{target}_{source}", 2, size=20)
    task_params = {"DF": {"dir": ".", "classes": {"original": 0, "Deepfakes": 1}},
                   "FS": {"dir": ".", "classes": {"original": 0, "FaceSwap": 1}}}
    path = scenario_yaml(tmp_path, ["DF", "FS"], task_params=task_params, verify=False,
                         group={"pattern": ["{group}_{group2}/{frame}", "{group}/{frame}"]})
    scenario = scenarios.load(path, data_root=tmp_path)
    pair_of = {video: min(pair) for pair in pairs for video in pair}
    sides = side_of(scenario, lambda p: pair_of[p.parent.name.split("_")[0]])
    assert len(sides) == 2 * len(pairs) and all(len(splits) == 1 for splits in sides.values())
    assert {g: s for (t, g), s in sides.items() if t == "DF"} == {g: s for (t, g), s in sides.items() if t == "FS"}
    reals = {split: {p for p in getattr(scenario.tasks[0], split).paths if "original" in p.parts}
             for split in ("train", "test")}
    assert reals == {split: {p for p in getattr(scenario.tasks[1], split).paths if "original" in p.parts}
                     for split in ("train", "test")}

    subfolder = scenarios.load(scenario_yaml(tmp_path, ["DF"], task_params={"DF": task_params["DF"]},
                                             group="subfolder", verify=False), data_root=tmp_path)
    assert all(len(s) == 1 for s in side_of(subfolder, lambda p: p.parent.name).values())


def test_a_file_the_group_pattern_does_not_match_is_named_with_the_pattern(tmp_path):
    write_frames(tmp_path / "data" / "famA" / "0_real", ["v1", "v2", "v3"], 2)
    write_frames(tmp_path / "data" / "famA" / "1_fake", ["v1", "v2", "v3"], 2)
    Image.new("RGB", (20, 20)).save(tmp_path / "data" / "famA" / "1_fake" / "stray.png")
    path = scenario_yaml(tmp_path, ["famA"], group={"pattern": "{group}_{frame}.png"})
    with pytest.raises(ConfigError, match=r"1 file\(s\) match no group pattern '\{group\}_\{frame\}.png', "
                                          r"e\.g\. .*1_fake/stray\.png"):
        scenarios.load(path, data_root=tmp_path)
    with pytest.raises(ConfigError, match="each with a \\{group\\} field"):
        scenarios.load(scenario_yaml(tmp_path, ["famA"], group={"pattern": "{video}.png"}), data_root=tmp_path)


def test_tasks_from_several_datasets_with_their_own_class_folders_and_split_folders(tmp_path):
    """A GenImage-like task (train/val folders, ai/nature classes, val as test) beside a flat 0_real/1_fake
    one from another dataset folder."""
    gen = tmp_path / "GenImage" / "ADM" / "imagenet_ai_0508_adm"
    for split, count in (("train", 10), ("val", 3)):
        write_images(gen / split / "nature", count)
        write_images(gen / split / "ai", count, start=50)
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "fixture" / "gaugan" / cls, 5)
    task_params = {"adm": {"dir": "GenImage/ADM/imagenet_ai_0508_adm", "classes": {"nature": 0, "ai": 1}},
                   "gaugan": {"dir": "fixture/gaugan"}}
    path = scenario_yaml(tmp_path, ["adm", "gaugan"], dataset=None, task_params=task_params,
                         splits={"train": "train", "val": None, "test": "val"})
    adm, gaugan = scenarios.load(path, data_root=tmp_path).tasks
    assert adm.sizes() == {"train": 18, "val": 2, "test": 6} and gaugan.sizes() == {"train": 6, "val": 2, "test": 2}
    assert all(p.parent.parent.name == "val" for p in adm.test.paths)
    assert labels(adm.test).count(1) == 3 and all(p.parent.name == "ai" for p, y in
                                                   zip(adm.test.paths, labels(adm.test)) if y == 1)
    with pytest.raises(ConfigError, match="task_params must map task names \\(adm, gaugan\\)"):
        scenarios.load(scenario_yaml(tmp_path, ["adm", "gaugan"], dataset=None, task_params={"adn": {}}),
                       data_root=tmp_path)
    with pytest.raises(ConfigError, match="classes of task adm must map class folder names to labels"):
        scenarios.load(scenario_yaml(tmp_path, ["adm"], dataset=None, task_params={
            "adm": {**task_params["adm"], "classes": {"nature": 0, "ai": 0}}}), data_root=tmp_path)


@pytest.mark.parametrize("name", [n for n in scenarios.available()
                                  if scenarios.read_yaml(scenarios.SCENARIO_DIR / f"{n}.yaml")["source"] == "folder"])
def test_every_bundled_folder_scenario_is_valid_cites_its_paper_and_documents_its_layout(name, tmp_path):
    spec = scenarios.read_yaml(scenarios.SCENARIO_DIR / f"{name}.yaml")
    assert len(spec["citation"]) > 40 and "<data-root>" in spec["description"]
    try:  # the parameters pass validation; only the (absent) data is missing
        base, report = scenarios.inventory(name, data_root=tmp_path)
    except DataError as error:
        assert "dataset folder" in str(error)
    else:
        assert report and not any(task.complete for task in report)


GAN_TRIO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gan-trio"


@pytest.mark.skipif(not GAN_TRIO.is_dir(), reason=f"fixture {GAN_TRIO} not present")
def test_gan_trio_keeps_each_pix2pix_pair_on_one_side():
    scenario = scenarios.load("gan-trio", data_root=GAN_TRIO.parent)
    assert scenario.task_names == ["pix2pix", "stargan", "stylegan2"]
    assert scenario.notes == []  # every image decodes, and the file lists are the recorded fingerprint's
    pix2pix = scenario.tasks[0]
    sides = side_of(scenario, lambda p: p.stem)
    assert all(len(splits) == 1 for (task, _), splits in sides.items() if task == "pix2pix")
    assert pix2pix.sizes() == {"train": 120, "val": 20, "test": 60}
    for split in ("train", "val", "test"):
        dataset = getattr(pix2pix, split)
        real = {p.stem for p, y in zip(dataset.paths, dataset.targets) if y == 0}
        assert real == {p.stem for p, y in zip(dataset.paths, dataset.targets) if y == 1}
