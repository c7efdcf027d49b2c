"""Training losses shared by several papers' methods."""

from __future__ import annotations

import math

import torch


def fake_logit(logits: torch.Tensor) -> torch.Tensor:
    """The log-odds of "fake" under two logits (real, fake): the score pairwise losses rank."""
    return logits[:, 1] - logits[:, 0]


def pairwise_auc_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float = 0.6, power: float = 2.0
                      ) -> torch.Tensor:
    """Squared-hinge AUC surrogate, mean over every (fake i, real j) pair of max(0, margin − (s_i − s_j))^power.

    The AUC loss of X-Transfer (Zhang et al., arXiv 2310.04639) and of the robust CLIP detector (Santosh
    et al., 2024; code Purdue-M2/Robust_DM_Generated_Image_Detection: margin η = 0.6, power p = 2).
    A batch without both classes has no pairs and contributes zero (with a gradient path kept).
    """
    if power <= 1 or margin <= 0:
        raise ValueError(f"the AUC loss needs power > 1 and margin > 0, got power={power}, margin={margin}")
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if positives.numel() == 0 or negatives.numel() == 0:
        return scores.sum() * 0.0
    gaps = positives[:, None] - negatives[None, :]
    return torch.clamp(margin - gaps, min=0).pow(power).mean()


def cvar_loss(losses: torch.Tensor, alpha: float = 0.8) -> torch.Tensor:
    """CVaR of per-sample losses: min over λ of λ + (1/α)·mean(max(0, ℓ_i − λ)), i.e. the mean of the worst
    α fraction of the batch (Rockafellar & Uryasev 2000), the robust CLIP detector's loss (Santosh et al.,
    2024; its code: α = 0.8, λ found by ``scipy.optimize.fminbound``).

    The objective is convex and piecewise linear in λ, with slope 1 − #{ℓ_i > λ}/(α·n), so a minimiser is
    the ⌈n(1 − α)⌉-th smallest loss (the (1 − α)-quantile): exact, without a numerical search. As in the
    paper's code, λ* is a constant for the gradient.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"the CVaR level alpha must be in (0, 1], got {alpha}")
    if losses.ndim != 1 or losses.numel() == 0:
        raise ValueError(f"cvar_loss needs a non-empty vector of per-sample losses, got shape {tuple(losses.shape)}")
    rank = min(max(math.ceil(losses.numel() * (1 - alpha)), 1), losses.numel())
    threshold = losses.detach().kthvalue(rank).values
    return threshold + torch.clamp(losses - threshold, min=0).mean() / alpha
