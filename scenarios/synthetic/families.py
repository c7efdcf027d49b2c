"""Generator families: processes that turn a real crop into a fake carrying a documented fingerprint.

Each family takes a real *canvas* (the crop plus a margin, float32 H×W×3 in [0, 1]), a *donor* canvas cut
from the same photo, a random generator and its generator ``Version``'s settings, and returns the fake
centre crop. Working on a canvas larger than the output keeps convolution borders and JPEG grids out of the
sample. The margin is ``MARGIN`` pixels on each side. Strengths were calibrated so that every family is
learnable alone while the cues of different families conflict (``shared/notes/synthetic-calibration.md``;
version 2's on the validation split, ``benchmarks/synthetic_properties.py``).

Colour and exposure stay what the source's camera made them. A camera pipeline renders the three channels
of one scene together: a monochrome photo has no colour for any later process to add, and a generator
reproduces the global brightness and contrast of the photos it imitates, while its fingerprint lies in
local structure (spectrum, resampling, blending). So every random draw that touches colour is shared by the
three channels (the fake of a grey photo stays exactly grey), and ``make_fake`` gives each fake its source's
mean and standard deviation. Otherwise a global statistic that has nothing to do with the generator
separates the classes, a detector learns it in place of the fingerprint, and its transfer to other families
measures the shortcut. Generator version 1 drew diffusion's noise and faceswap's gain and offset per channel,
colouring the fakes of the eight grey photos while their reals stayed grey (issue 9); ``VERSIONS["1"]``
reproduces it byte for byte, for results made with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

MARGIN = 4


@dataclass(frozen=True)
class Version:
    """What a generator version sets for the families: everything else is common to all versions."""

    colour_draws: int  # independent random draws of a colour-touching step: 1 shared by all channels, or 3
    keep_statistics: bool  # fakes get their source's mean and standard deviation (``keep_global_statistics``)
    diffusion_blur: tuple[float, float]  # range of the denoising blur's sigma
    vae_strength: float
    faceswap_scale: tuple[float, float]  # range of the donor's resampling factor
    faceswap_gain: float  # half-width of the paste's exposure gain, around 1
    faceswap_offset: float  # half-width of its exposure offset, around 0


#: Version 1 coloured the fakes of grey photos. Version 2 shares colour draws and keeps brightness and
#: contrast, which made diffusion, vae and faceswap harder to learn (joint AUC 0.868 → 0.851 on validation);
#: their own fingerprints are stronger instead, calibrated on the validation split
#: (``benchmarks/synthetic_properties.py``; numbers in the README).
VERSIONS = {"1": Version(colour_draws=3, keep_statistics=False, diffusion_blur=(0.6, 0.9), vae_strength=0.7,
                         faceswap_scale=(0.6, 0.9), faceswap_gain=0.12, faceswap_offset=0.05),
            "2": Version(colour_draws=1, keep_statistics=True, diffusion_blur=(0.7, 1.0), vae_strength=0.85,
                         faceswap_scale=(0.5, 0.8), faceswap_gain=0.2, faceswap_offset=0.08)}
GENERATOR_VERSION = "2"
Family = Callable[[np.ndarray, np.ndarray, np.random.Generator, Version], np.ndarray]
FAMILIES: dict[str, Family] = {}


def family(name: str) -> Callable[[Family], Family]:
    """Register a generator family under ``name``."""
    def register(fn: Family) -> Family:
        if name in FAMILIES:
            raise ValueError(f"generator family {name!r} is registered twice")
        FAMILIES[name] = fn
        return fn
    return register


def centre(canvas: np.ndarray) -> np.ndarray:
    """The sample-sized centre of a canvas."""
    return canvas[MARGIN:-MARGIN, MARGIN:-MARGIN]


def _per_channel(fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    return np.stack([fn(image[..., c]) for c in range(image.shape[2])], axis=2)


def _avgpool2(image: np.ndarray) -> np.ndarray:
    h, w, c = image.shape
    return image.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))


def _resize(image: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float image channel by channel without quantising it."""
    height, width = size
    return _per_channel(lambda ch: np.asarray(Image.fromarray(ch, mode="F").resize((width, height), resample)),
                        image)


def _fixed_kernel(seed: int, shape: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _checkerboard_kernel() -> np.ndarray:
    """A 4×4 transposed-convolution kernel whose four stride-2 phases each sum to zero."""
    kernel = _fixed_kernel(20_2016, (4, 4))
    for dy in range(2):
        for dx in range(2):
            kernel[dy::2, dx::2] -= kernel[dy::2, dx::2].mean()
    return kernel / np.abs(kernel).max()


def _resize_conv_kernel() -> np.ndarray:
    """A positive 3×3 kernel, normalised to sum to one (a learned smoothing after resize)."""
    kernel = np.abs(_fixed_kernel(20_2017, (3, 3))) + 0.25
    return kernel / kernel.sum()


def keep_global_statistics(fake: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``fake`` shifted and scaled, alike in every channel, to the mean and standard deviation of ``source``:
    the blur families would otherwise lower the contrast, a global cue rather than their spectral one."""
    return (fake - fake.mean()) * (source.std() / fake.std()) + source.mean()


def make_fake(name: str, canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
              generator_version: str = GENERATOR_VERSION) -> np.ndarray:
    """The fake centre crop that family ``name`` makes of ``canvas`` under a generator version."""
    version = VERSIONS[generator_version]
    fake = FAMILIES[name](canvas, donor, rng, version)
    return keep_global_statistics(fake, centre(canvas)) if version.keep_statistics else fake


TCONV_KERNEL = _checkerboard_kernel()
RESIZE_CONV_KERNEL = _resize_conv_kernel()


@family("gan_tconv")
def transposed_conv_upsampling(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                               version: Version) -> np.ndarray:
    """Stride-2 transposed convolution of a downsampled image: a texture-dependent period-2 checkerboard,
    i.e. the periodic spectral peaks of GAN upsampling (Odena et al., Distill 2016; Zhang et al.,
    WIFS 2019; Frank et al., ICML 2020)."""
    pooled = _avgpool2(canvas)
    upsampled = np.zeros_like(canvas)
    upsampled[::2, ::2] = pooled
    residual = _per_channel(lambda ch: ndimage.convolve(ch, TCONV_KERNEL, mode="nearest"), upsampled)
    strength = 0.12 * rng.uniform(0.7, 1.0)
    return centre(canvas + strength * residual)


@family("gan_nearest")
def nearest_upsampling_conv(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                            version: Version) -> np.ndarray:
    """Nearest-neighbour upsampling followed by a convolution, the "resize-convolution" generator
    (Odena et al., Distill 2016; spectral distortions per Durall et al., CVPR 2020)."""
    upsampled = np.repeat(np.repeat(_avgpool2(canvas), 2, axis=0), 2, axis=1)
    smoothed = _per_channel(lambda ch: ndimage.convolve(ch, RESIZE_CONV_KERNEL, mode="nearest"), upsampled)
    return centre(canvas + 0.8 * (smoothed - canvas))


@family("diffusion")
def diffusion_denoising(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                        version: Version) -> np.ndarray:
    """Noising then a denoising blur: diffusion images lack high-frequency energy (Ricker et al.,
    VISAPP 2024; Corvi et al., ICASSP 2023)."""
    noisy = canvas + rng.uniform(0.02, 0.04) * rng.standard_normal(canvas.shape[:2] + (version.colour_draws,))
    sigma = rng.uniform(*version.diffusion_blur)
    return centre(ndimage.gaussian_filter(noisy, sigma=(sigma, sigma, 0), mode="nearest"))


@family("vae")
def low_resolution_decoding(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                            version: Version) -> np.ndarray:
    """Decoding from a 4× smaller latent: a latent autoencoder's reconstruction loses detail at its
    downsampling factor (Rombach et al., CVPR 2022; Ricker et al., AEROBLADE, CVPR 2024)."""
    height, width = canvas.shape[:2]
    latent = _resize(canvas, (height // 4, width // 4), Image.Resampling.BOX)
    decoded = _resize(latent, (height, width), Image.Resampling.BICUBIC)
    return centre(canvas + version.vae_strength * rng.uniform(0.7, 1.0) * (decoded - canvas))


@family("faceswap")
def blended_paste(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                  version: Version) -> np.ndarray:
    """A feathered elliptical region from a donor, resampled and given another exposure (one gain and offset
    for all channels), blended in: the blending boundary and resolution mismatch of face swaps (Li et al.,
    Face X-ray, CVPR 2020; Li & Lyu, CVPR-W 2019)."""
    height, width = canvas.shape[:2]
    factor = rng.uniform(*version.faceswap_scale)
    small = _resize(donor, (round(height * factor), round(width * factor)), Image.Resampling.BILINEAR)
    patch = _resize(small, (height, width), Image.Resampling.BILINEAR)
    gain, offset, draws = version.faceswap_gain, version.faceswap_offset, version.colour_draws
    patch = patch * (1 + rng.uniform(-gain, gain, draws)) + rng.uniform(-offset, offset, draws)
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = (height - 1) / 2 + rng.uniform(-3, 3), (width - 1) / 2 + rng.uniform(-3, 3)
    ry, rx = rng.uniform(0.25, 0.4, 2) * (height - 2 * MARGIN)
    mask = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.float32)
    mask = ndimage.gaussian_filter(mask, sigma=1.5)[..., None]
    return centre(mask * patch + (1 - mask) * canvas)


def jpeg(image: np.ndarray, quality: int, subsampling: int = 0) -> np.ndarray:
    """Round-trip a uint8 RGB image through JPEG with PIL (subsampling 0 = 4:4:4, 2 = 4:2:0)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling)
    return np.asarray(Image.open(buffer).convert("RGB"))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


@family("jpeg_double")
def shifted_double_jpeg(canvas: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
                        version: Version) -> np.ndarray:
    """Strong JPEG with 4:2:0 chroma, then a second JPEG on a grid shifted by a non-multiple of 8: the
    non-aligned double-compression trace of spliced or re-saved images (Bianchi & Piva, IEEE TIFS 2012)."""
    first = jpeg(to_uint8(canvas), rng.integers(20, 41), subsampling=2)
    dy, dx = rng.integers(1, 2 * MARGIN, 2)
    size = canvas.shape[0] - 2 * MARGIN
    shifted = np.ascontiguousarray(first[dy:dy + size, dx:dx + size])
    return jpeg(shifted, rng.integers(75, 91)).astype(np.float32) / 255
