"""Shared losses against brute-force computation."""

import itertools

import pytest
import torch

from benchmark.losses import fake_logit, pairwise_auc_loss


def brute_force(scores, labels, margin, power):
    terms = [max(0.0, margin - (scores[i] - scores[j])) ** power
             for i, j in itertools.product(range(len(scores)), repeat=2) if labels[i] == 1 and labels[j] == 0]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("margin,power", [(0.6, 2.0), (1.0, 3.0), (0.3, 1.5)])
def test_auc_loss_equals_the_mean_over_all_fake_real_pairs(margin, power):
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(17, generator=generator)
    labels = torch.randint(0, 2, (17,), generator=generator)
    labels[:2] = torch.tensor([0, 1])
    expected = brute_force(scores.tolist(), labels.tolist(), margin, power)
    assert pairwise_auc_loss(scores, labels, margin, power).item() == pytest.approx(expected, rel=1e-6)


def test_auc_loss_is_zero_once_every_fake_outranks_every_real_by_the_margin():
    scores = torch.tensor([0.0, 0.1, 0.8, 2.0], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    assert pairwise_auc_loss(scores, labels, margin=0.6).item() == 0.0
    loss = pairwise_auc_loss(scores, labels, margin=1.0)
    loss.backward()
    assert loss.item() > 0 and scores.grad[2] < 0 < scores.grad[1]  # pushes the closest pair apart


def test_single_class_batch_contributes_zero_with_a_gradient_path():
    scores = torch.randn(4, requires_grad=True)
    loss = pairwise_auc_loss(scores, torch.ones(4, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and scores.grad is not None


def test_fake_logit_is_the_log_odds():
    logits = torch.tensor([[0.5, 2.0], [1.0, -1.0]])
    assert torch.allclose(torch.sigmoid(fake_logit(logits)), logits.softmax(1)[:, 1])


def test_invalid_hyper_parameters_are_refused():
    with pytest.raises(ValueError, match="power > 1"):
        pairwise_auc_loss(torch.zeros(2), torch.tensor([0, 1]), power=1.0)
