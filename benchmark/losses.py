"""Training losses shared by several papers' methods."""

from __future__ import annotations

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
