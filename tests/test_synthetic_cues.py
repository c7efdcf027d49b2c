"""No colour or brightness shortcut in the default synthetic scenario (issue 9): a global statistic that a
camera pipeline leaves alike on reals and fakes must not tell them apart, or a detector learns it instead of
the generator fingerprint and its cross-family transfer measures the shortcut."""

import numpy as np
import pytest

import scenarios
from benchmark.metrics import roc_auc
from scenarios.synthetic.build import CropSampler, SyntheticSpec
from scenarios.synthetic.families import FAMILIES, make_fake

DEFAULT_TASKS = ["diffusion", "gan_tconv", "faceswap", "vae", "gan_nearest"]
CHANCE_BAND = (0.44, 0.56)  # 0.5 ± 0.06: about three standard errors of an AUC on 500 + 500 images


def colour_cues(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image global statistics of uint8 N×3×H×W images, none of which is a generator fingerprint."""
    x = images.astype(np.int16)
    spread = x.max(axis=1) - x.min(axis=1)
    return {"grey_share": (spread == 0).mean(axis=(1, 2)),  # pixels with R = G = B
            "saturation": spread.mean(axis=(1, 2)),         # mean over pixels of max − min over RGB
            "brightness": x.mean(axis=(1, 2, 3)),
            "contrast": x.std(axis=(1, 2, 3))}


def cue_aucs(generator_version: str) -> dict[str, dict[str, float]]:
    """Per task of the default scenario: each cue's AUC on the test split (fake = positive class)."""
    params = None if generator_version == "2" else {"generator_version": generator_version}
    scenario = scenarios.load("synthetic", params=params)
    return {task.name: {cue: roc_auc(task.test.labels.numpy(), values)
                        for cue, values in colour_cues(task.test.images.numpy()).items()}
            for task in scenario.tasks}


@pytest.fixture(scope="module")
def default_cues():
    return cue_aucs("2")


@pytest.mark.parametrize("family", DEFAULT_TASKS)
def test_no_colour_or_brightness_cue_separates_reals_from_fakes(default_cues, family):
    outside = {cue: round(auc, 3) for cue, auc in default_cues[family].items()
               if not CHANCE_BAND[0] <= auc <= CHANCE_BAND[1]}
    assert not outside, f"{family}: cue AUCs outside {CHANCE_BAND} on the test split: {outside}"


def test_generator_version_1_keeps_its_grey_photo_shortcut():
    """Version 1 stays reproducible with its flaw, and the cues above are the ones that catch it: per-channel
    noise and colour shifts coloured the fakes of grey photos."""
    aucs = cue_aucs("1")
    for family in ("diffusion", "faceswap"):
        assert aucs[family]["grey_share"] < CHANCE_BAND[0], aucs[family]
        assert aucs[family]["saturation"] > CHANCE_BAND[1], aucs[family]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_keeps_a_grey_source_grey(family):
    """A grey photo has no colour for a generator to reproduce: its fake must stay exactly grey."""
    rng = np.random.default_rng(0)
    sampler = CropSampler(SyntheticSpec(families=(family,)), "test", rng)
    for _ in range(8):
        canvas, donor = (np.repeat(image[..., :1], 3, axis=2) for image in sampler.draw())
        fake = make_fake(family, canvas, donor, rng)
        assert np.array_equal(fake[..., 0], fake[..., 1]) and np.array_equal(fake[..., 0], fake[..., 2])
