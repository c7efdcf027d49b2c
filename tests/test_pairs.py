"""Every (detector, strategy) pair of both registries: it runs the tiny two-task scenario to a valid result
file, or refuses with a message naming the detector or the strategy. Entries added later are covered by
being registered; each runs at its registry's ``small_params`` so that heavy ones stay CPU-sized."""

import math

import pytest

import strategies
from benchmark import detectors, results
from benchmark.errors import DfclError
from benchmark.runner import RunRequest, run


PAIRS = [(detector, strategy) for detector in detectors.available() for strategy in strategies.available()]


@pytest.mark.parametrize("detector,strategy", PAIRS)
def test_pair_runs_to_a_valid_result_or_refuses_clearly(detector, strategy, two_task_scenario, tmp_path):
    detector_params = detectors.REGISTRY.small_params(detector)
    request = RunRequest(scenario="tiny", strategy=strategy, detector=detector, seeds=[0], results_dir=tmp_path,
                         detector_params=detector_params, strategy_params=strategies.REGISTRY.small_params(strategy),
                         save_scores=False)
    try:
        outcome, = run(request, scenario=two_task_scenario)
    except DfclError as refusal:
        assert detector in str(refusal) or strategy in str(refusal), f"the refusal names neither: {refusal}"
        pytest.skip(f"{detector} × {strategy} refused: {refusal}")
    result = results.load(outcome.path)  # checks the schema and that the summaries follow from the matrices
    params = results.jsonable(detectors.REGISTRY.params(detector, detector_params))
    assert result["detector"] == {"name": detector, "label": detectors.describe(detector, params), "params": params}
    assert result["strategy"]["name"] == strategy
    assert all(0 <= value <= 1 and math.isfinite(value) for row in result["matrices"]["auc"] for value in row)
    assert len(result["matrices"]["auc"]) == 2 and result["summary"]["auc"]["forgetting"] is not None
