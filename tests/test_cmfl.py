"""CMFL (Ibsen et al., IWBF 2024): the cross-modal weights and loss against a hand-computed example, the
conversion from the paper's 1 = real labels, the frequency image against the paper's recipe, and the loss
reading the heads of its own forward pass."""

import copy
from math import log

import numpy as np
import pytest
import torch

from benchmark import detectors
from benchmark.detectors.cmfl import (cross_modal_focal_loss, cross_modal_weights, frequency_image,
                                      to_paper_convention)
from benchmark.errors import ConfigError, DfclError



def test_cross_modal_weights_match_a_hand_computed_example():
    # p_a = 0.8, p_b = 0.5, m = 2: m·p_a·p_b/(p_a + p_b) = 0.8/1.3 = 8/13, so w_a = 0.5·8/13 = 4/13 and
    # w_b = 0.8·8/13 = 32/65.
    w_a, w_b = cross_modal_weights(torch.tensor([0.8]), torch.tensor([0.5]))
    assert w_a.item() == pytest.approx(4 / 13, abs=1e-7) and w_b.item() == pytest.approx(32 / 65, abs=1e-7)


def test_cross_modal_focal_loss_matches_a_hand_computed_example():
    # A real image (paper target 1) to which branch a gives P(real) = 0.8 (logit ln 4) and branch b 0.5:
    # BCE_a = −ln 0.8, BCE_b = ln 2; (1 − w_a)^3 = (9/13)^3, (1 − w_b)^3 = (33/65)^3; α = 1.
    expected = 0.5 * (9 / 13) ** 3 * -log(0.8) + 0.5 * (33 / 65) ** 3 * log(2)
    loss = cross_modal_focal_loss(torch.tensor([log(4.0)]), torch.tensor([0.0]), torch.tensor([1.0]), 1.0, 3.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_labels_and_logits_are_converted_to_the_papers_one_is_real_convention():
    fake_logits, labels = torch.tensor([2.0, -1.0]), torch.tensor([1, 0])  # a fake, a real
    real_logits, real_targets = to_paper_convention(fake_logits, labels)
    assert real_targets.tolist() == [0.0, 1.0] and real_logits.tolist() == [-2.0, 1.0]


def test_detector_loss_is_the_papers_formula_in_the_papers_convention():
    torch.manual_seed(0)
    model = detectors.create("cmfl", encoder="small", beta=0.5).train()
    images, labels = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 0, 1, 1, 0])
    logits = model(images)
    joint, rgb, frequency = (logits[:, 1], model.rgb_head(model.features(images)[:, :64]).squeeze(1),
                             model.frequency_head(model.features(images)[:, 64:]).squeeze(1))
    # The paper's code on probabilities of "real" with 1 = real (trainers/detector_trainer_template.py).
    p_real = [torch.sigmoid(-z) for z in (joint, rgb, frequency)]
    target = (labels == 0).float()
    bce = [torch.nn.functional.binary_cross_entropy(p, target, reduction="none") for p in p_real]
    pt_a, pt_b = torch.exp(-bce[1]), torch.exp(-bce[2])
    harmonic = 2 * pt_a * pt_b / (pt_a + pt_b + 1e-9)
    w_a, w_b = (pt_b + 1e-9) * harmonic, (pt_a + 1e-9) * harmonic
    cmfl = 0.5 * ((1 - w_a) ** 3 * bce[1]).mean() + 0.5 * ((1 - w_b) ** 3 * bce[2]).mean()
    expected = 0.5 * cmfl + 0.5 * bce[0].mean()
    assert model.criterion()(logits, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def test_training_raises_the_fake_score_of_fakes():
    """With the labels converted wrongly the heads would learn P(real) and this would fail."""
    torch.manual_seed(0)
    model = detectors.create("cmfl", encoder="small").train()
    reals = torch.rand(8, 3, 32, 32) * 0.5 + 0.25
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2
    fakes = (reals.roll(1, 0) + 0.1 * checker).clamp(0, 1)  # a period-2 pattern, as gan_tconv
    images, labels = torch.cat([reals, fakes]), torch.tensor([0] * 8 + [1] * 8)
    optimizer, criterion = torch.optim.Adam(model.parameters(), lr=1e-3), model.criterion()
    for _ in range(12):
        optimizer.zero_grad()
        criterion(model(images), labels).backward()
        optimizer.step()
    p_fake = torch.softmax(model.eval()(images), dim=1)[:, 1].detach()
    assert p_fake[8:].min() > p_fake[:8].max()


def test_frequency_image_follows_the_papers_recipe():
    torch.manual_seed(1)
    images = torch.rand(2, 3, 32, 32)
    ours = frequency_image(images)
    assert ours.shape == images.shape and ours.min() == -1 and ours.max() == 1
    for b in range(2):
        for c in range(3):  # helpers/util.py, per channel with numpy
            spectrum = np.log(np.abs(np.fft.fft2(images[b, c].numpy().astype(np.float64))) + 1e-3)
            low, high = np.percentile(spectrum, 5), np.percentile(spectrum, 95)
            reference = np.fft.fftshift(np.clip((spectrum - low) / (high - low) * 2 - 1, -1, 1))
            np.testing.assert_allclose(ours[b, c].numpy(), reference, atol=1e-4)
    assert (ours[:, :, 16, 16] == 1).all()  # the zero frequency, the largest for a positive image, is central


def test_frequency_image_of_a_flat_image_is_finite():
    assert torch.isfinite(frequency_image(torch.full((1, 3, 32, 32), 0.5))).all()


def test_loss_reads_the_heads_of_its_own_forward_despite_a_teacher_copy_and_an_evaluation_between():
    torch.manual_seed(0)
    model = detectors.create("cmfl", encoder="small").train()
    images, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 0, 1])
    criterion = model.criterion()
    logits = model(images)
    expected = criterion(logits, labels).item()
    teacher = copy.deepcopy(model).eval()  # as LwF / FReTAL do, right after a training forward
    with torch.no_grad():
        teacher(torch.rand(4, 3, 32, 32))
        model.eval()(torch.rand(4, 3, 32, 32))
    assert criterion(logits, labels).item() == expected


def test_loss_refuses_logits_that_are_not_a_forward_output():
    model = detectors.create("cmfl", encoder="small")
    logits = model(torch.rand(4, 3, 32, 32))
    with pytest.raises(DfclError, match="cmfl detector's loss was given logits that are not the direct output"):
        model.criterion()(logits[2:], torch.tensor([0, 1]))


def test_bad_loss_parameters_are_named():
    with pytest.raises(ConfigError, match="beta must lie in \\[0, 1\\].*beta=2"):
        detectors.create("cmfl", encoder="small", beta=2)
