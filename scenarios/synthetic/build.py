"""Build, fingerprint and cache the offline synthetic scenario's task datasets.

Every sample starts as a crop of a real photo (``photos.py``) at a random scale, flip and resampling
filter; fakes then pass their family's process (``families.py``), which keeps the source's brightness,
contrast and greyness as a camera pipeline would; reals and fakes finally share one random post-processing
(mild resize, mild JPEG), so only the fingerprint separates the classes, not a global colour statistic. Each
(family, split) draws from its own random stream keyed by the data seed and the family's name, so a
family's samples do not depend on where it stands in a task order.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .families import FAMILIES, GENERATOR_VERSION, MARGIN, VERSIONS, centre, jpeg, make_fake, to_uint8
from .photos import SPLIT_BOUNDS, load_photos, split_region

SPLITS = tuple(SPLIT_BOUNDS)
RESAMPLING_FILTERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS,
                      Image.Resampling.BOX)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate; every field is part of the cache key and of the run's resolved config."""

    families: tuple[str, ...]
    image_size: int = 32
    n_train: int = 2000  # per class and task
    n_val: int = 250
    n_test: int = 500
    data_seed: int = 0
    crop_scale: tuple[float, float] = (1.25, 3.0)
    min_crop_std: float = 0.04
    resize_prob: float = 0.05
    resize_scale: tuple[float, float] = (0.85, 1.15)
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (85, 98)
    # a new version (families.VERSIONS) when sampling or a family changes, so stale caches and recorded
    # fingerprints are not reused; older versions stay buildable to reproduce results made with them
    generator_version: str = GENERATOR_VERSION

    def __post_init__(self) -> None:
        if self.generator_version not in VERSIONS:
            raise ValueError(f"synthetic generator_version must be one of {list(VERSIONS)}, "
                             f"got {self.generator_version!r}")
        unknown = [name for name in self.families if name not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown synthetic generator family {unknown}; known: {sorted(FAMILIES)}")
        if self.image_size % 4 or self.image_size < 8:
            raise ValueError(f"synthetic image_size must be a multiple of 4 and at least 8, got {self.image_size}")
        for name in ("n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"synthetic {name} must be at least 1, got {getattr(self, name)}")

    def per_class(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


class CropSampler:
    """Draws square canvases (sample size plus margin) from one split's photo regions."""

    def __init__(self, spec: SyntheticSpec, split: str, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        self.canvas = spec.image_size + 2 * MARGIN
        # a strip narrower than a canvas (the val strip of a small photo) would need upsampling: left out
        regions = [split_region(image, split) for _, image in load_photos()]
        self.regions = [region for region in regions if min(region.shape[:2]) >= self.canvas]

    def _crop(self, region: np.ndarray, size: int) -> np.ndarray:
        top = self.rng.integers(0, region.shape[0] - size + 1)
        left = self.rng.integers(0, region.shape[1] - size + 1)
        crop = region[top:top + size, left:left + size]
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        resample = RESAMPLING_FILTERS[self.rng.integers(len(RESAMPLING_FILTERS))]
        resized = Image.fromarray(np.ascontiguousarray(crop)).resize((self.canvas, self.canvas), resample)
        return np.asarray(resized, dtype=np.float32) / 255

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """A canvas and a donor canvas from the same photo region at the same scale."""
        low, high = np.log(self.spec.crop_scale)
        while True:
            region = self.regions[self.rng.integers(len(self.regions))]
            size = min(round(self.canvas * np.exp(self.rng.uniform(low, high))), *region.shape[:2])
            canvas = self._crop(region, size)
            if centre(canvas).std() >= self.spec.min_crop_std:
                return canvas, self._crop(region, size)


def post_process(image: np.ndarray, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """The post-processing every sample shares, real or fake: an optional mild rescale (to a random size and
    back, as a re-published image is), then an optional mild JPEG."""
    if rng.random() < spec.resize_prob:
        size = spec.image_size
        scaled = max(8, round(size * rng.uniform(*spec.resize_scale)))
        image = np.asarray(Image.fromarray(image).resize((scaled, scaled), Image.Resampling.BILINEAR)
                           .resize((size, size), Image.Resampling.BILINEAR))
    if rng.random() < spec.jpeg_prob:
        image = jpeg(image, rng.integers(spec.jpeg_quality[0], spec.jpeg_quality[1] + 1))
    return image


def generate(spec: SyntheticSpec, family: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One (family, split): uint8 images N×3×H×W and labels (0 = real, 1 = fake), real/fake interleaved."""
    rng = np.random.default_rng([spec.data_seed, zlib.crc32(family.encode()), SPLITS.index(split)])
    sampler = CropSampler(spec, split, rng)
    n = spec.per_class(split)
    images = np.empty((2 * n, spec.image_size, spec.image_size, 3), dtype=np.uint8)
    labels = np.tile(np.array([0, 1], dtype=np.int64), n)
    for index, label in enumerate(labels):
        canvas, donor = sampler.draw()
        sample = make_fake(family, canvas, donor, rng, spec.generator_version) if label else centre(canvas)
        images[index] = post_process(to_uint8(sample), spec, rng)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels


def cache_dir() -> Path:
    return Path(os.environ.get("DFCL_CACHE", Path.home() / ".cache" / "dfcl-bench")) / "synthetic"


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return "sha256:" + digest.hexdigest()


def load_or_build(spec: SyntheticSpec) -> tuple[dict[str, np.ndarray], str]:
    """All arrays of the scenario keyed ``"<family>/<split>/x"`` and ``…/y``, with their fingerprint.

    Read from the on-disk cache when present; otherwise generated and written atomically.
    """
    path = cache_dir() / f"{spec.key()}.npz"
    if path.exists():
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    else:
        arrays = {}
        jobs = [(family, split) for family in spec.families for split in SPLITS]
        for family, split in tqdm(jobs, desc="building synthetic scenario", unit="split", disable=None, leave=False):
            arrays[f"{family}/{split}/x"], arrays[f"{family}/{split}/y"] = generate(spec, family, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(partial, path)
    return arrays, fingerprint(arrays)
