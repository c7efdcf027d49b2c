"""Every registered strategy runs a tiny two-task scenario to a valid result file; the bounds do what
they claim (naive trains on the current task only, joint on everything seen so far)."""

import pytest
import torch
from avalanche.training.plugins import SupervisedPlugin

import strategies
from benchmark import detectors, results
from benchmark.errors import ConfigError
from benchmark.registry import Registry
from benchmark.runner import RunRequest, run
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup


@pytest.mark.parametrize("name", strategies.available())
def test_every_strategy_runs_two_tasks_to_a_valid_result(name, two_task_scenario, tmp_path):
    small = strategies.REGISTRY.small_params(name)
    outcome, = run(RunRequest(scenario="tiny", strategy=name, seeds=[0], results_dir=tmp_path, strategy_params=small),
                   scenario=two_task_scenario)
    result = results.load(outcome.path)
    assert outcome.status == "done" and result["strategy"]["name"] == name
    assert len(result["matrices"]["auc"]) == 2 and result["summary"]["auc"]["forgetting"] is not None
    assert result["strategy"]["params"] == strategies.REGISTRY.params(name, small)


class DatasetSizes(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def before_training_exp(self, strategy, **kwargs):
        self.sizes.append(len(strategy.adapted_dataset))


@pytest.mark.parametrize("name,expected", [("naive", [48, 48]), ("joint", [48, 96])])
def test_lower_bound_sees_one_task_and_upper_bound_all_seen(name, expected, two_task_scenario):
    torch.manual_seed(0)
    model = detectors.create("smallcnn")
    before = [p.detach().clone() for p in model.parameters()]
    strategy = strategies.create(name, model, TrainSetup(TrainConfig(epochs=1, batch_size=16), torch.device("cpu")))
    sizes = DatasetSizes()
    strategy.plugins.append(sizes)
    for experience in training_stream(two_task_scenario):
        strategy.train(experience)
    assert sizes.sizes == expected
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_registering_a_name_twice_is_an_error():
    registry = Registry("strategy")
    registry.register("x")(lambda model, setup: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("x")(lambda model, setup: None)


def test_unknown_strategy_is_named_with_the_alternatives():
    with pytest.raises(ConfigError, match="unknown strategy 'ewk'; available: .*naive"):
        strategies.create("ewk", None, None)
