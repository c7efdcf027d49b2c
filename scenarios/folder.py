"""The ``folder`` source: real images on disk, one folder per task (generator family).

A task's folder is ``<root>/<dataset>/<dir>``: ``dataset`` a folder under the data root (null: the data
root itself) and ``dir`` the task's name unless ``task_params`` says otherwise, so one scenario can read
tasks from several datasets (``dir: gan-trio/stargan`` with ``dataset: null``). Two layouts are read:

* ``<task folder>/<split>/…/<class folder>/*`` — split folders named by ``splits`` (CDDB keeps object
  sub-folders such as ``cyclegan/train/horse/0_real``: every class folder below a split is read);
* ``<task folder>/<class folder>/…`` — no split folders: a deterministic split by ``fractions`` that keeps
  every group on one side (``scenarios/groups.py``), drawn per task from (``data_seed``, task folder), so
  adding, dropping or reordering tasks never changes another task's split.

Class folders are named by ``classes`` (default ``0_real`` → 0, ``1_fake`` → 1; GenImage's
``{nature: 0, ai: 1}``); ``task_params`` may give a task its own ``dir``, ``classes`` and ``group`` (FF++:
``{dir: ., classes: {original: 0, Deepfakes: 1}}``). A split the layout lacks is carved from train
(``val_fraction``), groups kept whole.

Images are decoded (and resized) by ``decode`` and shown through two views (``scenario.ViewedDataset``):
random crop and flip for training, centre crop for evaluation. ``verify`` decodes every image up front,
so a truncated file stops the run before training instead of in the middle of it; it decodes them into
the decoded-image cache (``benchmark.data_cache``), which every later access, run and seed reads instead of
the files, and which a later load reuses without decoding again. ``inventory`` lists what a layout holds
without decoding anything (``dfcl scenario NAME --check``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2
from tqdm.auto import tqdm

from benchmark import data_cache
from benchmark.errors import ConfigError, DataError

from .groups import GroupRule, Item, parse_rule, split_groups
from .scenario import SPLITS, Task, ViewedDataset

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
LABEL_NAMES = {0: "real", 1: "fake"}
DEFAULTS: dict[str, Any] = {
    "dataset": None,  # folder under the data root; None: the data root itself
    "task_params": {},  # task name → {dir, classes, group} overriding the defaults for that task
    "classes": {"0_real": 0, "1_fake": 1},  # class folder name → label (1 = fake)
    "group": None,  # files that must share a split side: null, 'subfolder' or {pattern: …} (groups.py)
    "splits": {"train": "train", "val": "val", "test": "test"},  # a value of null: carve from train
    "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},  # for tasks without split folders
    "val_fraction": 0.1,  # carved from train when the layout has no val split
    "data_seed": 0,
    "resize": None,  # shorter side before cropping; None keeps the native resolution (and its traces)
    "crop": 224,  # random crop when training, centre crop when evaluating
    "hflip": True,
    "verify": True,
    "skip_unreadable": False,
}
TASK_KEYS = ("dir", "classes", "group")


def read_image(path: Path) -> Image.Image:
    """Decode an image fully as RGB, or raise a DataError naming the file."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}. Replace or remove the file, or rerun with "
                        f"--skip-unreadable to leave such files out (their count is recorded).") from None


def decode(path: Path, resize: int | None) -> torch.Tensor:
    """An image file as uint8 3×H×W, its shorter side resized (antialiased) to ``resize`` when given."""
    image = v2.functional.pil_to_tensor(read_image(path))
    return v2.functional.resize(image, [resize], antialias=True) if resize else image


def views(crop: int, hflip: bool) -> dict[str, Any]:
    """The training view (random crop, reflect-padded when the image is smaller; random flip; per image, or
    per batch on the training device: ``data_cache.RandomCropFlip``) and the evaluation view (centre crop)
    of a decoded image, as floats in [0, 1]."""
    return {"train": data_cache.RandomCropFlip(crop, hflip),
            "eval": v2.Compose([v2.CenterCrop(crop), v2.ToDtype(torch.float32, scale=True)])}


class ImageFolderDataset(ViewedDataset):
    """Image files with labels, shown through ``view``: read from the decoded-image cache when it holds them
    (``images``), else decoded from the file on every access."""

    def __init__(self, paths: list[Path], labels: list[int], resize: int | None, views: dict, view: str | None,
                 images: data_cache.DecodedImages | None = None):
        self.paths, self.targets, self.resize, self.views, self.view = paths, labels, resize, views, view
        self.images = images
        self.rows = None if images is None else [images.row[path] for path in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def decoded(self, index: int) -> torch.Tensor:
        if self.images is None:
            return decode(self.paths[index], self.resize)
        return self.images.image(self.rows[index])

    def reading(self, images: data_cache.DecodedImages | None) -> "ImageFolderDataset":
        """The same images read from another cache entry (``None``: decoded from the files on every access)."""
        return ImageFolderDataset(self.paths, self.targets, self.resize, self.views, self.view, images)

    @property
    def common_shape(self) -> tuple[int, int, int] | None:
        """The decoded shape all images share (then a batch of them can be augmented at once), or None."""
        return None if self.images is None or not self.rows else self.images.common_shape(self.rows)


@dataclass
class TaskSettings:
    """Where one task's images are and how its files group."""

    name: str
    folder: Path
    scope: str  # the folder relative to the dataset root: keys the task's split
    classes: dict[str, int]
    rule: GroupRule | None


@dataclass
class Layout:
    """One task's files as found on disk, before any split is drawn or image decoded."""

    task: TaskSettings
    found: dict[str | None, dict[int, list[Item]]] = field(default_factory=dict)  # split (None: none on disk)
    missing: list[str] = field(default_factory=list)  # what is not there, each naming the path
    unmatched: list[Path] = field(default_factory=list)  # files the group rule does not match


def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _class_dirs(top: Path, classes: dict[str, int]) -> list[tuple[Path, int]]:
    """Every class folder below ``top`` (not inside another class folder), with its label."""
    found = []
    for current, dirs, _ in os.walk(top):
        found += [(Path(current) / name, classes[name]) for name in dirs if name in classes]
        dirs[:] = sorted(name for name in dirs if name not in classes)
    return sorted(found)


def _read_classes(split_dir: Path, layout: Layout) -> dict[int, list[Item]]:
    task = layout.task
    found: dict[int, list[Item]] = {label: [] for label in sorted(set(task.classes.values()))}
    for class_dir, label in _class_dirs(split_dir, task.classes):
        for path in _images_below(class_dir):
            if task.rule is None:
                ids = (path.relative_to(task.folder).as_posix(),)
            else:
                ids = task.rule.ids(path.relative_to(class_dir).as_posix())
                if ids is None:
                    layout.unmatched.append(path)
                    continue
            found[label].append((path, ids))
    for label, items in found.items():
        if not items:
            folders = [name for name, value in task.classes.items() if value == label]
            either = "' or '".join(folders)
            layout.missing.append(f"no images in a '{either}' folder below {split_dir}; expected "
                                  f"{split_dir}/[<subfolder>/]{folders[0]}/<image files> "
                                  f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return found


def read_layout(task: TaskSettings, split_names: dict[str, str | None]) -> Layout:
    """What a task's folder holds: files per on-disk split and class, and what is missing."""
    layout, folder = Layout(task), task.folder
    classes = " / ".join(task.classes)
    if not folder.is_dir():
        layout.missing.append(f"task folder {folder} not found; expected {folder}/<split>/{{{classes}}}/ or "
                              f"{folder}/{{{classes}}}/. Check --data-root / DFCL_DATA and the dataset name.")
        return layout
    on_disk = {split: folder / name for split, name in split_names.items() if name and (folder / name).is_dir()}
    if "train" not in on_disk:
        if any((folder / name).is_dir() for name in task.classes):
            layout.found[None] = _read_classes(folder, layout)
        else:
            layout.missing.append(f"{folder} has neither a '{split_names.get('train')}' split folder nor "
                                  f"class folders {{{classes}}}")
        return layout
    if not split_names.get("test"):
        raise ConfigError(f"the scenario maps no folder to the test split for {folder}; set splits.test")
    layout.missing += [f"split folder {split} missing ({folder / split_names[split]})" for split in SPLITS
                       if split_names.get(split) and split not in on_disk]
    for split, path in on_disk.items():
        layout.found[split] = _read_classes(path, layout)
    return layout


def draw_splits(layout: Layout, params: dict[str, Any]) -> dict[str, dict[int, list[Path]]]:
    """A complete layout's train / val / test files by label, split folders kept and the rest drawn."""
    key, where = f"{params['data_seed']}/{layout.task.scope}", f"task {layout.task.name} ({layout.task.folder})"
    if None in layout.found:
        return split_groups(layout.found[None], params["fractions"], key, where)
    splits = {split: {label: sorted(p for p, _ in items) for label, items in by_label.items()}
              for split, by_label in layout.found.items()}
    if "val" not in splits:
        fraction = params["val_fraction"]
        splits.update(split_groups(layout.found["train"], {"train": 1 - fraction, "val": fraction}, key, where))
    return splits


def _unmatched_error(layout: Layout) -> str:
    rule = layout.task.rule
    return (f"task {layout.task.name}: {len(layout.unmatched)} file(s) match no group "
            f"{'pattern' if rule.patterns else 'rule'} {rule}, e.g. {layout.unmatched[0]}. A rule is matched "
            f"against the path below the class folder ('subfolder' needs a folder there); fix the rule "
            f"(params.group or task_params.{layout.task.name}.group) or the file names.")


def _decode_all(paths: list[Path], resize: int | None, family: str
                ) -> tuple[data_cache.DecodedImages | None, dict[str, str]]:
    """Every image decoded once: into the decoded-image cache (or read from it), or, with the cache turned
    off, only checked. The entry, and why each unreadable file is unreadable."""
    if data_cache.enabled():
        images = data_cache.decoded_images(paths, resize, decode, desc=f"{family} images")
        return images, {path: _reason(message) for path, message in images.unreadable.items()}
    bad = {}
    for path in tqdm(paths, desc=f"checking {family} images", disable=None, leave=False):
        try:
            read_image(path)
        except DataError as error:
            bad[str(path)] = _reason(str(error))
    return None, bad


def _reason(message: str) -> str:
    """A ``read_image`` error without its advice, which the summary of all unreadable files gives once."""
    return message.split(". Replace")[0]


def _verify(splits: dict[str, dict[int, list[Path]]], skip: bool, unreadable: dict[str, str]) -> int:
    """Drop the unreadable images when ``skip`` (returning how many), else raise naming them."""
    bad = [(split, label, path, unreadable[str(path)]) for split, by_label in splits.items()
           for label, paths in by_label.items() for path in paths if str(path) in unreadable]
    if bad and not skip:
        listing = "\n  ".join(reason for *_, reason in bad[:10])
        more = f"\n  … and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DataError(f"{len(bad)} unreadable image(s):\n  {listing}{more}\nReplace or remove them, or rerun "
                        f"with --skip-unreadable to leave them out (their count is recorded in the result).")
    for split, label, path, _ in bad:
        splits[split][label].remove(path)
    return len(bad)


def data_root(explicit: str | os.PathLike | None) -> Path:
    root = explicit or os.environ.get("DFCL_DATA")
    if not root:
        raise ConfigError("this scenario reads images from disk: pass --data-root DIR or set DFCL_DATA to the "
                          "folder that holds the dataset folder")
    return Path(root).expanduser()


def _classes(value: Any, where: str) -> dict[str, int]:
    if (not isinstance(value, dict) or not all(isinstance(k, str) and v in (0, 1) for k, v in value.items())
            or set(value.values()) != {0, 1}):
        raise ConfigError(f"{where} must map class folder names to labels 0 (real) and 1 (fake), both used, "
                          f"e.g. {{nature: 0, ai: 1}}; got {value!r}")
    return dict(value)


def _resolved(task_names: list[str], params: dict[str, Any], where: str) -> dict[str, Any]:
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
    overrides = params["task_params"]
    if not isinstance(overrides, dict) or not set(overrides) <= set(task_names) or not all(
            isinstance(v, dict) and set(v) <= set(TASK_KEYS) for v in overrides.values()):
        raise ConfigError(f"{where}: params.task_params must map task names ({', '.join(task_names)}) to "
                          f"mappings of {list(TASK_KEYS)}, got {overrides!r}")
    return params


def task_settings(task_names: list[str], params: dict[str, Any], where: str, root: str | os.PathLike | None
                  ) -> tuple[Path, list[TaskSettings]]:
    """The dataset root and every task's folder, classes and group rule (validated)."""
    base = data_root(root) / (params["dataset"] or "")
    settings = []
    for name in task_names:
        own = {**{key: params[key] for key in ("classes", "group")}, **params["task_params"].get(name, {})}
        scope = str(own.get("dir", name))
        settings.append(TaskSettings(
            name=name, folder=(base / scope), scope=Path(scope).as_posix(),
            classes=_classes(own["classes"], f"{where}: classes of task {name}"),
            rule=parse_rule(own["group"], f"{where}: group of task {name}")))
    if not base.is_dir():
        raise DataError(f"dataset folder {base} not found (from --data-root / DFCL_DATA + dataset "
                        f"'{params['dataset']}'); expected {base}/<task folder>/…")
    return base, settings


def load_tasks(task_names: list[str], params: dict[str, Any], where: str, root: str | os.PathLike | None = None
               ) -> tuple[list[Task], str, dict[str, Any]]:
    """Tasks read from their folders, the file-list fingerprint, and resolved parameters."""
    params = _resolved(task_names, params, where)
    base, settings = task_settings(task_names, params, where, root)
    shown = views(params["crop"], params["hflip"])
    digest = hashlib.sha256()
    tasks, skipped = [], 0
    for task in settings:
        layout = read_layout(task, params["splits"])
        if layout.missing:
            raise DataError("\n".join(layout.missing))
        if layout.unmatched:
            raise ConfigError(f"{where}: {_unmatched_error(layout)}")
        splits = draw_splits(layout, params)
        files = sorted(path for by_label in splits.values() for paths in by_label.values() for path in paths)
        if params["verify"] or params["skip_unreadable"]:
            images, unreadable = _decode_all(files, params["resize"], task.name)
            skipped += _verify(splits, params["skip_unreadable"], unreadable)
        else:  # decode nothing now; a cache entry already built is still read
            images = data_cache.decoded_images(files, params["resize"], decode, build=False) \
                if data_cache.enabled() else None
        datasets = {}
        for split in SPLITS:
            pairs = sorted((path, label) for label, paths in splits[split].items() for path in paths)
            for path, label in pairs:
                digest.update(f"{split}\t{label}\t{path.relative_to(base)}\t{path.stat().st_size}\n".encode())
            datasets[split] = ImageFolderDataset([p for p, _ in pairs], [lab for _, lab in pairs], params["resize"],
                                                 shown, "train" if split == "train" else "eval", images)
        tasks.append(Task(task.name, **datasets))
    resolved = {**params, "skipped_unreadable": skipped}
    return tasks, "sha256:" + digest.hexdigest(), resolved


@dataclass
class TaskInventory:
    """What ``--check`` reports for one task: its folder, files per split and class, what is missing."""

    name: str
    folder: Path
    how: str  # how its splits come about, in words
    counts: dict[str, dict[int, int]]  # split → label → files
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def _how(layout: Layout, params: dict[str, Any]) -> str:
    rule = f"groups by {layout.task.rule}" if layout.task.rule else "each file its own group"
    if None in layout.found:
        shares = "/".join(f"{params['fractions'][s]:g}" for s in SPLITS)
        return f"no split folders: drawn train/val/test {shares}, {rule}"
    carved = (f"; val carved from train ({params['val_fraction']:g}, {rule})"
              if not params["splits"].get("val") else "")
    folders = ", ".join(f"{split} = {name}/" for split, name in params["splits"].items() if name)
    return f"split folders {folders}{carved}"


def inventory(task_names: list[str], params: dict[str, Any], where: str, root: str | os.PathLike | None = None
              ) -> tuple[Path, list[TaskInventory]]:
    """Per task, split and class, how many files are there and what is missing, from the file listing
    alone: nothing is decoded, and a task with missing data is not split."""
    params = _resolved(task_names, params, where)
    base, settings = task_settings(task_names, params, where, root)
    report = []
    for task in settings:
        layout = read_layout(task, params["splits"])
        missing = layout.missing + ([_unmatched_error(layout)] if layout.unmatched else [])
        counts = None
        if not missing:
            try:
                drawn = draw_splits(layout, params)
                counts = {split: {label: len(paths) for label, paths in drawn[split].items()} for split in SPLITS}
            except DataError as error:
                missing.append(str(error))
        if counts is None:
            counts = {split or "all": {label: len(items) for label, items in by_label.items()}
                      for split, by_label in layout.found.items()}
        report.append(TaskInventory(task.name, task.folder, _how(layout, params), counts, missing))
    return base, report
