"""`dfcl scenario NAME --check`: what a layout holds and lacks, per task, split and class, before training."""

import re
import sys
import types

import pytest
import yaml
from PIL import Image

import scenarios.folder
from benchmark.cli import main


def write_images(folder, count, prefix=""):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(folder / f"{prefix}{index:03d}.png")


@pytest.fixture(autouse=True)
def nothing_is_decoded(monkeypatch):
    def refuse(path):
        raise AssertionError(f"--check decoded {path}")
    monkeypatch.setattr(scenarios.folder, "read_image", refuse)


def check(capsys, *argv):
    status = main(["scenario", *map(str, argv), "--check"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def task_block(out: str, name: str) -> str:
    return re.search(rf"\d+\. {name} .*?(?=\n +\d+\. |\Z)", out, re.S).group(0)


def test_check_lists_counts_and_what_is_missing_and_fails_on_a_partial_layout(tmp_path, capsys):
    data = tmp_path / "data"
    for cls in ("0_real", "1_fake"):
        write_images(data / "flat" / cls, 10)
    write_images(data / "splits" / "train" / "0_real", 6)  # no fakes in train, no test folder
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump({"name": "partial", "version": "1", "source": "folder",
                                    "tasks": ["flat", "splits", "absent"],
                                    "params": {"dataset": "data", "splits": {"train": "train", "val": None,
                                                                             "test": "test"}}}))
    status, out, err = check(capsys, path, "--data-root", tmp_path)
    assert status == 2 and "2 of 3 task(s) lack data (splits, absent)" in err
    flat = task_block(out, "flat")
    assert "complete" in flat and "INCOMPLETE" not in flat
    assert re.search(r"train +real +6 +fake +6", flat) and re.search(r"test +real +2 +fake +2", flat)
    partial = task_block(out, "splits")
    assert "INCOMPLETE" in partial and re.search(r"train +real +6 +fake +0 \(MISSING\)", partial)
    assert f"missing: split folder test missing ({data / 'splits' / 'test'})" in partial
    assert "missing: no images in a '1_fake' folder below" in partial
    assert f"missing: task folder {data / 'absent'} not found" in task_block(out, "absent")
    assert "audit" not in out

    write_images(data / "splits" / "train" / "1_fake", 6)
    for cls in ("0_real", "1_fake"):
        write_images(data / "splits" / "test" / cls, 3)
        write_images(data / "absent" / cls, 5)
    status, out, _ = check(capsys, path, "--data-root", tmp_path)
    assert status == 0 and out.rstrip().endswith("layout complete") and "audit" in out
    assert re.search(r"val +real +1 +fake +1", task_block(out, "splits"))


def test_check_on_a_partial_faceforensics_layout_names_the_missing_methods(tmp_path, capsys):
    ff = tmp_path / "FF++"
    for video in ("000", "001", "002", "003", "004", "005"):
        write_images(ff / "original" / video, 2)
    for method in ("Deepfakes", "Face2Face"):
        for target, source in (("000", "001"), ("001", "000"), ("002", "003"), ("003", "002"), ("004", "005"),
                               ("005", "004")):
            write_images(ff / method / f"{target}_{source}", 2)
    status, out, err = check(capsys, "ffpp", "--data-root", tmp_path)
    assert status == 2 and "2 of 4 task(s) lack data (FS, NT)" in err
    assert "complete" in task_block(out, "DF") and "groups by '{group}_{group2}/{frame}'" in task_block(out, "DF")
    assert re.search(r"test +real +4 +fake +4", task_block(out, "F2F"))  # one pair of the three: 2 videos × 2 frames
    assert "missing: no images in a 'FaceSwap' folder below" in task_block(out, "FS")
    assert re.search(r"all +real +12 +fake +0 \(MISSING\)", task_block(out, "NT"))


def test_check_of_a_generated_scenario_has_nothing_to_check(capsys):
    status, out, _ = check(capsys, "synthetic")
    assert status == 0 and "nothing to check" in out


def test_check_prints_the_audits_file_level_flags_of_a_complete_layout(tmp_path, capsys, monkeypatch):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 5)
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"name": "one", "version": "1", "source": "folder", "tasks": ["famA"],
                                    "params": {"dataset": "data"}}))
    audit = types.ModuleType("benchmark.audit")
    audit.file_level_flags = lambda scenario: [{"task": scenario.task_names[0], "cue": "format", "auc": 0.98765,
                                                "interval": [0.9512, 1.0], "category": None}]
    monkeypatch.setitem(sys.modules, "benchmark.audit", audit)
    status, out, _ = check(capsys, path, "--data-root", tmp_path)
    assert status == 0
    assert "audit file-level flags: 1\n  task=famA, cue=format, auc=0.988, interval=[0.951, 1]\n" in out


def test_check_on_a_partial_surlid_p1_layout_keeps_videos_whole_and_names_the_missing_datasets(tmp_path, capsys):
    """SUR-LID's Protocol 1 (SDv21 → FF++ → DFDCP → CDF): SDv21 as flat images, FF++ as a folder per video
    (val carved from train by video), DFDCP without fakes, CDF absent."""
    root = tmp_path / "SUR-LID"
    for split, count in (("train", 20), ("test", 3)):
        for cls in ("0_real", "1_fake"):
            write_images(root / "sdv21" / split / cls, count)
    for split, videos in (("train", 7), ("test", 3)):
        for cls in ("0_real", "1_fake"):
            for video in range(videos):
                write_images(root / "ffpp" / split / cls / f"{split}{cls}{video:02d}", 3)
    write_images(root / "dfdcp" / "train" / "0_real" / "v0", 4)
    status, out, err = check(capsys, "surlid-p1", "--data-root", tmp_path)
    assert status == 2 and "2 of 4 task(s) lack data (dfdcp, cdf)" in err
    assert "complete" in task_block(out, "sdv21") and re.search(r"val +real +2 +fake +2", task_block(out, "sdv21"))
    assert re.search(r"train +real +18 +fake +18", task_block(out, "sdv21"))
    ffpp = task_block(out, "ffpp")
    assert "complete" in ffpp and "INCOMPLETE" not in ffpp
    # 10 % of 7 videos is one video with its 3 frames (10 % of the 21 frames would be 2)
    assert re.search(r"train +real +18 +fake +18", ffpp) and re.search(r"val +real +3 +fake +3", ffpp)
    assert re.search(r"test +real +9 +fake +9", ffpp)
    assert "missing: no images in a '1_fake' folder below" in task_block(out, "dfdcp")
    assert f"missing: task folder {root / 'cdf'} not found" in task_block(out, "cdf")
