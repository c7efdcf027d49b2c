"""Training settings: validated with named fields; the learning rate decays within each task and restarts."""

import math

import pytest
import torch

import strategies
from benchmark import detectors
from benchmark.errors import ConfigError
from benchmark.stream import training_stream
from benchmark.training import CosinePerTask, TrainConfig, TrainSetup


def test_settings_are_converted_and_bad_ones_named():
    assert TrainConfig.from_dict({"epochs": "3", "lr": "0.01", "reset_optimizer": "false"}) == TrainConfig(
        epochs=3, lr=0.01, reset_optimizer=False)
    with pytest.raises(ConfigError, match="unknown training setting.*'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="train.optimizer: 'adagrad'"):
        TrainConfig.from_dict({"optimizer": "adagrad"})
    with pytest.raises(ConfigError, match="train.batch_size: expected an integer"):
        TrainConfig.from_dict({"batch_size": "many"})


def test_cosine_schedule_restarts_at_every_task(two_task_scenario):
    torch.manual_seed(0)
    setup = TrainSetup(TrainConfig(epochs=2, batch_size=16, lr=0.1), torch.device("cpu"))
    strategy = strategies.create("naive", detectors.create("smallcnn"), setup)
    seen = []
    strategy.plugins.append(type("Spy", (CosinePerTask,), {
        "__init__": lambda self: CosinePerTask.__init__(self, 0.1),
        "before_training_iteration": lambda self, s, **k: seen.append(s.optimizer.param_groups[0]["lr"])})())
    for experience in training_stream(two_task_scenario):
        strategy.train(experience)
    per_task = len(seen) // 2  # 48 samples / 16 per batch × 2 epochs = 6 iterations a task
    assert per_task == 6
    for task in range(2):
        lrs = seen[task * per_task:(task + 1) * per_task]
        assert lrs[0] == pytest.approx(0.1)
        assert all(a > b for a, b in zip(lrs, lrs[1:]))
        assert lrs[-1] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))


def test_scoring_leaves_the_global_random_state_alone(two_task_scenario):
    """Evaluating between tasks must not shift the next task's training batches (paired strategies)."""
    from benchmark.evaluation import evaluate_row

    model = detectors.create("smallcnn")
    before = torch.get_rng_state()
    evaluate_row(model, [task.test for task in two_task_scenario.tasks], torch.device("cpu"), batch_size=8)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_last_batch_of_one_image_is_dropped_so_batchnorm_can_train(two_task_scenario):
    """48 training images in batches of 47 leave one alone, which BatchNorm cannot normalise in training."""
    setup = TrainSetup(TrainConfig(epochs=2, batch_size=47), torch.device("cpu"))
    strategy = strategies.create("naive", detectors.create("efficientnet_lite0", pretrained=False, tiny=True), setup)
    experience = next(iter(training_stream(two_task_scenario)))
    strategy.train(experience)
    assert strategy.clock.train_exp_iterations == 2  # one full batch per epoch, the lone image left out
    setup = TrainSetup(TrainConfig(epochs=1, batch_size=46), torch.device("cpu"))
    strategy = strategies.create("naive", detectors.create("smallcnn"), setup)
    strategy.train(experience)
    assert strategy.clock.train_exp_iterations == 2  # 46 + 2: nothing dropped
