"""A shortcut audit: how well cues that no generator fingerprint should carry tell fakes from reals,
per task and split.

Benchmarks were caught by their users with such cues: DIRE's reals were JPEG and its fakes PNG
(Ricker et al., "AEROBLADE", CVPR 2024, and Cozzolino et al., "Raising the bar of AI-generated image
detection with CLIP", CVPRW 2024, note it); GenImage's classes differ in JPEG quality and size
(Grommelt et al., "Fake or JPEG? Revealing common biases in generated image detection datasets", 2024).
A detector trained on such data learns the container, not the generator. The audit scores each cue on
its own, as a one-feature classifier, so a flagged cue is a shortcut any detector could take.

Definitions (every AUC is ROC AUC by ``benchmark.metrics.roc_auc``, fake = positive, ties count one
half, so a constant cue scores 0.5; 0.5 = no information, far from 0.5 either way = separable):

File-level cues, from the file and its header only (PIL's lazy ``open``; no pixels decoded):

* ``format`` — the container PIL reads (PNG, JPEG, …). Categorical: for every format present, the AUC
  of the indicator "file has this format"; the format whose AUC lies farthest from 0.5 is reported
  (first in name order on ties), with the share of each class that has it.
* ``width``, ``height`` — in pixels; ``aspect`` = width / height.
* ``bytes_per_pixel`` — file size in bytes / (width · height): compression and content detail together.
* ``jpeg_quality`` — estimated from the luminance (and chrominance, when present) quantisation tables:
  the libjpeg quality 1–100 whose scaled standard tables (IJG ``jpeg_quality_scaling``: scale = 5000 / q
  below 50, 200 − 2q from 50; entry = clamp((base · scale + 50) // 100, 1, 255)) lie closest in summed
  absolute difference. Exact for libjpeg/PIL encodes, a best fit for other tables. Scored on JPEG files
  only; n/a when a class has none (the ``format`` cue covers that case).
* ``metadata`` — which metadata the header carries: the "+"-joined set of exif, icc, xmp, photoshop,
  comment, text (PNG text chunks before the image data), dpi and colour (PNG gamma / sRGB / chromaticity
  chunks), or "none". Categorical, scored as ``format``; "none" against "exif" is the usual case.

Pixel cues, on the fully decoded image (RGB, 8 bit; not the training crop), in [0, 1]:

* ``grey_image`` — 1 when every pixel has R = G = B exactly (a grey photo made RGB), else 0; its AUC is
  0.5 + (fakes' share of grey images − reals' share) / 2, and real / fake show those shares.
* ``grey_share`` — the fraction of pixels with R = G = B exactly.
* ``brightness`` — the mean over pixels and channels.
* ``saturation`` — the mean over pixels of max − min across R, G, B.
* ``std`` — the standard deviation over pixels and channels (contrast).

Folder scenarios have both kinds; synthetic (in-memory) scenarios have only pixel cues.

Interval: a percentile bootstrap (95 %), resampling reals and fakes separately with replacement
(``uncertainty.stratified_resample``), ``resamples`` times, from a generator seeded by (seed, task,
split, cue) so each cell is reproducible on its own. A categorical cue keeps the category chosen on the
full sample. Flag: the AUC lies outside [0.4, 0.6]. On small splits (tens of images) the interval is
wide and a flag may be chance, so a flag also says whether it is beyond chance (the interval excludes 0.5).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from . import metrics
from .errors import ConfigError, DataError
from .results import jsonable
from .uncertainty import percentile_interval, stratified_resample

BAND = (0.4, 0.6)
SPLITS = ("train", "val", "test")
ALL = "all"  # the union of a task's splits: more images, a narrower interval

FIXES = {
    "format": "re-encode both classes with one format and quality",
    "width": "resize both classes to one size before cropping",
    "height": "resize both classes to one size before cropping",
    "aspect": "crop both classes to one aspect ratio, then resize to one size",
    "bytes_per_pixel": "re-encode both classes with one format and quality; if it stays, match the sources' detail",
    "jpeg_quality": "re-encode both classes at one JPEG quality (or store both losslessly after one JPEG pass)",
    "metadata": "strip metadata from both classes (re-save without EXIF, ICC, XMP, text chunks)",
    "grey_image": "apply colour processing alike to reals and fakes, or keep grey sources grey in both classes",
    "grey_share": "apply colour processing alike to reals and fakes, or keep grey sources grey in both classes",
    "brightness": "draw reals and fakes from the same sources and scenes, or normalise exposure alike",
    "saturation": "apply colour processing alike to reals and fakes, or draw both from the same sources",
    "std": "draw reals and fakes from the same sources and scenes, or normalise contrast alike",
}
FILE_CUES = ("format", "width", "height", "aspect", "bytes_per_pixel", "jpeg_quality", "metadata")
PIXEL_CUES = ("grey_image", "grey_share", "brightness", "saturation", "std")
CATEGORICAL = ("format", "metadata")
SHARES = ("grey_image",)  # 0/1 cues whose typical value is each class's share of ones, not a median

_LUMA = np.array([  # IJG / JPEG Annex K standard tables, natural (row-major) order
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99])
_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *[99] * 32])
_METADATA_KEYS = {"exif": "exif", "icc_profile": "icc", "xmp": "xmp", "XML:com.adobe.xmp": "xmp",
                  "photoshop": "photoshop", "comment": "comment", "dpi": "dpi",
                  "gamma": "colour", "srgb": "colour", "chromaticities": "colour"}
_PNG_STRUCTURE = {"interlace", "transparency", "aspect", "bbox", "default_image", "loop", "duration",
                  "disposal", "blend"}


def _scaled_tables(base: np.ndarray) -> np.ndarray:
    """(100, 64): libjpeg's table for quality 1..100 from a standard base table."""
    quality = np.arange(1, 101)[:, None]
    scale = np.where(quality < 50, 5000 // quality, 200 - 2 * quality)
    return np.clip((base[None] * scale + 50) // 100, 1, 255)


_REFERENCE = (_scaled_tables(_LUMA), _scaled_tables(_CHROMA))


def jpeg_quality(tables: dict[int, Any]) -> float:
    """The libjpeg quality whose standard tables best match ``tables`` (PIL's ``image.quantization``:
    table id → 64 steps in natural order)."""
    if not tables:
        return math.nan
    ids = sorted(tables)[:2]
    distance = sum(np.abs(_REFERENCE[k] - np.asarray(tables[i], dtype=np.int64)[None]).sum(axis=1)
                   for k, i in enumerate(ids))
    return float(np.argmin(distance) + 1)


def metadata_kinds(info: dict[str, Any], image_format: str | None) -> str:
    """The metadata a header carries, as a "+"-joined sorted set of kinds, or "none"."""
    kinds = {_METADATA_KEYS[key] for key in info if key in _METADATA_KEYS}
    if image_format == "PNG" and set(info) - set(_METADATA_KEYS) - _PNG_STRUCTURE:
        kinds.add("text")
    return "+".join(sorted(kinds)) or "none"


def _pixel_cues(images: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel cues of uint8 images N×H×W×C (C = 1 or 3), computed on the integers (exact grey tests)."""
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    flat = images[..., :3].reshape(len(images), -1)
    r, g, b = (images[..., k].reshape(len(images), -1) for k in range(3))
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    return {"grey_image": (spread.max(axis=1) == 0).astype(np.float64), "grey_share": (spread == 0).mean(axis=1),
            "brightness": flat.mean(axis=1) / 255, "saturation": spread.mean(axis=1) / 255,
            "std": flat.std(axis=1) / 255}


def _read_file(path: Path, pixels: bool) -> dict[str, Any]:
    """File-level cues of one image file (header only) and, when ``pixels``, its pixel cues."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            values: dict[str, Any] = {
                "format": image.format or path.suffix.lstrip(".").upper(), "width": float(width),
                "height": float(height), "aspect": width / height,
                "bytes_per_pixel": path.stat().st_size / (width * height),
                "jpeg_quality": jpeg_quality(getattr(image, "quantization", None)) if image.format == "JPEG"
                else math.nan,
                "metadata": metadata_kinds(image.info, image.format)}
            if pixels:
                rgb = np.asarray(image.convert("RGB"))[None]
                values.update({name: float(v[0]) for name, v in _pixel_cues(rgb).items()})
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}. Replace or remove the file, or load the scenario "
                        f"with skip_unreadable so it is left out.") from None
    return values


@dataclass
class Split:
    """One (task, split) to audit: labels, and either files or in-memory uint8 images N×C×H×W."""

    task: str
    name: str
    labels: np.ndarray
    paths: list[Path] | None = None
    images: Any = None


def _splits(scenario, names: tuple[str, ...]) -> list[Split]:
    found = []
    for task in scenario.tasks:
        for name in names:
            dataset = getattr(task, name)
            labels = np.asarray(dataset.targets, dtype=np.int64)
            if hasattr(dataset, "paths"):
                found.append(Split(task.name, name, labels, paths=[Path(p) for p in dataset.paths]))
            elif hasattr(dataset, "images"):
                found.append(Split(task.name, name, labels, images=dataset.images))
            else:
                raise DataError(f"cannot audit task {task.name!r} split {name!r}: its dataset "
                                f"({type(dataset).__name__}) has neither .paths nor .images")
    return found


def _cue_values(split: Split, pixels: bool, progress) -> dict[str, np.ndarray]:
    """Every cue's value per image of one split."""
    if split.paths is None:
        if not pixels:
            return {}
        images = np.asarray(split.images).transpose(0, 2, 3, 1)
        chunks = [_pixel_cues(images[start:start + 512]) for start in range(0, len(images), 512)]  # bounded memory
        progress.update(len(images))
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in PIXEL_CUES}
    rows = []
    for path in split.paths:
        rows.append(_read_file(path, pixels))
        progress.update(1)
    names = FILE_CUES + (PIXEL_CUES if pixels else ())
    return {name: np.array([row[name] for row in rows], dtype=object if name in CATEGORICAL else np.float64)
            for name in names}


def _summary(labels: np.ndarray, values: np.ndarray, category: str | None, share: bool) -> tuple[Any, Any]:
    """What a typical real and a typical fake look like: the share of a category or of ones, or the median."""
    if category is not None:
        values = values == category
    typical = np.mean if category is not None or share else np.median
    return tuple(float(typical(values[labels == c])) for c in (0, 1))


def _auc_and_interval(labels: np.ndarray, score: np.ndarray, resamples: int, rng: np.random.Generator
                      ) -> tuple[float, float, float]:
    auc = metrics.roc_auc(labels, score)
    if resamples < 1 or math.isnan(auc):
        return auc, math.nan, math.nan
    if np.ptp(score) == 0:  # a constant cue scores 0.5 on every resample
        return auc, auc, auc
    replicates = []
    for _ in range(resamples):
        pick = stratified_resample(labels, rng)
        replicates.append(metrics.roc_auc(labels[pick], score[pick]))
    return (auc, *percentile_interval(replicates))


def score_cue(cue: str, labels: np.ndarray, values: np.ndarray, resamples: int, rng: np.random.Generator
              ) -> dict[str, Any]:
    """AUC, bootstrap interval, the category scored (categorical cues) and each class's typical value."""
    category = None
    if cue in CATEGORICAL:
        options = sorted(set(values.tolist()))
        aucs = [metrics.roc_auc(labels, values == option) for option in options]
        category = options[int(np.argmax([abs(a - 0.5) for a in aucs]))]
        score = (values == category).astype(np.float64)
    else:
        keep = np.isfinite(values)
        labels, values, score = labels[keep], values[keep], values[keep]
        if not (0 < labels.sum() < labels.size):
            return {"auc": math.nan, "low": math.nan, "high": math.nan, "category": None,
                    "real": math.nan, "fake": math.nan}
    auc, low, high = _auc_and_interval(labels, score, resamples, rng)
    real, fake = _summary(labels, values, category, cue in SHARES)
    return {"auc": auc, "low": low, "high": high, "category": category, "real": real, "fake": fake}


@dataclass
class CueResult:
    """One cell of the audit."""

    task: str
    split: str
    cue: str
    kind: str  # "file" or "pixel"
    auc: float
    low: float
    high: float
    category: str | None  # the category scored, for a categorical cue
    real: float  # reals' share of that category (or of ones, for a 0/1 cue), or their median
    fake: float
    n_real: int
    n_fake: int

    @property
    def flagged(self) -> bool:
        return not math.isnan(self.auc) and not BAND[0] <= self.auc <= BAND[1]

    @property
    def beyond_chance(self) -> bool:
        """Whether the interval excludes 0.5 (False without an interval)."""
        return self.high < 0.5 or self.low > 0.5

    @property
    def fix(self) -> str:
        return FIXES[self.cue]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "interval": [self.low, self.high], "flagged": self.flagged,
                "beyond_chance": self.beyond_chance, "fix": self.fix if self.flagged else None}


def audit(scenario, *, splits: tuple[str, ...] = SPLITS, pixels: bool = True, resamples: int = 200,
          seed: int = 0) -> list[CueResult]:
    """Every cue of every task and split of ``scenario`` (``splits`` may include "all", the union)."""
    unknown = sorted(set(splits) - {*SPLITS, ALL})
    if unknown or not splits:
        raise ConfigError(f"splits to audit must be among {[*SPLITS, ALL]}, got {list(splits)}")
    if resamples < 0:
        raise ConfigError(f"resamples must be 0 (no interval) or more, got {resamples}")
    needed = tuple(s for s in SPLITS if s in splits or ALL in splits)
    parts = _splits(scenario, needed)
    with_files = any(part.paths is not None for part in parts)
    total = sum(len(part.labels) for part in parts) if pixels or with_files else 0
    values: dict[tuple[str, str], tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    with tqdm(total=total, desc=f"auditing {scenario.name}", unit="image", disable=None, leave=False) as progress:
        for part in parts:
            values[part.task, part.name] = part.labels, _cue_values(part, pixels, progress)
    rows = []
    for task in scenario.task_names:
        for name in splits:
            if name == ALL:
                labels = np.concatenate([values[task, n][0] for n in needed])
                cues = {cue: np.concatenate([values[task, n][1][cue] for n in needed])
                        for cue in values[task, needed[0]][1]}
            else:
                labels, cues = values[task, name]
            for cue, column in cues.items():
                rng = np.random.default_rng([seed, *(zlib.crc32(key.encode()) for key in (task, name, cue))])
                scored = score_cue(cue, labels, column, resamples, rng)
                rows.append(CueResult(task=task, split=name, cue=cue, kind="file" if cue in FILE_CUES else "pixel",
                                      n_real=int((labels == 0).sum()), n_fake=int((labels == 1).sum()), **scored))
    return rows


def file_level_flags(scenario, *, resamples: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """The flagged file-level cues of a scenario, JSON-ready, for a result's ``provenance.audit_flags``.

    Header reads only, so cheap enough to run before every training run; [] for in-memory scenarios.
    Each entry: task, split, cue, auc, interval, beyond_chance, category, real, fake, fix."""
    keys = ("task", "split", "cue", "auc", "interval", "beyond_chance", "category", "real", "fake", "fix")
    return [jsonable({key: row.as_dict()[key] for key in keys})
            for row in audit(scenario, pixels=False, resamples=resamples, seed=seed) if row.flagged]


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _typical(row: CueResult) -> tuple[str, ...]:
    if math.isnan(row.real):
        return "n/a", "n/a"
    if row.category is not None:
        return tuple(f"{row.category} {share:.0%}" for share in (row.real, row.fake))
    if row.cue in SHARES:
        return tuple(f"{share:.0%}" for share in (row.real, row.fake))
    return tuple(f"{value:.4g}" for value in (row.real, row.fake))


def render(rows: list[CueResult], scenario_name: str, resamples: int) -> str:
    """The audit as a plain-text table, one line per (task, split, cue), then a one-line verdict."""
    header = ("task", "split", "cue", "AUC", "95% interval", "real", "fake", "flag", "fix to try")
    lines = []
    for row in rows:
        real, fake = _typical(row)
        interval = f"[{_number(row.low)}, {_number(row.high)}]" if not math.isnan(row.low) else "n/a"
        lines.append((row.task, row.split, row.cue, _number(row.auc), interval, real, fake,
                      ("⚑" if row.beyond_chance else "⚑?") if row.flagged else "", row.fix if row.flagged else ""))
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    text = [f"Shortcut audit of {scenario_name}: ROC AUC of each cue alone, fake = positive, 95% stratified "
            f"bootstrap interval ({resamples} resamples); ⚑ = AUC outside [{BAND[0]}, {BAND[1]}] (⚑? = and the "
            f"interval holds 0.5: may be chance). real / fake: median, or the share of the category (or of "
            f"ones) scored."]
    for cells in (header, *lines):
        text.append("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip())
    flagged = sum(row.flagged for row in rows)
    sure = sum(row.flagged and row.beyond_chance for row in rows)
    text.append(f"{flagged} of {len(rows)} cue(s) flagged, {sure} beyond chance." if flagged
                else f"no cue flagged ({len(rows)} scored).")
    return "\n".join(text) + "\n"


def report(rows: list[CueResult], scenario, *, resamples: int, seed: int) -> dict[str, Any]:
    """The audit as a JSON-ready mapping."""
    return jsonable({"scenario": scenario.name, "version": scenario.version, "fingerprint": scenario.fingerprint,
                     "band": list(BAND), "resamples": resamples, "seed": seed,
                     "flagged": sum(row.flagged for row in rows),
                     "flagged_beyond_chance": sum(row.flagged and row.beyond_chance for row in rows),
                     "cues": [row.as_dict() for row in rows]})
