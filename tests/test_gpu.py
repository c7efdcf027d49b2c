"""The CUDA path: a run on the GPU records the device and its memory (skipped without CUDA)."""

import pytest
import torch

from benchmark import results
from benchmark.runner import RunRequest, run

pytestmark = pytest.mark.gpu


def test_run_on_cuda_records_device_and_memory(two_task_scenario, tmp_path):
    outcome, = run(RunRequest(scenario="tiny", strategy="naive", seeds=[0], device="cuda", results_dir=tmp_path),
                   scenario=two_task_scenario)
    result = results.load(outcome.path)
    assert result["provenance"]["device"].startswith("cuda:")
    assert result["provenance"]["cuda"] == torch.version.cuda
    assert 0 < result["provenance"]["peak_memory_mb"] < torch.cuda.get_device_properties(0).total_memory / 2**20


def test_auto_device_picks_cuda_when_present():
    from benchmark.runner import resolve_device
    assert resolve_device("auto").type == "cuda"
