"""The real-data path end to end on the CNNDetection fixture in ../shared (skipped when it is absent)."""

import numpy as np
import pytest

from benchmark import results
from benchmark.runner import RunRequest, run
from conftest import SHARED_DATA

FIXTURE = SHARED_DATA / "cnndetection-ranking"
pytestmark = pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"fixture {FIXTURE} not present")


def test_cnndetection_mini_runs_end_to_end(tmp_path):
    outcome, = run(RunRequest(scenario="cnndetection-mini", strategy="naive", seeds=[0], data_root=str(SHARED_DATA),
                              results_dir=tmp_path, train={"epochs": 1}))
    result = results.load(outcome.path)
    assert result["scenario"]["tasks"] == ["gaugan", "biggan", "cyclegan", "imle", "deepfake"]
    assert result["test_sizes"] == [8] * 5  # 20 % of 20 real + 20 fake per family
    auc = np.array(result["matrices"]["auc"], dtype=float)
    assert auc.shape == (5, 5) and np.isfinite(auc).all() and ((0 <= auc) & (auc <= 1)).all()
    assert result["scenario"]["fingerprint"].startswith("sha256:")
