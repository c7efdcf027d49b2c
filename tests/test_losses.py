"""Shared losses against brute-force computation: the pairwise AUC surrogate and CVaR."""

import itertools

import pytest
import torch

from benchmark.losses import cvar_loss, fake_logit, pairwise_auc_loss


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


def cvar_objective(losses, alpha):
    return lambda threshold: threshold + sum(max(0.0, x - threshold) for x in losses) / (alpha * len(losses))


@pytest.mark.parametrize("n,alpha", [(10, 0.8), (7, 0.8), (33, 0.5), (5, 0.1), (6, 1.0)])
def test_cvar_equals_the_minimum_found_by_fminbound_and_over_every_breakpoint(n, alpha):
    from scipy.optimize import fminbound

    losses = torch.rand(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64) * 3
    objective = cvar_objective(losses.tolist(), alpha)
    searched = fminbound(objective, losses.min().item() - 1000.0, losses.max().item(), xtol=1e-9)  # the paper's
    exact = min(objective(x) for x in losses.tolist())  # piecewise linear and convex: a minimum is at a loss
    assert cvar_loss(losses, alpha).item() == pytest.approx(exact, rel=1e-12)
    assert cvar_loss(losses, alpha).item() == pytest.approx(objective(searched), abs=1e-7)


def test_cvar_is_the_mean_of_the_worst_alpha_fraction_and_only_they_get_gradient():
    losses = torch.arange(1.0, 11.0).flip(0).requires_grad_()  # 10 … 1
    loss = cvar_loss(losses, alpha=0.8)  # the minimiser is the 0.2-quantile, not the 0.8-quantile
    loss.backward()
    assert loss.item() == pytest.approx(sum(range(3, 11)) / 8)
    assert torch.equal(losses.grad > 0, losses.detach() > 2)
    assert torch.allclose(losses.grad[losses.detach() > 2], torch.tensor(1 / (0.8 * 10)))


def test_cvar_at_alpha_one_is_the_mean_and_bad_levels_are_refused():
    losses = torch.rand(9)
    assert cvar_loss(losses, 1.0).item() == pytest.approx(losses.mean().item())
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        cvar_loss(losses, 0.0)
