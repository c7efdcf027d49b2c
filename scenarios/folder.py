"""The ``folder`` source: a real dataset on disk, one folder per generator family.

Two layouts are read, per family:

* ``<root>/<dataset>/<family>/<split>/…/{0_real,1_fake}/*`` — split folders named by the scenario's
  ``splits`` map (CDDB keeps object sub-folders such as ``cyclegan/train/horse/0_real``: every
  ``0_real`` / ``1_fake`` folder below a split is read);
* ``<root>/<dataset>/<family>/{0_real,1_fake}/*`` — no splits on disk: a deterministic, stratified
  train / val / test split by ``data_seed`` and ``fractions``.

A split the layout lacks is carved from train (stratified, ``val_fraction``). Images are decoded
lazily; ``verify`` decodes every one up front, so a truncated file stops the run before training
instead of in the middle of it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, DataError

from .scenario import SPLITS, Task

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
CLASS_FOLDERS = {"0_real": 0, "1_fake": 1}
DEFAULTS: dict[str, Any] = {
    "dataset": None,  # folder under the data root
    "splits": {"train": "train", "val": "val", "test": "test"},  # a value of null: carve from train
    "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},  # for families without split folders
    "val_fraction": 0.1,  # carved from train when the layout has no val split
    "data_seed": 0,
    "resize": None,  # shorter side before cropping; None keeps the native resolution (and its traces)
    "crop": 224,  # random crop when training, centre crop when evaluating
    "hflip": True,
    "verify": True,
    "skip_unreadable": False,
}


class ImageFolderDataset(Dataset):
    """Image files with labels, decoded on access."""

    def __init__(self, paths: list[Path], labels: list[int], transform):
        self.paths, self.targets, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(read_image(self.paths[index])), self.targets[index]


def read_image(path: Path) -> Image.Image:
    """Decode an image fully as RGB, or raise a DataError naming the file."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}. Replace or remove the file, or rerun with "
                        f"--skip-unreadable to leave such files out (their count is recorded).") from None


def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _class_files(split_dir: Path) -> dict[int, list[Path]]:
    """Every image below ``split_dir`` inside a ``0_real`` or ``1_fake`` folder, by label."""
    found: dict[int, list[Path]] = {0: [], 1: []}
    for class_dir in sorted(split_dir.rglob("*")):
        if class_dir.is_dir() and class_dir.name in CLASS_FOLDERS:
            found[CLASS_FOLDERS[class_dir.name]] += _images_below(class_dir)
    for label, name in ((0, "0_real"), (1, "1_fake")):
        if not found[label]:
            raise DataError(f"no images in a '{name}' folder below {split_dir}; expected "
                            f"{split_dir}/[<subfolder>/]{name}/<image files> ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return found


def _stratified(files: dict[int, list[Path]], fractions: dict[str, float], rng: np.random.Generator
                ) -> dict[str, dict[int, list[Path]]]:
    """Split each class by ``fractions``, in train / val / test order whatever the mapping's order,
    keeping at least one file per split and class."""
    names = [name for name in SPLITS if name in fractions]
    weights = np.array([fractions[name] for name in names], dtype=float)
    parts: dict[str, dict[int, list[Path]]] = {name: {} for name in names}
    for label, paths in files.items():
        n, k = len(paths), len(names)
        if n < k:
            raise DataError(f"{n} file(s) of class {label} under {paths[0].parent if paths else '?'} "
                            f"cannot fill the {k} splits {names}")
        cuts = np.round(np.cumsum(weights)[:-1] / weights.sum() * n).astype(int)
        for i in range(k - 1):  # at least one file before each cut, and enough after it for the rest
            cuts[i] = min(max(cuts[i], (cuts[i - 1] if i else 0) + 1), n - (k - 1 - i))
        order = rng.permutation(n)
        for name, chunk in zip(names, np.split(order, cuts)):
            parts[name][label] = sorted(paths[i] for i in chunk)
    return parts


def _family_splits(family_dir: Path, params: dict[str, Any], rng: np.random.Generator
                   ) -> dict[str, dict[int, list[Path]]]:
    if not family_dir.is_dir():
        raise DataError(f"task folder {family_dir} not found; expected {family_dir}/<split>/{{0_real,1_fake}}/ "
                        f"or {family_dir}/{{0_real,1_fake}}/. Check --data-root / DFCL_DATA and the dataset name.")
    split_names = params["splits"]
    on_disk = {split: family_dir / name for split, name in split_names.items() if name and (family_dir / name).is_dir()}
    if "train" not in on_disk:
        if any((family_dir / name).is_dir() for name in CLASS_FOLDERS):
            return _stratified(_class_files(family_dir), params["fractions"], rng)
        raise DataError(f"{family_dir} has neither a '{split_names.get('train')}' split folder nor "
                        f"0_real/1_fake folders")
    missing = [f"{split} ({family_dir / split_names[split]})" for split in SPLITS
               if split_names.get(split) and split not in on_disk]
    if missing:
        raise DataError(f"split folder(s) missing: {', '.join(missing)}")
    splits = {split: _class_files(path) for split, path in on_disk.items()}
    if "val" not in splits:
        fraction = params["val_fraction"]
        carved = _stratified(splits["train"], {"train": 1 - fraction, "val": fraction}, rng)
        splits.update(carved)
    if "test" not in splits:
        raise ConfigError(f"the scenario maps no folder to the test split for {family_dir}; set splits.test")
    return splits


def _verify(splits: dict[str, dict[int, list[Path]]], skip: bool, family: str) -> int:
    """Decode every image; drop unreadable ones when ``skip`` (returning how many), else raise."""
    everything = [(split, label, path) for split, by_label in splits.items()
                  for label, paths in by_label.items() for path in paths]
    bad = []
    for split, label, path in tqdm(everything, desc=f"checking {family} images", disable=None, leave=False):
        try:
            read_image(path)
        except DataError as error:
            bad.append((split, label, path, str(error).split(". Replace")[0]))
    if bad and not skip:
        listing = "\n  ".join(reason for *_, reason in bad[:10])
        more = f"\n  … and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DataError(f"{len(bad)} unreadable image(s):\n  {listing}{more}\nReplace or remove them, or rerun "
                        f"with --skip-unreadable to leave them out (their count is recorded in the result).")
    for split, label, path, _ in bad:
        splits[split][label].remove(path)
    return len(bad)


def _transform(params: dict[str, Any], train: bool):
    steps = [v2.PILToTensor()]
    if params["resize"]:
        steps.append(v2.Resize(params["resize"], antialias=True))
    if train:
        steps.append(v2.RandomCrop(params["crop"], pad_if_needed=True, padding_mode="reflect"))
        if params["hflip"]:
            steps.append(v2.RandomHorizontalFlip())
    else:
        steps.append(v2.CenterCrop(params["crop"]))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


def data_root(explicit: str | os.PathLike | None) -> Path:
    root = explicit or os.environ.get("DFCL_DATA")
    if not root:
        raise ConfigError("this scenario reads images from disk: pass --data-root DIR or set DFCL_DATA to the "
                          "folder that holds the dataset folder")
    return Path(root).expanduser()


def load_tasks(task_names: list[str], params: dict[str, Any], where: str, root: str | os.PathLike | None = None
               ) -> tuple[list[Task], str, dict[str, Any]]:
    """Tasks read from ``<root>/<dataset>/<family>``, the file-list fingerprint, and resolved parameters."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{where}: unknown folder parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    params = {**DEFAULTS, **params}
    fractions = params["fractions"]
    if (not isinstance(fractions, dict) or set(fractions) != set(SPLITS)
            or not all(isinstance(v, (int, float)) and v > 0 for v in fractions.values())):
        raise ConfigError(f"{where}: params.fractions must give a positive share for each of {list(SPLITS)}, "
                          f"got {fractions!r}")
    if not 0 < params["val_fraction"] < 1:
        raise ConfigError(f"{where}: params.val_fraction must lie in (0, 1), got {params['val_fraction']!r}")
    if not params["dataset"]:
        raise ConfigError(f"{where}: params.dataset must name the dataset folder under the data root")
    base = data_root(root) / params["dataset"]
    if not base.is_dir():
        raise DataError(f"dataset folder {base} not found (from --data-root / DFCL_DATA + dataset "
                        f"'{params['dataset']}'); expected {base}/<family>/…")
    rng = np.random.default_rng(params["data_seed"])
    digest = hashlib.sha256()
    tasks, skipped = [], 0
    for family in task_names:
        splits = _family_splits(base / family, params, rng)
        if params["verify"] or params["skip_unreadable"]:
            skipped += _verify(splits, params["skip_unreadable"], family)
        datasets = {}
        for split in SPLITS:
            pairs = sorted((path, label) for label, paths in splits[split].items() for path in paths)
            for path, label in pairs:
                digest.update(f"{split}\t{label}\t{path.relative_to(base)}\t{path.stat().st_size}\n".encode())
            datasets[split] = ImageFolderDataset([p for p, _ in pairs], [lab for _, lab in pairs],
                                                 _transform(params, train=split == "train"))
        tasks.append(Task(family, **datasets))
    resolved = {**params, "skipped_unreadable": skipped}
    return tasks, "sha256:" + digest.hexdigest(), resolved
