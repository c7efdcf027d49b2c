"""Sharpness-aware minimisation as an Avalanche plugin, so that it wraps the optimiser of any strategy built
on Avalanche's standard training loop (naive, joint, LwF, EWC, replay …) rather than one training script."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.templates.update_type.sgd_update import SGDUpdate
from torch import nn

from .checkpoints import NoStateAcrossTasks
from .errors import ConfigError


class SharpnessAwareMinimisation(NoStateAcrossTasks, SupervisedPlugin):
    """SAM (Foret et al., ICLR 2021): step with the gradient taken at w + ρ·g/‖g‖, the worst nearby point to
    first order, rather than at w. The robust CLIP detector trains with SAM around AdamW (Santosh et al.,
    2024); ρ = 0.05 is the reference implementation's default (davda54/sam), its code not giving one.

    At ``before_update`` (after the strategy's backward and every ``after_backward`` hook):

    1. the weights move by ρ·g/‖g‖, g being the gradient just computed (‖·‖ over every parameter);
    2. the iteration's loss is computed again at that point as the first time: the strategy's ``forward()``
       and ``criterion()`` (so FReTAL's distillation terms too), then every plugin's ``before_backward`` term
       (LwF's distillation, EWC's penalty …), each added once to a fresh loss; it is back-propagated and the
       ``after_backward`` hooks (A-GEM's projection) apply to that gradient. The ``before_forward`` and
       ``after_forward`` hooks are not run again: the second pass sees the very mini-batch of the first,
       augmentation applied in ``before_forward`` (FReTAL's CutMix) included, and side effects run once;
    3. the weights are restored and the optimiser steps with the perturbed point's gradient.

    BatchNorm running statistics are not updated by the second pass (as the paper's code). The loss and
    outputs left on the strategy for later hooks and the progress bar are the first pass's: those of the
    model at its actual weights. A strategy that adds loss terms inside its own ``training_epoch`` (DER,
    ER-ACE) is refused, since the second pass could not include them.
    """

    def __init__(self, rho: float = 0.05):
        super().__init__()
        if not rho > 0:
            raise ConfigError(f"SAM's neighbourhood radius rho must be > 0, got {rho}")
        self.rho = rho

    def before_training_exp(self, strategy, **kwargs):
        if type(strategy).training_epoch is not SGDUpdate.training_epoch:
            raise ConfigError(
                f"sharpness-aware minimisation recomputes each step's loss as criterion() plus the plugins' "
                f"before_backward terms, but {type(strategy).__name__} adds loss terms in its own training_epoch, "
                f"which the second pass would drop. Use this detector with a strategy built on Avalanche's "
                f"standard training loop (a SupervisedTemplate with plugins).")

    def before_update(self, strategy, **kwargs):
        params = [p for p in strategy.model.parameters() if p.grad is not None]
        if not params:
            return
        first_loss, first_output = strategy.loss.detach(), strategy.mb_output.detach()
        originals = [p.detach().clone() for p in params]
        with torch.no_grad():
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
            for p in params:
                p.add_(p.grad, alpha=self.rho / (norm.item() + 1e-12))
        strategy.optimizer.zero_grad()
        try:
            with batchnorm_statistics_frozen(strategy.model):
                strategy.loss = strategy._make_empty_loss()
                strategy.mb_output = strategy.forward()
                strategy.loss += strategy.criterion()
                strategy._before_backward(**kwargs)
                strategy.backward()
                strategy._after_backward(**kwargs)
        finally:
            with torch.no_grad():
                for p, original in zip(params, originals):
                    p.copy_(original)
        strategy.loss, strategy.mb_output = first_loss, first_output


@contextmanager
def batchnorm_statistics_frozen(model: nn.Module):
    """BatchNorm layers still normalise with the batch's statistics but leave their running ones untouched."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for module in norms:
        module.track_running_stats = False
    try:
        yield
    finally:
        for module in norms:
            module.track_running_stats = True
