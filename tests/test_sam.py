"""Sharpness-aware minimisation as a detector's training plugin: the step uses the gradient at the perturbed
point, every loss term of the strategy is in the second pass once, on the same (augmented) mini-batch, and
BatchNorm statistics move once."""

import copy

import pytest
import torch
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.supervised import DER, Naive
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from benchmark.detectors.base import Detector
from benchmark.errors import ConfigError
from benchmark.sam import SharpnessAwareMinimisation
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup
from scenarios import Scenario, Task

RHO, LR, WEIGHT_DECAY, STEPS = 0.5, 0.05, 0.01, 3


class TinyDetector(Detector):
    def __init__(self, rho: float | None):
        super().__init__()
        # no bias before BatchNorm: its gradient is ~0, and Adam would turn rounding noise into full steps
        self.body = nn.Sequential(nn.Linear(4, 6, bias=False), nn.BatchNorm1d(6), nn.ReLU())
        self.classifier = nn.Linear(6, 2)
        self.rho = rho

    def features(self, x):
        return self.body(x)

    def training_plugins(self):
        return [SharpnessAwareMinimisation(self.rho)] if self.rho else []


class SquaredWeights(SupervisedPlugin):
    """A regulariser added in ``before_backward``, as LwF's and EWC's are, and an in-place augmentation in
    ``before_forward``, as FReTAL's CutMix; records the loss that later hooks see and the gradient the
    optimiser stepped with."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight, self.calls, self.augmented, self.losses, self.gradient = weight, 0, 0, [], None

    def before_forward(self, strategy, **kwargs):
        self.augmented += 1
        strategy.mb_x.mul_(1.5)  # the batch fed to the model is 1.5 × the data, in both passes

    def before_backward(self, strategy, **kwargs):
        self.calls += 1
        strategy.loss += self.weight * penalty(strategy.model)

    def after_update(self, strategy, **kwargs):
        self.gradient = [p.grad.clone() for p in strategy.model.parameters()]

    def after_training_iteration(self, strategy, **kwargs):
        self.losses.append(strategy.loss.item())


def penalty(model):
    return sum((p ** 2).sum() for p in model.parameters())


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 4, generator=generator), torch.randint(0, 2, (16,), generator=generator)


def train(model, batch, plugins=(), template=Naive, steps=STEPS, **template_args):
    """``steps`` training iterations, each over the whole batch (16 samples, batch size 16)."""
    data = TensorDataset(*batch)
    data.targets = batch[1].tolist()
    stream = training_stream(Scenario("one", "1", "test", [Task("t", data, None, None)], ""))
    setup = TrainSetup(TrainConfig(epochs=steps, batch_size=16, optimizer="adamw", lr=LR,
                                   weight_decay=WEIGHT_DECAY, lr_schedule="constant"), torch.device("cpu"))
    strategy = template(**setup.template_kwargs(model, plugins=list(plugins)), **template_args)
    strategy.train(stream[0])


def by_hand(model, batch, regulariser: float, rho: float | None, steps=STEPS):
    """AdamW steps with the gradient of cross-entropy + regulariser at w + ρ·g/‖g‖ (at w without ρ); BatchNorm
    statistics from the first forward pass only. Returns the model, first-pass losses, last gradient."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    x, y = batch[0] * 1.5, batch[1]  # as ``SquaredWeights`` augments it
    loss_at = lambda: F.cross_entropy(model(x), y) + regulariser * penalty(model)  # noqa: E731
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        first = loss_at()
        first.backward()
        losses.append(first.item())
        if rho:
            weights = [p.detach().clone() for p in model.parameters()]
            statistics = copy.deepcopy(model.body[1].state_dict())
            norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
            with torch.no_grad():
                for p in model.parameters():
                    p += rho * p.grad / norm
            optimizer.zero_grad()
            loss_at().backward()
            with torch.no_grad():
                for p, w in zip(model.parameters(), weights):
                    p.copy_(w)
            model.body[1].load_state_dict(statistics)
        optimizer.step()
    return model, losses, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("regulariser", [0.0, 0.3])
def test_sam_steps_with_the_perturbed_point_gradient_of_every_loss_term_once(batch, regulariser):
    torch.manual_seed(0)
    model = TinyDetector(RHO)
    expected, first_losses, gradient = by_hand(model, batch, regulariser, RHO)
    plugin = SquaredWeights(regulariser)
    train(model, batch, [plugin])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plugin.gradient, gradient))
    for name, p in model.named_parameters():
        assert torch.allclose(p, dict(expected.named_parameters())[name], atol=1e-6), name
    assert plugin.calls == 2 * STEPS  # the regulariser is recomputed at the perturbed point, not reused
    assert plugin.augmented == STEPS  # the augmented mini-batch is reused, not augmented twice
    assert plugin.losses == pytest.approx(first_losses, rel=1e-5)  # later hooks see the first pass's loss
    assert torch.allclose(model.body[1].running_mean, expected.body[1].running_mean, atol=1e-6)
    assert model.body[1].num_batches_tracked.item() == STEPS


def test_sam_update_differs_from_a_plain_adamw_step(batch):
    torch.manual_seed(0)
    with_sam, plain = TinyDetector(RHO), TinyDetector(None)
    plain.load_state_dict(with_sam.state_dict())
    expected_plain, _, plain_gradient = by_hand(plain, batch, 0.0, None)
    sam_spy, plain_spy = SquaredWeights(0.0), SquaredWeights(0.0)
    train(with_sam, batch, [sam_spy])
    train(plain, batch, [plain_spy])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain.parameters(), expected_plain.parameters()))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain_spy.gradient, plain_gradient))
    assert not torch.allclose(sam_spy.gradient[-2], plain_spy.gradient[-2], atol=1e-3)
    assert not torch.allclose(with_sam.classifier.weight, plain.classifier.weight, atol=1e-4)


def test_strategy_adding_loss_terms_in_its_own_training_loop_is_refused(batch):
    with pytest.raises(ConfigError, match="DER adds loss terms in its own training_epoch"):
        train(TinyDetector(RHO), batch, template=DER, mem_size=8)
