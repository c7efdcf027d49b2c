"""Probe summaries against hand-computed examples, and the result-file check of the probe block: an edited
cell or summary is caught, a malformed block is named, and files without the block stay valid."""

import copy

import numpy as np
import pytest

from benchmark import metrics, readout, results
from benchmark.errors import ResultError
from conftest import make_result, write_result
from probed_results import make_probed_result

R = [[0.90, 0.50, 0.50],
     [0.60, 0.95, 0.50],
     [0.55, 0.70, 0.97]]
P = [[0.92, 0.60, 0.60],
     [0.90, 0.96, 0.60],
     [0.88, 0.93, 0.97]]


def test_summaries_of_a_detector_that_forgets_in_its_head():
    summary = readout.summarise(P, [0.5, 0.55, 0.6], R)
    # per-task forgetting: R (0.90 − 0.55, 0.95 − 0.70) = (0.35, 0.25); P (0.92 − 0.88, 0.96 − 0.93) = (0.04, 0.03)
    assert readout.task_forgetting(R) == pytest.approx([0.35, 0.25])
    assert summary["forgetting"] == pytest.approx((0.04 + 0.03) / 2)
    assert summary["average"] == pytest.approx((0.88 + 0.93 + 0.97) / 3)
    assert summary["bwt"] == pytest.approx(-(0.04 + 0.03) / 2)
    assert summary["fwt"] == pytest.approx(((0.60 - 0.55) + (0.60 - 0.6)) / 2)
    assert summary["readout_gap"] == pytest.approx(((0.88 - 0.55) + (0.93 - 0.70)) / 2)
    assert summary["readout_forgetting"] == pytest.approx(0.30 - 0.035)
    assert summary["readout_share"] == pytest.approx((0.31 + 0.22) / 0.60)
    assert readout.gap(P, R)[2, 0] == pytest.approx(0.33)


def test_share_counts_nothing_where_the_probe_forgot_more_and_all_where_it_improved():
    r = [[0.90, 0.5, 0.5], [0.80, 0.90, 0.5], [0.70, 0.80, 0.9]]  # F_R = (0.2, 0.1)
    p = [[0.90, 0.5, 0.5], [0.80, 0.90, 0.5], [0.60, 0.92, 0.9]]  # F_P = (0.3, −0.02)
    summary = readout.summarise(p, [0.5] * 3, r)
    assert summary["readout_share"] == pytest.approx((0 + 0.1) / 0.3)
    assert summary["readout_forgetting"] == pytest.approx(0.15 - 0.14)
    assert summary["readout_gap"] == pytest.approx(((0.60 - 0.70) + (0.92 - 0.80)) / 2)


def test_share_is_undefined_when_the_detector_barely_forgets_and_everything_but_average_for_one_task():
    r = [[0.90, 0.5, 0.5], [0.895, 0.90, 0.5], [0.895, 0.89, 0.9]]  # F_R = (0.005, 0.01): mean below the floor
    assert readout.summarise(r, [0.5] * 3, r)["readout_share"] is None
    single = readout.summarise([[0.8]], [0.5], [[0.7]])
    assert single["average"] == pytest.approx(0.8)
    assert all(single[key] is None for key in readout.SUMMARIES if key != "average")


def test_representation_forgetting_is_metrics_forgetting_of_the_probe_matrix():
    rng = np.random.default_rng(0)
    p, r = rng.uniform(0.5, 1, (4, 4)), rng.uniform(0.5, 1, (4, 4))
    summary = readout.summarise(p, rng.uniform(0.4, 0.6, 4), r)
    assert summary["forgetting"] == pytest.approx(metrics.forgetting(p))
    assert summary["readout_forgetting"] == pytest.approx(metrics.forgetting(r) - metrics.forgetting(p))


def test_a_result_with_a_probe_block_round_trips(tmp_path):
    path = write_result(tmp_path, make_probed_result(R, P))
    loaded = results.load(path)
    assert loaded["probe"]["matrices"]["auc"] == P
    assert loaded["probe"]["summary"]["auc"]["readout_gap"] == pytest.approx(0.28)


def test_files_without_the_block_stay_valid():
    results.validate(make_result(R))


@pytest.mark.parametrize("edit, field", [
    (lambda b: b["matrices"]["auc"][2].__setitem__(0, 0.99), "probe.summary.auc.average"),
    (lambda b: b["matrices"]["acc"][0].__setitem__(0, 0.99), "probe.summary.acc.forgetting"),
    (lambda b: b["summary"]["auc"].__setitem__("readout_gap", 0.0), "probe.summary.auc.readout_gap"),
    (lambda b: b["matrices"]["auc"].pop(), "probe.matrices.auc must be 3×3"),
    (lambda b: b["matrices"]["auc"][1].__setitem__(1, 1.5), "probe.matrices.auc must be 3×3 scores in [0, 1]"),
    (lambda b: b["initial"].pop("acc"), "probe.initial.acc"),
    (lambda b: b.pop("chosen_C"), "probe.chosen_C is missing"),
])
def test_an_edited_or_malformed_block_is_caught(edit, field):
    result = make_probed_result(R, P)
    edit(result["probe"])
    with pytest.raises(ResultError, match="demo.json: " + field.replace(".", r"\.").replace("[", r"\[")):
        results.validate(result, "demo.json")


def test_an_edited_detector_cell_breaks_the_probe_summaries_that_read_it():
    result = make_probed_result(R, P)
    edited = copy.deepcopy(result)
    edited["matrices"]["auc"][2][0] = 0.60
    edited["summary"]["auc"] = metrics.summarise(edited["matrices"]["auc"], edited["initial"]["auc"])
    with pytest.raises(ResultError, match=r"probe\.summary\.auc\.readout_gap"):
        results.validate(edited)
