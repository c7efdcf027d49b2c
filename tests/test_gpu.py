"""The CUDA path (skipped without CUDA): a run on the GPU records the device, its precision and its memory per
task; every strategy × detector pair trains one tiny task under autocast; crops made on the GPU are the
ones the CPU makes from the same draws."""

import dataclasses
import math

import pytest
import torch

import strategies
from benchmark import data_cache, detectors, results
from benchmark.errors import DfclError
from benchmark.runner import RunRequest, run

pytestmark = pytest.mark.gpu

#: every pair in the device's default mixed precision; fp16's loss scaling with every strategy on smallcnn
DEFAULT = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp16"
PAIRS = [(detector, strategy, DEFAULT) for detector in detectors.available() for strategy in strategies.available()]
PAIRS += [("smallcnn", strategy, "fp16") for strategy in strategies.available() if DEFAULT != "fp16"]


def test_run_on_cuda_records_device_precision_and_memory(two_task_scenario, tmp_path):
    outcome, = run(RunRequest(scenario="tiny", strategy="naive", seeds=[0], device="cuda", results_dir=tmp_path),
                   scenario=two_task_scenario)
    result = results.load(outcome.path)
    total = torch.cuda.get_device_properties(0).total_memory / 2**20
    assert result["provenance"]["device"].startswith("cuda:")
    assert result["provenance"]["cuda"] == torch.version.cuda
    assert 0 < result["provenance"]["peak_memory_mb"] < total
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    assert result["provenance"]["precision"]["precision"] == expected
    assert result["provenance"]["precision"]["cudnn_benchmark"] is True
    peaks = result["memory"]["peak_mb_per_task"]
    assert len(peaks) == 2 and all(0 < p <= result["provenance"]["peak_memory_mb"] for p in peaks)
    assert result["provenance"]["loader"]["pin_memory"] is True


def test_auto_device_picks_cuda_when_present():
    from benchmark.runner import resolve_device
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("detector,strategy,precision", PAIRS)
def test_every_pair_trains_a_tiny_task_under_autocast(detector, strategy, precision, two_task_scenario, tmp_path):
    one_task = dataclasses.replace(two_task_scenario, tasks=two_task_scenario.tasks[:1])
    request = RunRequest(scenario="tiny", strategy=strategy, detector=detector, seeds=[0], device="cuda",
                         precision=precision, results_dir=tmp_path, save_scores=False,
                         detector_params=detectors.REGISTRY.small_params(detector),
                         strategy_params=strategies.REGISTRY.small_params(strategy))
    try:
        outcome, = run(request, scenario=one_task)
    except DfclError as refusal:
        assert detector in str(refusal) or strategy in str(refusal), f"the refusal names neither: {refusal}"
        pytest.skip(f"{detector} × {strategy} refused: {refusal}")
    result = outcome.result
    assert result["config"]["precision"] == precision
    assert all(math.isfinite(v) for v in result["training"]["loss_per_epoch"][0])
    assert all(0 <= v <= 1 for row in result["matrices"]["auc"] for v in row if v is not None)


def test_crops_on_the_gpu_are_the_cpus():
    view = data_cache.RandomCropFlip(24, hflip=True)
    images = torch.randint(0, 256, (32, 3, 30, 20), dtype=torch.uint8)
    draws = view.draw(32, 30, 20, torch.Generator().manual_seed(0))
    on_gpu = view.apply(images.cuda(), *draws)
    assert on_gpu.device.type == "cuda" and torch.equal(on_gpu.cpu(), view.apply(images, *draws))
