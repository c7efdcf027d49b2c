"""The offline synthetic scenario: deterministic, cached, disjoint splits, and fingerprints that are
what their families claim."""

import numpy as np
import pytest

import scenarios
from benchmark.errors import ConfigError
from scenarios.synthetic import build as synthetic_build
from scenarios.synthetic.build import CropSampler, SyntheticSpec, generate, load_or_build
from scenarios.synthetic.families import FAMILIES, centre, make_fake, to_uint8
from scenarios.synthetic.photos import load_photos, split_region

SMALL = dict(n_train=16, n_val=4, n_test=64)


def spectrum(images: np.ndarray) -> np.ndarray:
    """Mean magnitude spectrum of grey versions of uint8 N×3×H×W images (DC at [0, 0])."""
    grey = images.astype(np.float64).mean(axis=1) / 255
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    return np.abs(np.fft.fft2(grey)).mean(axis=0)


def sources_and_fakes(family: str, n: int = 200):
    """Real crops and the fakes the family makes from exactly those crops (no post-processing)."""
    rng = np.random.default_rng(0)
    sampler = CropSampler(SyntheticSpec(families=(family,)), "test", rng)
    pairs = [sampler.draw() for _ in range(n)]
    sources = np.stack([to_uint8(centre(canvas)) for canvas, _ in pairs]).transpose(0, 3, 1, 2)
    fakes = np.stack([to_uint8(make_fake(family, canvas, donor, rng)) for canvas, donor in pairs])
    return sources, fakes.transpose(0, 3, 1, 2)


def test_generation_is_deterministic_and_seed_dependent():
    spec = SyntheticSpec(families=("faceswap",), **SMALL)
    first, again = generate(spec, "faceswap", "train"), generate(spec, "faceswap", "train")
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    other = generate(SyntheticSpec(families=("faceswap",), data_seed=1, **SMALL), "faceswap", "train")
    assert not np.array_equal(first[0], other[0])


def test_a_familys_data_does_not_depend_on_its_place_in_the_order():
    a = generate(SyntheticSpec(families=("vae", "diffusion"), **SMALL), "diffusion", "test")
    b = generate(SyntheticSpec(families=("diffusion",), **SMALL), "diffusion", "test")
    assert np.array_equal(a[0], b[0])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_yields_balanced_uint8_samples_that_differ_from_reals(family):
    x, y = generate(SyntheticSpec(families=(family,), **SMALL), family, "val")
    assert x.dtype == np.uint8 and x.shape == (8, 3, 32, 32)
    assert y.tolist() == [0, 1] * 4
    sources, fakes = sources_and_fakes(family, n=16)
    assert all(not np.array_equal(s, f) for s, f in zip(sources, fakes))


def test_transposed_convolution_adds_energy_at_the_period_two_frequency_only():
    sources, fakes = sources_and_fakes("gan_tconv")
    ratio = spectrum(fakes) / spectrum(sources)
    assert ratio[16, 16] > 1.5  # (1/2, 1/2) cycle per pixel: the checkerboard
    assert ratio[1:4, 1:4].mean() == pytest.approx(1.0, abs=0.05)  # low frequencies untouched


def test_diffusion_denoising_removes_high_frequencies():
    sources, fakes = sources_and_fakes("diffusion")
    ratio = spectrum(fakes) / spectrum(sources)
    assert ratio[8:25, 8:25].mean() < 0.7  # the highest frequencies of a 32×32 spectrum
    assert ratio[1:3, 1:3].mean() == pytest.approx(1.0, abs=0.1)


def test_splits_come_from_disjoint_parts_of_each_photo():
    for _, image in load_photos():
        parts = [split_region(image, split) for split in ("train", "val", "test")]
        assert sum(p.shape[0] * p.shape[1] for p in parts) == image.shape[0] * image.shape[1]
    for split in ("train", "val", "test"):
        sampler = CropSampler(SyntheticSpec(families=("vae",)), split, np.random.default_rng(0))
        assert len(sampler.regions) >= 15, f"too few photos wide enough for a canvas in {split}"
        assert all(min(region.shape[:2]) >= sampler.canvas for region in sampler.regions)


def test_second_load_reads_the_cache(monkeypatch):
    spec = SyntheticSpec(families=("vae",), **SMALL)
    arrays, fingerprint = load_or_build(spec)
    monkeypatch.setattr(synthetic_build, "generate", lambda *a: pytest.fail("regenerated despite the cache"))
    cached, cached_fingerprint = load_or_build(spec)
    assert cached_fingerprint == fingerprint
    assert all(np.array_equal(arrays[k], cached[k]) for k in arrays)


def test_default_scenario_matches_its_recorded_fingerprint():
    scenario = scenarios.load("synthetic")
    recorded = scenarios.read_yaml(scenarios.SCENARIO_DIR / "synthetic.yaml")["fingerprint"]
    assert scenario.fingerprint == recorded, \
        "the generator changed: add a generator version (families.VERSIONS) and bump the scenario version"
    assert scenario.version == "2" and scenario.params["generator_version"] == "2"
    assert scenario.task_names == ["diffusion", "gan_tconv", "faceswap", "vae", "gan_nearest"]
    assert [t.sizes() for t in scenario.tasks] == [{"train": 4000, "val": 500, "test": 1000}] * 5
    assert scenario.notes == []


def test_generator_version_1_still_builds_the_data_of_scenario_version_1():
    """Results made with the first generator (whose grey photos had coloured fakes) stay reproducible."""
    scenario = scenarios.load("synthetic", params={"generator_version": 1})
    assert scenario.params["generator_version"] == "1"
    assert scenario.fingerprint == "sha256:04c147ee7e37d32925795c5709ace20853b7a1f06cefd18ceba49a4d75093834"


def test_the_cache_key_holds_the_generator_version():
    assert SyntheticSpec(families=("vae",)).key() != SyntheticSpec(families=("vae",), generator_version="1").key()


def test_bad_parameters_name_the_field():
    with pytest.raises(ConfigError, match="unknown synthetic parameter.*n_trian"):
        scenarios.load("synthetic", params={"n_trian": 5})
    with pytest.raises(ValueError, match="unknown synthetic generator family"):
        SyntheticSpec(families=("stylegan9",))
    with pytest.raises(ConfigError, match="generator_version must be one of"):
        scenarios.load("synthetic", params={"generator_version": "3"})
    with pytest.raises(ValueError, match="multiple of 4"):
        SyntheticSpec(families=("vae",), image_size=30)
