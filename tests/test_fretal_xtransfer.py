"""FReTAL and X-Transfer: their mechanisms act (frozen teacher, extra losses from the second task on,
crossed routes reaching both networks), their documented options do what they say, and detectors
without features are refused by name."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

import strategies
from benchmark import detectors
from benchmark.detectors.base import Detector
from benchmark.errors import ConfigError
from benchmark.losses import fake_logit, pairwise_auc_loss
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup
from strategies.fretal import OppositeLabelCutMix, distillation_loss
from strategies.xtransfer import TwinNetworks

SETUP = TrainSetup(TrainConfig(epochs=1, batch_size=16), torch.device("cpu"))


class Spy(SupervisedPlugin):
    """Calls ``record(strategy, event)`` at the start of each task and after each backward pass."""

    def __init__(self, record):
        super().__init__()
        self.record = record

    def before_training_exp(self, strategy, **kwargs):
        self.record(strategy, "task")

    def after_backward(self, strategy, **kwargs):
        self.record(strategy, "backward")


def train_tasks(scenario, name, record=None, **params):
    """Train ``name`` on the tiny two-task scenario; returns the strategy and the state after each task."""
    torch.manual_seed(0)
    strategy = strategies.create(name, detectors.create("smallcnn"), SETUP, **params)
    if record:
        strategy.plugins.append(Spy(record))
    states = []
    for experience in training_stream(scenario):
        strategy.train(experience)
        states.append({k: v.clone() for k, v in strategy.model.state_dict().items()})
    return strategy, states


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fretal_teacher_stays_frozen_and_extra_losses_start_with_the_second_task(two_task_scenario):
    seen = {"teachers": [], "steps": []}

    def record(strategy, event):
        if event == "task":
            seen["teachers"].append(strategy.teacher)
        else:
            task_loss = F.cross_entropy(strategy.mb_output, strategy.mb_y).item()
            seen["steps"].append((strategy.clock.train_exp_counter, strategy.loss.item() - task_loss,
                                  strategy.kd_loss.item(), strategy.representation_loss.item()))

    strategy, (after_first, after_second) = train_tasks(two_task_scenario, "fretal", record)
    first, second = [s for s in seen["steps"] if s[0] == 0], [s for s in seen["steps"] if s[0] == 1]
    assert first and all(extra == 0 for _, extra, _, _ in first)  # the first task is plain training
    assert all(extra == pytest.approx(kd + rel, rel=1e-4) and kd > 0 for _, extra, kd, rel in second)
    assert any(rel > 0 for *_, rel in second)

    assert seen["teachers"][0] is None
    teacher = seen["teachers"][1]  # the teacher of the second task: the model after the first, frozen
    assert same_state(teacher.state_dict(), after_first) and not same_state(after_first, after_second)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert same_state(strategy.teacher.state_dict(), after_second)  # the next task's teacher


def test_fretal_code_form_shifts_the_kd_value_by_a_constant_and_keeps_its_gradient():
    generator = torch.Generator().manual_seed(0)
    teacher, labels = torch.randn(8, 2, generator=generator) * 3, torch.randint(0, 2, (8,), generator=generator)
    values, gradients = {}, {}
    for form in ("paper", "code"):
        student = (torch.randn(8, 2, generator=torch.Generator().manual_seed(1)) * 3).requires_grad_()
        loss = distillation_loss(student, teacher, F.cross_entropy(student, labels), 20.0, 0.5, form)
        loss.backward()
        values[form], gradients[form] = loss.item(), student.grad
    weight = 0.5 * 20.0 ** 2
    assert values["code"] - values["paper"] == pytest.approx(weight * math.log(weight), rel=1e-4)
    assert torch.allclose(gradients["code"], gradients["paper"], atol=1e-6)


@pytest.mark.parametrize("batchnorm_eval", [False, True])
def test_fretal_batchnorm_eval_freezes_running_statistics_once_a_teacher_exists(two_task_scenario, batchnorm_eval):
    _, (after_first, after_second) = train_tasks(two_task_scenario, "fretal", batchnorm_eval=batchnorm_eval)
    stats = [k for k in after_first if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(after_first[k], after_second[k]) == batchnorm_eval for k in stats)


def test_opposite_label_cutmix_pastes_one_box_taken_from_images_of_the_other_label():
    labels = torch.tensor([0, 1] * 4)
    original = labels.float()[:, None, None, None].expand(8, 3, 16, 16).contiguous()  # real = 0, fake = 1
    pasted = 0
    torch.manual_seed(0)
    for _ in range(10):
        batch = SimpleNamespace(mb_x=original.clone(), mb_y=labels)
        OppositeLabelCutMix(probability=1.0).before_forward(batch)
        changed = batch.mb_x != original
        boxes = {tuple(torch.nonzero(c.any(0)).unique(dim=0).flatten().tolist()) for c in changed if c.any()}
        assert len(boxes) <= 1  # one box, the same for every image that received it
        for image, label, mask in zip(batch.mb_x, labels, changed):
            assert torch.all(image[mask] == 1 - label)
            rows, cols = mask.any(0).any(1), mask.any(0).any(0)
            assert mask.sum() == 3 * rows.sum() * cols.sum()  # a full rectangle on every channel
        pasted += bool(boxes)
    assert pasted > 0


def test_xtransfer_crossed_routes_feed_each_network_through_the_other():
    torch.manual_seed(0)
    twins = TwinNetworks(detectors.create("smallcnn"), "ensemble")
    images, labels = torch.rand(6, 3, 16, 16), torch.tensor([0, 1] * 3)
    through_adapter_head, through_anchor_head = twins.routes(images)["cross"]
    F.cross_entropy(through_adapter_head, labels).backward()
    reached = {name for name, p in twins.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {n for n, _ in twins.anchor.body.named_parameters(prefix="anchor.body")} <= reached
    assert {n for n, _ in twins.adapter.classifier.named_parameters(prefix="adapter.classifier")} <= reached
    assert not any(name.startswith(("adapter.body", "anchor.classifier")) for name in reached)
    twins.zero_grad(set_to_none=True)
    F.cross_entropy(through_anchor_head, labels).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in [*twins.adapter.body.parameters(), *twins.anchor.classifier.parameters()])


def test_xtransfer_trains_both_networks_on_every_route_and_the_anchor_only_by_its_fraction(two_task_scenario):
    steps = []

    def record(strategy, event):
        if event == "backward":
            networks = strategy.model.anchor, strategy.model.adapter
            steps.append((set(strategy.route_losses), [all(p.grad.abs().sum() > 0 for p in net.parameters())
                                                       for net in networks]))

    _, states = train_tasks(two_task_scenario, "xtransfer", record, anchor_lr_scale=0.0)
    assert steps and all(routes == {"anchor", "adapter", "cross"} and grads == [True, True] for routes, grads in steps)
    anchor, adapter = ([twin(state, name) for state in states] for name in ("anchor.", "adapter."))
    assert anchor[0] and same_state(anchor[0], adapter[0])  # the first task moves both networks alike
    assert same_state(anchor[0], anchor[1]) and not same_state(adapter[0], adapter[1])  # fraction 0: anchor still


def twin(state: dict, prefix: str) -> dict:
    """One network's weights and BatchNorm statistics (not BatchNorm's batch counter), without the prefix."""
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix) and v.is_floating_point()}


def test_xtransfer_route_loss_is_task_loss_plus_weighted_auc_loss_and_routes_are_balanced(two_task_scenario):
    torch.manual_seed(0)
    images, labels = torch.rand(8, 3, 16, 16), torch.tensor([0, 1] * 4)
    losses = {}
    for weight, balance in ((0.0, "equal"), (2.0, "equal"), (2.0, "loss")):
        strategy = strategies.create("xtransfer", detectors.create("smallcnn"), SETUP, auc_weight=weight,
                                     balance=balance)
        strategy.mbatch, strategy.is_training = [images, labels, torch.zeros(8)], True
        logits = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
        losses[weight, balance] = strategy.route_loss(logits).item()
        strategy.mb_output = strategy.forward()
        total, routes = strategy.criterion().item(), list(strategy.route_losses.values())
        expected = sum(r * r for r in routes) / sum(routes) if balance == "loss" else sum(routes) / 3
        assert total == pytest.approx(expected, rel=1e-5)
    auc = pairwise_auc_loss(fake_logit(logits), labels, 0.6, 2.0).item()
    assert auc > 0 and losses[0.0, "equal"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)
    assert losses[2.0, "equal"] - losses[0.0, "equal"] == pytest.approx(2 * auc, rel=1e-5)


def test_xtransfer_prediction_option_chooses_the_scored_model():
    torch.manual_seed(0)
    twins = TwinNetworks(detectors.create("smallcnn"), "ensemble").eval()
    with torch.no_grad():
        twins.adapter.classifier.bias += torch.tensor([1.0, -1.0])
        images = torch.rand(4, 3, 16, 16)
        anchor, adapter, ensemble = twins.anchor(images), twins.adapter(images), twins(images)
        assert torch.allclose(ensemble.softmax(1), (anchor.softmax(1) + adapter.softmax(1)) / 2, atol=1e-6)
        for prediction, expected in (("anchor", anchor), ("adapter", adapter)):
            twins.prediction = prediction
            assert torch.equal(twins(images), expected)


class LogitsOnly(Detector):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x.mean((2, 3)))


@pytest.mark.parametrize("name", ["fretal", "xtransfer"])
def test_detectors_without_features_are_refused_by_name(name):
    with pytest.raises(ConfigError, match=rf"{name}.*LogitsOnly lacks features\(x\) and a classifier module"):
        strategies.create(name, LogitsOnly(), SETUP)


@pytest.mark.parametrize("name,params,field", [
    ("fretal", {"kd_form": "textbook"}, "kd_form"), ("fretal", {"alpha": 2}, "alpha"),
    ("fretal", {"batchnorm_eval": "yes"}, "batchnorm_eval"), ("xtransfer", {"prediction": "both"}, "prediction"),
    ("xtransfer", {"balance": "dynamic"}, "balance"), ("xtransfer", {"anchor_lr_scale": 2}, "anchor_lr_scale")])
def test_bad_options_are_named(name, params, field):
    with pytest.raises(ConfigError, match=rf"{name}: .*{field}"):
        strategies.create(name, detectors.create("smallcnn"), SETUP, **params)


def test_xtransfer_refuses_a_detector_whose_loss_reads_its_own_forward_outputs():
    model = detectors.create("cmfl", **detectors.REGISTRY.small_params("cmfl"))
    with pytest.raises(ConfigError, match="xtransfer.*CMFLDetector's loss also needs its other outputs"):
        strategies.create("xtransfer", model, TrainSetup(TrainConfig(), torch.device("cpu")))


@pytest.mark.parametrize("name", strategies.available())
def test_every_strategy_keeps_the_detectors_own_training_procedure(name):
    """clip-mlp trains under SAM whatever the strategy, X-Transfer's two networks included, or is refused."""
    from benchmark.sam import SharpnessAwareMinimisation

    model = detectors.create("clip-mlp", **detectors.REGISTRY.small_params("clip-mlp"))
    try:
        strategy = strategies.create(name, model, SETUP, **strategies.REGISTRY.small_params(name))
    except ConfigError:
        pytest.skip(f"{name} refuses clip-mlp")
    assert sum(isinstance(p, SharpnessAwareMinimisation) for p in strategy.plugins) == 1
