"""Real photographs that ship inside pip wheels: the offline source of every real sample.

scikit-image's ``skimage.data`` and scikit-learn's sample images are installed with the packages, so the
default scenario needs no download. Each photo is split spatially (along its longer axis) into disjoint
train / val / test regions, so a test crop never overlaps a training crop
(see ``shared/notes/synthetic-calibration.md``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina",
                 "immunohistochemistry")
GREY_PHOTOS = ("camera", "brick", "grass", "gravel", "moon", "coins", "clock", "cell")

#: Fractions of the longer axis given to each split, in order: train | val | test.
SPLIT_BOUNDS = {"train": (0.0, 0.65), "val": (0.65, 0.75), "test": (0.75, 1.0)}


@cache
def load_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """All source photos as (name, uint8 H×W×3) pairs, in a fixed order."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [(name, getattr(skimage.data, name)()) for name in COLOUR_PHOTOS]
    photos += [(name, np.repeat(getattr(skimage.data, name)()[..., None], 3, axis=2))
               for name in GREY_PHOTOS]
    left, right, _ = skimage.data.stereo_motorcycle()
    photos += [("stereo_motorcycle_left", left), ("stereo_motorcycle_right", right)]
    sample = load_sample_images()
    photos += [(path.rsplit("/", 1)[-1].split(".")[0], image)
               for path, image in zip(sample.filenames, sample.images)]
    return tuple((name, np.ascontiguousarray(image[..., :3], dtype=np.uint8)) for name, image in photos)


def split_region(image: np.ndarray, split: str) -> np.ndarray:
    """The part of ``image`` reserved for ``split``, cut along the longer axis."""
    low, high = SPLIT_BOUNDS[split]
    axis = 0 if image.shape[0] >= image.shape[1] else 1
    length = image.shape[axis]
    start, stop = round(low * length), round(high * length)
    return image[start:stop] if axis == 0 else image[:, start:stop]
