"""Decode once: a folder scenario's images decoded (and resized) a single time into uint8 shards on disk,
memory-mapped by every later run, seed and strategy, and the training view (random crop + flip) applied
to whole uint8 batches where they are, on the GPU when training there (as FFCV and DALI do).

Decoding a 256-px PNG with PIL costs about 2 ms, so a loader that decodes on every access serves ~440
images/s per core: a GPU training a ResNet-50 at ~3 000 images/s would mostly wait. A cache entry holds
every image of one task (all its splits) and is keyed by the file list (path, size, modification time) and
the decode settings (``resize``), so another split seed, task order or strategy reuses it and a changed
file builds a new one. Shards are read through ``numpy.memmap``: only the pages of the images asked for
are read, and the operating system may evict them again, so a dataset larger than memory still trains.

The cache lives in ``$DFCL_CACHE/decoded`` (default ``~/.cache/dfcl-bench``); ``dfcl cache info|clear``.
``DFCL_DECODE_CACHE=0`` turns it off (every access decodes the file again, as before).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torchvision.transforms import v2
from tqdm.auto import tqdm

from .errors import DataError

FORMAT = 1
SHARD_IMAGES = 128  # images per shard: the unit of parallel decoding and of the progress bar
KINDS = ("decoded", "synthetic")  # what dfcl keeps under the cache root

Decoder = Callable[[Path, "int | None"], torch.Tensor]


def cache_root() -> Path:
    return Path(os.environ.get("DFCL_CACHE", Path.home() / ".cache" / "dfcl-bench")).expanduser()


def enabled() -> bool:
    return os.environ.get("DFCL_DECODE_CACHE", "1").lower() not in ("0", "false", "no", "off")


def entry_key(paths: list[Path], resize: int | None) -> str:
    """What an entry depends on: every file's absolute path, size and modification time, and the decode
    settings, in order."""
    digest = hashlib.sha256(f"dfcl decoded images, format {FORMAT}, resize {resize}\n".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.absolute()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


class DecodedImages:
    """One cache entry: the decoded uint8 C×H×W image of every file it was built from, by file.

    Its shards are memory-mapped on first use in each process (not pickled into loader workers)."""

    def __init__(self, folder: Path, paths: list[Path], index: np.ndarray, unreadable: dict[str, str]):
        self.folder, self.paths, self.index, self.unreadable = folder, paths, index, unreadable
        self.row = {path: row for row, path in enumerate(paths)}
        self._maps: dict[int, np.memmap] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}}

    def shape(self, row: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.index[row, 2:])

    def common_shape(self, rows: list[int]) -> tuple[int, int, int] | None:
        """The shape every image of ``rows`` shares, or None when they differ (then only per-image views)."""
        shapes = np.unique(self.index[rows, 2:], axis=0)
        return tuple(int(v) for v in shapes[0]) if len(shapes) == 1 else None

    def image(self, row: int) -> torch.Tensor:
        shard, offset, channels, height, width = (int(v) for v in self.index[row])
        if channels == 0:
            raise DataError(f"{self.paths[row]} could not be decoded when the cache was built: "
                            f"{self.unreadable.get(str(self.paths[row]), 'unreadable')}")
        if shard not in self._maps:
            self._maps[shard] = np.memmap(self.folder / f"shard-{shard:05d}.u8", dtype=np.uint8, mode="r")
        pixels = self._maps[shard][offset:offset + channels * height * width]
        return torch.from_numpy(pixels.reshape(channels, height, width).copy())


def _write_shard(path: Path, files: list[Path], resize: int | None, decode: Decoder) -> list[tuple[int, ...] | str]:
    """Decode ``files`` into one shard file; per file its (offset, C, H, W), or why it is unreadable."""
    torch.set_num_threads(1)  # one process per core already
    placed, offset = [], 0
    with open(path, "wb") as shard:
        for file in files:
            try:
                pixels = decode(file, resize).contiguous().numpy()
            except DataError as error:
                placed.append(str(error))
                continue
            shard.write(pixels.tobytes())
            placed.append((offset, *pixels.shape))
            offset += pixels.size
    return placed


def _build(folder: Path, paths: list[Path], resize: int | None, decode: Decoder, desc: str, workers: int) -> None:
    """Decode every file in parallel processes into a temporary folder, then move it into place."""
    partial = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    chunks = [paths[start:start + SHARD_IMAGES] for start in range(0, len(paths), SHARD_IMAGES)]
    placed: dict[int, list] = {}
    bar = tqdm(total=len(paths), desc=f"decoding {desc} once", unit="image", disable=None, leave=False)
    try:
        if workers > 1 and len(chunks) > 1:
            with ProcessPoolExecutor(min(workers, len(chunks))) as pool:
                futures = {pool.submit(_write_shard, partial / f"shard-{k:05d}.u8", chunk, resize, decode): k
                           for k, chunk in enumerate(chunks)}
                for future in as_completed(futures):
                    placed[futures[future]] = future.result()
                    bar.update(len(chunks[futures[future]]))
        else:
            for k, chunk in enumerate(chunks):
                placed[k] = _write_shard(partial / f"shard-{k:05d}.u8", chunk, resize, decode)
                bar.update(len(chunk))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        bar.close()
    index = np.zeros((len(paths), 5), dtype=np.int64)
    unreadable, row = {}, 0
    for k in range(len(chunks)):
        for file, where in zip(chunks[k], placed[k]):
            if isinstance(where, str):
                unreadable[str(file)] = where
                index[row] = (k, 0, 0, 0, 0)
            else:
                index[row] = (k, *where)
            row += 1
    np.save(partial / "index.npy", index)
    meta = {"format": FORMAT, "resize": resize, "images": len(paths), "unreadable": unreadable,
            "bytes": int(sum(f.stat().st_size for f in partial.glob("shard-*.u8"))),
            "source": os.path.commonpath([str(p.absolute()) for p in paths]) if paths else "",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "paths": [str(p) for p in paths]}
    (partial / "meta.json").write_text(json.dumps(meta))
    try:
        os.rename(partial, folder)
    except OSError:  # another process built the same entry meanwhile: keep theirs
        shutil.rmtree(partial, ignore_errors=True)


def _open(folder: Path, paths: list[Path]) -> DecodedImages | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        index = np.load(folder / "index.npy")
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("paths") != [str(p) for p in paths] or len(index) != len(paths):
        return None
    os.utime(folder / "meta.json")  # last use, for `dfcl cache info`
    return DecodedImages(folder, paths, index, meta["unreadable"])


def available_cores() -> int:
    """The CPU cores this process may run on: one decoding process each."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def decoded_images(paths: list[Path], resize: int | None, decode: Decoder, *, desc: str = "images",
                   build: bool = True, workers: int | None = None) -> DecodedImages | None:
    """The entry for ``paths`` decoded with ``decode(path, resize)``: opened when it exists, else built
    (``build``; in ``workers`` processes, default one per core) or None."""
    folder = cache_root() / "decoded" / entry_key(paths, resize)
    found = _open(folder, paths)
    if found is None and build:
        shutil.rmtree(folder, ignore_errors=True)  # an entry of another format, or half-removed
        _build(folder, paths, resize, decode, desc, workers or available_cores())
        found = _open(folder, paths)
        if found is None:
            raise DataError(f"the decoded-image cache entry {folder} could not be read back after building it; "
                            f"check that {cache_root()} is writable (DFCL_CACHE), or set DFCL_DECODE_CACHE=0")
    return found


# --- dfcl cache info | clear -----------------------------------------------------------------------

@dataclass
class Entry:
    kind: str
    path: Path
    bytes: int
    images: int | None = None
    resize: int | None = None
    source: str = ""
    last_used: float = 0.0


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def entries() -> list[Entry]:
    """Everything dfcl keeps under the cache root: decoded-image entries and synthetic scenario arrays."""
    found = []
    for folder in sorted((cache_root() / "decoded").glob("[!.]*")):
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            meta = {}
        found.append(Entry("decoded", folder, _size(folder), meta.get("images"), meta.get("resize"),
                           meta.get("source", "?"), (folder / "meta.json").stat().st_mtime if meta else 0.0))
    for file in sorted((cache_root() / "synthetic").glob("*.npz")):
        found.append(Entry("synthetic", file, file.stat().st_size, last_used=file.stat().st_mtime))
    return found


def clear(kinds: tuple[str, ...] = ("decoded",)) -> tuple[int, int]:
    """Remove every entry of ``kinds``; (entries removed, bytes freed). Only dfcl's own folders are touched."""
    removed = freed = 0
    for kind in kinds:
        folder = cache_root() / kind
        if folder.is_dir():
            for child in list(folder.iterdir()):
                freed += _size(child)
                removed += 1
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    return removed, freed


# --- the training view, per image or per batch --------------------------------------------------------

def reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside [0, size) mirrored back in, without repeating the edge (torch's ``reflect`` padding)."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


class RandomCropFlip:
    """The training view of a decoded uint8 image: a random ``crop``×``crop`` window (reflect-padded by the
    shortfall on both sides when the image is smaller, as torchvision's ``pad_if_needed``), flipped left-right
    with probability ½ when ``hflip``, as floats in [0, 1].

    Called on one image it is torchvision's v2 pipeline, drawing from the global generator (what a loader
    worker draws from its own seed); ``batch`` applies the same view to a whole uint8 batch at once, on the
    batch's device, drawing every window and flip from ``generator``."""

    def __init__(self, crop: int, hflip: bool):
        self.crop, self.hflip = crop, hflip
        steps = [v2.RandomCrop(crop, pad_if_needed=True, padding_mode="reflect")]
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        self.per_image = v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.per_image(image)

    def draw(self, count: int, height: int, width: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-left corners in the padded image and flips for ``count`` images of one size."""
        padded_h, padded_w = height + 2 * max(self.crop - height, 0), width + 2 * max(self.crop - width, 0)
        top = torch.randint(0, padded_h - self.crop + 1, (count,), generator=generator)
        left = torch.randint(0, padded_w - self.crop + 1, (count,), generator=generator)
        flip = (torch.rand(count, generator=generator) < 0.5) if self.hflip else torch.zeros(count, dtype=torch.bool)
        return top, left, flip

    def apply(self, images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        """The windows at ``top``/``left`` (padded coordinates), flipped where ``flip``: one gather for the
        whole batch, B×C×crop×crop floats in channels-last memory (what convolutions on the GPU prefer)."""
        count, _, height, width = images.shape
        device, steps = images.device, torch.arange(self.crop)
        rows = reflect(top[:, None] + steps - max(self.crop - height, 0), height)
        cols = left[:, None] + torch.where(flip[:, None], self.crop - 1 - steps, steps)
        cols = reflect(cols - max(self.crop - width, 0), width)
        batch = torch.arange(count, device=device)[:, None, None]
        windows = images[batch, :, rows.to(device)[:, :, None], cols.to(device)[:, None, :]]  # B×crop×crop×C
        return windows.permute(0, 3, 1, 2).float().mul_(1.0 / 255)  # as v2.ToDtype(scale=True), to the bit

    def batch(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"RandomCropFlip.batch needs uint8 images B×C×H×W, got {images.dtype} {tuple(images.shape)}")
        return self.apply(images, *self.draw(len(images), images.shape[2], images.shape[3], generator))
