"""The decoded-image cache: the pixels PIL decodes, once, reused until a file changes, read through memory
maps, located by DFCL_CACHE; and the training view applied to a whole uint8 batch as torchvision applies it
to one image."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, two_family_folder, write_images
from PIL import Image
from torchvision.transforms.v2 import functional as F

import scenarios
from benchmark import data_cache
from benchmark.cli import main
from benchmark.errors import DataError
from benchmark.runner import RunRequest, run
from scenarios.folder import decode

SHARED_RANKING = SHARED_DATA / "cnndetection-ranking"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("DFCL_CACHE", str(root))
    return root


@pytest.mark.parametrize("resize", [None, 24])
def test_cached_pixels_are_what_decoding_the_file_gives(cache, tmp_path, resize):
    paths = write_images(tmp_path / "images", [(40, 40), (30, 52), (64, 48)])
    images = data_cache.decoded_images(paths, resize, decode, workers=1)
    for row, path in enumerate(paths):
        assert torch.equal(images.image(row), decode(path, resize))
    assert images.common_shape([0, 1, 2]) is None and images.common_shape([0]) == tuple(decode(paths[0], resize).shape)
    assert list((cache / "decoded").iterdir()) == [images.folder]


def test_an_entry_is_reused_without_decoding_and_rebuilt_when_a_file_changes(cache, tmp_path):
    paths = write_images(tmp_path / "images", [(32, 32)] * 3)
    first = data_cache.decoded_images(paths, None, decode, workers=1)

    def refuse(path, resize):
        raise AssertionError("decoded again although the cache holds the image")

    again = data_cache.decoded_images(paths, None, refuse)
    assert again.folder == first.folder and torch.equal(again.image(1), first.image(1))
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(paths[1])  # same size on disk is not enough
    os.utime(paths[1], ns=(paths[1].stat().st_atime_ns, paths[1].stat().st_mtime_ns + 10**9))
    changed = data_cache.decoded_images(paths, None, decode, workers=1)
    assert changed.folder != first.folder
    assert int(changed.image(1).max()) == 0 and torch.equal(changed.image(0), first.image(0))
    other_size = data_cache.decoded_images(paths, 16, decode, workers=1)
    assert other_size.folder not in (first.folder, changed.folder) and other_size.image(0).shape == (3, 16, 16)


def test_parallel_build_gives_the_entry_a_single_process_gives(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(data_cache, "SHARD_IMAGES", 4)  # several shards, so two processes share the work
    paths = write_images(tmp_path / "images", [(20 + i % 3, 24) for i in range(10)])
    parallel = data_cache.decoded_images(paths, None, decode, workers=2)
    pixels = [parallel.image(row) for row in range(len(paths))]
    data_cache.clear()
    single = data_cache.decoded_images(paths, None, decode, workers=1)
    assert np.array_equal(parallel.index, single.index) and len(list(parallel.folder.glob("shard-*.u8"))) == 3
    assert all(torch.equal(a, single.image(row)) for row, a in enumerate(pixels))


def test_unreadable_files_are_recorded_not_cached(cache, tmp_path):
    paths = write_images(tmp_path / "images", [(16, 16)] * 2)
    broken = tmp_path / "images" / "002.png"
    broken.write_bytes(b"not a png")
    images = data_cache.decoded_images([*paths, broken], None, decode, workers=1)
    assert list(images.unreadable) == [str(broken)] and "cannot read image" in images.unreadable[str(broken)]
    with pytest.raises(DataError, match="002.png"):
        images.image(2)
    assert torch.equal(images.image(1), decode(paths[1], None))


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status here")


def test_reading_maps_only_the_images_asked_for_and_workers_get_no_copy(cache, tmp_path):
    """An entry far larger than what is read stays on disk: a dataset larger than memory still trains."""
    paths = write_images(tmp_path / "images", [(384, 384)] * 96)  # 42 MB of pixels
    images = data_cache.decoded_images(paths, None, decode, workers=2)
    assert sum(f.stat().st_size for f in images.folder.glob("shard-*.u8")) == 96 * 3 * 384 * 384
    before = resident_mb()
    read = [images.image(row) for row in (0, 50, 95)]
    assert resident_mb() - before < 12, "reading three images brought much more of the entry into memory"
    assert all(tuple(r.shape) == (3, 384, 384) for r in read)
    assert len(pickle.dumps(images)) < 200_000, "the memory maps were pickled (into each loader worker)"


def folder_yaml(tmp_path: Path) -> Path:
    return two_family_folder(tmp_path, per_class=8, size=36, params={"crop": 28},
                             train={"epochs": 2, "batch_size": 4, "lr": 0.002})


def run_folder(path: Path, tmp_path: Path, name: str) -> dict:
    scenario = scenarios.load(path, data_root=tmp_path)
    outcome, = run(RunRequest(scenario="disk", strategy="naive", seeds=[2], results_dir=tmp_path / name,
                              save_scores=False), scenario=scenario)
    return outcome.result


def test_training_from_the_cache_is_training_from_the_files(cache, tmp_path, monkeypatch):
    path = folder_yaml(tmp_path)
    cached = run_folder(path, tmp_path, "cached")
    assert len(data_cache.entries()) == 2  # one entry per task
    again = run_folder(path, tmp_path, "again")  # bit-for-bit repeatable from the warm cache
    monkeypatch.setenv("DFCL_DECODE_CACHE", "0")
    from_files = run_folder(path, tmp_path, "files")
    for other in (again, from_files):
        assert other["matrices"] == cached["matrices"] and other["training"] == cached["training"]


def test_a_load_without_verification_decodes_nothing_but_reads_a_warm_entry(cache, tmp_path):
    path = folder_yaml(tmp_path)
    cold = scenarios.load(path, params={"verify": False}, data_root=tmp_path)
    assert cold.tasks[0].train.images is None and not (cache / "decoded").exists()
    scenarios.load(path, data_root=tmp_path)  # verifying builds the entries
    warm = scenarios.load(path, params={"verify": False}, data_root=tmp_path)
    assert warm.tasks[0].train.images is not None
    assert torch.equal(warm.tasks[0].train.decoded(3), decode(warm.tasks[0].train.paths[3], None))


@pytest.mark.skipif(not SHARED_RANKING.is_dir(), reason="the cnndetection-ranking fixture is not here")
def test_the_ranking_fixture_through_the_cache(cache):
    scenario = scenarios.load("cnndetection-mini", params={"crop": 224}, data_root=SHARED_RANKING.parent)
    train = scenario.tasks[0].train
    assert train.common_shape == (3, 256, 256)
    for index in (0, len(train) - 1):
        assert torch.equal(train.decoded(index), decode(train.paths[index], None))
        assert train[index][0].shape == (3, 224, 224)


def test_cache_command_lists_and_clears(cache, tmp_path, capsys):
    data_cache.decoded_images(write_images(tmp_path / "images", [(8, 8)] * 2), None, decode, workers=1)
    (cache / "synthetic").mkdir()
    (cache / "synthetic" / "abc.npz").write_bytes(b"0" * 100)
    assert main(["cache", "info"]) == 0
    shown = capsys.readouterr().out
    assert str(cache) in shown and "decoded: 1 entry" in shown and "synthetic: 1 entry" in shown
    assert main(["cache", "clear"]) == 0
    assert "removed 1 cache entry" in capsys.readouterr().out
    assert not any((cache / "decoded").iterdir()) and (cache / "synthetic" / "abc.npz").exists()
    assert main(["cache", "clear", "--all"]) == 0 and not (cache / "synthetic" / "abc.npz").exists()


# --- the training view on a batch -----------------------------------------------------------------

def per_image(image: torch.Tensor, crop: int, top: int, left: int, flip: bool) -> torch.Tensor:
    """torchvision's own kernels, as RandomCrop(pad_if_needed, reflect) + flip + ToDtype run them."""
    pad_h, pad_w = max(crop - image.shape[1], 0), max(crop - image.shape[2], 0)
    if pad_h or pad_w:
        image = F.pad(image, [pad_w, pad_h, pad_w, pad_h], padding_mode="reflect")
    image = F.crop(image, top, left, crop, crop)
    if flip:
        image = F.horizontal_flip(image)
    return F.to_dtype(image, torch.float32, scale=True)


@pytest.mark.parametrize("height,width,crop", [(40, 36, 24), (20, 30, 24), (24, 24, 24)])
def test_batched_crop_and_flip_are_torchvisions_to_the_bit(height, width, crop):
    view = data_cache.RandomCropFlip(crop, hflip=True)
    images = torch.randint(0, 256, (16, 3, height, width), dtype=torch.uint8)
    top, left, flip = view.draw(16, height, width, torch.Generator().manual_seed(1))
    batch = view.apply(images, top, left, flip)
    assert batch.shape == (16, 3, crop, crop) and batch.is_contiguous(memory_format=torch.channels_last)
    for i in range(16):
        assert torch.equal(batch[i], per_image(images[i], crop, int(top[i]), int(left[i]), bool(flip[i])))
    assert flip.any() and not flip.all()


def test_batch_draws_cover_every_window_and_follow_the_generator():
    view = data_cache.RandomCropFlip(4, hflip=False)
    top, left, flip = view.draw(2000, 6, 7, torch.Generator().manual_seed(0))
    assert set(top.tolist()) == {0, 1, 2} and set(left.tolist()) == {0, 1, 2, 3} and not flip.any()
    images = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8)
    same = [view.batch(images, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(*same)
    with pytest.raises(ValueError, match="uint8"):
        view.batch(images.float(), torch.Generator())
