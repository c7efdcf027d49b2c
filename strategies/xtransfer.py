"""X-Transfer (Zhang, Chen, Hu, Zhu, Lin, Wu, Hu & Wang, "X-Transfer: A Transfer Learning-Based Framework for
GAN-Generated Fake Image Detection", arXiv 2310.04639), reconstructed: no public code exists."""

from __future__ import annotations

import copy
import math

import torch
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from benchmark.checkpoints import NoStateAcrossTasks
from benchmark.detectors.heads import attach, forward_features
from benchmark.errors import ConfigError
from benchmark.losses import fake_logit, pairwise_auc_loss

from . import register
from ._requirements import require_features, require_loss_on_any_logits

PREDICTIONS = ("ensemble", "anchor", "adapter")
BALANCES = ("loss", "equal")


def average_probabilities(*logits: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax is the mean of the given logits' softmaxes (log of the mean probabilities)."""
    return torch.logsumexp(torch.stack([z.log_softmax(1) for z in logits]), dim=0) - math.log(len(logits))


class TwinNetworks(nn.Module):
    """The two networks, started as copies of one detector, and the prediction the benchmark scores."""

    def __init__(self, detector: nn.Module, prediction: str):
        super().__init__()
        self.anchor, self.adapter = detector, copy.deepcopy(detector)
        self.prediction = prediction

    def routes(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Logits of the three routes: each network alone, and the X where each network's features go
        through the other's classifier, so every loss on it reaches both networks."""
        anchor_features, adapter_features = self.anchor.features(x), self.adapter.features(x)
        return {"anchor": [self.anchor.classifier(anchor_features)],
                "adapter": [self.adapter.classifier(adapter_features)],
                "cross": [self.adapter.classifier(anchor_features), self.anchor.classifier(adapter_features)]}

    def predict(self, anchor_logits: torch.Tensor, adapter_logits: torch.Tensor) -> torch.Tensor:
        if self.prediction == "ensemble":
            return average_probabilities(anchor_logits, adapter_logits)
        return anchor_logits if self.prediction == "anchor" else adapter_logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the pair knows: both networks' features side by side (what the linear probes read)."""
        return torch.cat([self.anchor.features(x), self.adapter.features(x)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        anchor, adapter = self.anchor(x), self.adapter(x)
        features = torch.cat([forward_features(anchor, "anchor"), forward_features(adapter, "adapter")], dim=1)
        return attach(self.predict(anchor, adapter), features=features)

    def criterion(self) -> nn.Module:
        return self.anchor.criterion() if hasattr(self.anchor, "criterion") else nn.CrossEntropyLoss()

    def training_plugins(self) -> list:
        """The detector's own training procedure (clip-mlp's SAM) applies to the pair as it would to it."""
        return self.anchor.training_plugins() if hasattr(self.anchor, "training_plugins") else []


class AnchorStepFraction(NoStateAcrossTasks, SupervisedPlugin):
    """From the second task on, the anchor keeps only the fraction s of every change a training step makes
    to it: for its weights the same as a learning rate s·lr under SGD, Adam and AdamW (their states do not
    depend on the learning rate) whatever the schedule, for its BatchNorm statistics a momentum s·m.
    On the first task there is nothing to keep: both networks learn it alike."""

    def __init__(self, anchor: nn.Module, fraction: float):
        super().__init__()
        self.anchor, self.fraction, self.start = anchor, fraction, []

    def tensors(self) -> list[torch.Tensor]:
        return [*self.anchor.parameters(), *(b for b in self.anchor.buffers() if b.is_floating_point())]

    def before_training_iteration(self, strategy, **kwargs):
        active = strategy.clock.train_exp_counter > 0 and self.fraction != 1
        self.start = [t.detach().clone() for t in self.tensors()] if active else []

    @torch.no_grad()
    def after_training_iteration(self, strategy, **kwargs):
        for tensor, start in zip(self.tensors(), self.start):
            tensor.lerp_(start, 1 - self.fraction)


class XTransfer(NoStateAcrossTasks, SupervisedTemplate):
    """Trains both networks on every batch through the three routes, each route's loss = the detector's
    task loss (cross-entropy) + w·AUC loss, routes weighted by the balancing factor. Both networks are the
    model (``TwinNetworks``), so the model's state is all there is to keep across tasks."""

    def __init__(self, *, auc_weight: float, margin: float, power: float, balance: str, **template_kwargs):
        super().__init__(**template_kwargs)
        self.auc_weight, self.margin, self.power, self.balance = auc_weight, margin, power, balance
        self.route_losses: dict[str, float] = {}

    def forward(self):
        if not self.is_training:
            return super().forward()
        self.mb_routes = self.model.routes(self.mb_x)
        return self.model.predict(self.mb_routes["anchor"][0], self.mb_routes["adapter"][0])

    def route_loss(self, logits: torch.Tensor) -> torch.Tensor:
        auc = pairwise_auc_loss(fake_logit(logits), self.mb_y, self.margin, self.power)
        return self._criterion(logits, self.mb_y) + self.auc_weight * auc

    def criterion(self):
        if not self.is_training:
            return super().criterion()
        losses = torch.stack([torch.stack([self.route_loss(z) for z in logits]).mean()
                              for logits in self.mb_routes.values()])
        if self.balance == "loss":  # the route doing worst gets the most weight
            weights = losses.detach() / losses.detach().sum().clamp_min(1e-12)
        else:
            weights = torch.full_like(losses, 1 / len(losses))
        self.route_losses = dict(zip(self.mb_routes, losses.tolist()))
        return (weights * losses).sum()


@register("xtransfer")
def xtransfer(model, setup, *, auc_weight: float = 1.0, margin: float = 0.6, power: float = 2.0,
              anchor_lr_scale: float = 0.1, balance: str = "loss", prediction: str = "ensemble"):
    """X-Transfer: two networks trained together through crossed routes (each one's features through the
    other's classifier), loss = cross-entropy + AUC loss; a reconstruction, as no code is public.

    Zhang et al., arXiv 2310.04639 ("two neural networks that employ interleaved parallel gradient
    transmission", "AUC loss and cross-entropy loss", "three transfer routes with a dynamic balancing
    factor"). What this reconstruction assumes: both networks start as copies of the detector and learn
    the first task alike, ending as two copies of one source model (the paper's starting point); from
    the second task on the *anchor* keeps earlier tasks by taking ``anchor_lr_scale`` of each step (its
    BatchNorm statistics likewise) while the *adapter* learns at the full rate; the three routes are
    anchor alone, adapter alone, and the X (anchor features → adapter classifier and adapter features →
    anchor classifier, averaged); each route's loss is the detector's task loss + ``auc_weight`` × the
    pairwise squared-hinge AUC loss on the fake logit (η = ``margin`` = 0.6, p = ``power`` = 2, as the
    authors' group's code); the dynamic balancing factor weights routes by their detached share of the
    total loss (``balance="equal"``: 1/3 each). The scored model is ``prediction``: the mean of both
    networks' probabilities (``ensemble``), or one network. Training costs two networks.
    """
    require_features(model, "xtransfer")
    require_loss_on_any_logits(model, "xtransfer")
    for name, value, allowed in (("balance", balance, BALANCES), ("prediction", prediction, PREDICTIONS)):
        if value not in allowed:
            raise ConfigError(f"xtransfer: {name} must be one of {list(allowed)}, got {value!r} "
                              f"(--strategy-param {name}={allowed[0]})")
    if float(auc_weight) < 0 or float(margin) <= 0 or float(power) <= 1 or not 0 <= float(anchor_lr_scale) <= 1:
        raise ConfigError(f"xtransfer: auc_weight must be ≥ 0, margin > 0, power > 1 and anchor_lr_scale in "
                          f"[0, 1], got auc_weight={auc_weight}, margin={margin}, power={power}, "
                          f"anchor_lr_scale={anchor_lr_scale}")
    twins = TwinNetworks(model, prediction)
    plugins = [AnchorStepFraction(twins.anchor, float(anchor_lr_scale))]
    return XTransfer(auc_weight=float(auc_weight), margin=float(margin), power=float(power), balance=balance,
                     **setup.template_kwargs(twins, plugins=plugins))
