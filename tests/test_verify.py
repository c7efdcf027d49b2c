"""`dfcl verify` checks a result file without rerunning it, and the leaderboard, tables and plots refuse what it
rejects: tried as a new user would, on a copy of committed results, an edited matrix cell that no summary uses,
an edited AP cell, a config edited after the run and a missing data fingerprint are all caught, each named
by file and field; what cannot be checked (no raw scores, not the published data) is shown as unverified."""

import json
import math
import shutil

import pytest
import yaml

from benchmark import leaderboard, results, verify
from benchmark.cli import main
from benchmark.errors import ResultError
from benchmark.runner import RunRequest, run
from benchmark.selection import select
from conftest import REPO

RUN = "synthetic/naive--smallcnn"


@pytest.fixture
def copied(tmp_path):
    """A copy of the committed naive--smallcnn results (3 seeds, with raw scores) to tamper with."""
    shutil.copytree(REPO / "results" / RUN, tmp_path / "results" / RUN)
    return tmp_path / "results"


def edit(path, change) -> None:
    result = json.loads(path.read_text())
    change(result)
    path.write_text(json.dumps(result))


def rejected_fields(path) -> list[str]:
    return [p.field for p in verify.check(path).rejected]


def test_every_committed_result_verifies():
    reports = verify.check_all(results.find(REPO / "results"))
    assert reports and [str(p) for r in reports for p in r.problems] == []


@pytest.mark.parametrize("value", [0.99, math.nan])
def test_an_edited_cell_that_no_summary_uses_is_caught_everywhere(copied, value, capsys):
    seed1 = copied / RUN / "seed1.json"
    edit(seed1, lambda r: r["matrices"]["auc"][0].__setitem__(3, value))  # R[0][3]: in no summary
    assert results.load(seed1)  # the schema alone cannot see it
    assert rejected_fields(seed1) == ["matrices.auc[0][3]"]
    for refused in (lambda: leaderboard.render(copied, copied.parent / "board.md"),
                    lambda: select(copied, "synthetic")):  # tables, plots and compare select their results here
        with pytest.raises(ResultError, match=r"seed1\.json: matrices\.auc\[0\]\[3\]: .* but its raw scores"):
            refused()
    assert main(["plot", "--results-dir", str(copied), "--output", str(copied.parent / "figures")]) == 2
    assert "matrices.auc[0][3]" in capsys.readouterr().err


def test_edited_ap_and_eer_cells_are_caught(copied):
    seed0 = copied / RUN / "seed0.json"
    edit(seed0, lambda r: (r["matrices"]["ap"][2].__setitem__(2, 0.5), r["initial"]["eer"].__setitem__(0, 0.1)))
    assert rejected_fields(seed0) == ["initial.eer[0]", "matrices.ap[2][2]"]


@pytest.mark.parametrize("how", ["deleted", "null"])
def test_a_result_without_its_data_fingerprint_is_rejected(copied, how):
    seed0 = copied / RUN / "seed0.json"
    edit(seed0, lambda r: r["provenance"].pop("data_fingerprint") if how == "deleted"
         else r["provenance"].__setitem__("data_fingerprint", None))
    assert rejected_fields(seed0) == ["provenance.data_fingerprint"]
    with pytest.raises(ResultError, match="provenance.data_fingerprint"):
        leaderboard.render(copied, copied.parent / "board.md")


def test_an_edited_config_summary_or_parameter_is_rejected_with_every_field(copied):
    seed2 = copied / RUN / "seed2.json"

    def tamper(result):
        result["config"]["train"]["epochs"] = 50
        result["summary"]["auc"]["average"] = 0.99
        result["detector"]["params"]["widths"] = [8, 8, 8, 8]
    edit(seed2, tamper)
    assert rejected_fields(seed2) == ["summary.auc.average", "provenance.config_hash", "detector.params"]


def test_a_foreign_scores_file_is_rejected(copied):
    run = copied / RUN
    shutil.copy(results.scores_path(run / "seed1.json"), results.scores_path(run / "seed0.json"))
    assert "matrices.auc[0][0]" in rejected_fields(run / "seed0.json")


def test_what_cannot_be_checked_is_unverified_shown_with_a_cross_and_fails_verify(copied, capsys):
    seed0 = copied / RUN / "seed0.json"
    results.scores_path(seed0).unlink()
    report = verify.check(seed0)
    assert not report.rejected and [p.check for p in report.unverified] == ["scores"]
    text = leaderboard.render(copied, copied.parent / "board.md")
    assert text.count("| ✗ (scores) |") == 1 and "no raw scores to recompute the matrices from" in text
    assert main(["verify", str(copied)]) == 1
    out = capsys.readouterr().out
    assert f"✗ {seed0}\n    unverified: seed0.scores.npz: no raw scores" in out
    assert "2 of 3 result file(s) verified" in out


def test_data_that_are_not_the_published_data_are_unverified_and_say_why(copied):
    seed0 = copied / RUN / "seed0.json"

    def smaller(result):
        result["config"]["scenario"]["params"]["n_train"] = 24
        result["scenario"]["fingerprint"] = result["provenance"]["data_fingerprint"] = "sha256:other"
        result["provenance"]["config_hash"] = results.config_hash(result["config"])
    edit(seed0, smaller)
    problem, = verify.check(seed0).problems
    assert problem.kind == verify.UNVERIFIED and problem.field == "scenario.fingerprint"
    assert "not the published data, its scenario params differ from synthetic.yaml's (n_train 24 vs 2000)" in \
        problem.message


def test_what_the_runner_writes_verifies(two_task_scenario, two_task_yaml, tmp_path, capsys):
    outcome, = run(RunRequest(scenario="tiny", strategy="replay", seeds=[0], results_dir=tmp_path / "results",
                              strategy_params={"mem_size": 8}), scenario=two_task_scenario)
    recorded = outcome.result["provenance"]
    assert recorded["packages"]["strategy"] == {"package": "dfcl-bench", "version": recorded["dfcl_version"]}
    assert recorded["resources"] == {"memory": "8 images", "pretraining": None, "extra_data": None}
    unpublished, = verify.check(outcome.path).problems  # the tiny scenario publishes no fingerprint
    assert unpublished.check == "data" and "tiny version 1 is not a published scenario" in unpublished.message
    published = tmp_path / "tiny.yaml"
    published.write_text(yaml.safe_dump({**yaml.safe_load(two_task_yaml.read_text()),
                                         "fingerprint": two_task_scenario.fingerprint}))
    assert main(["verify", str(tmp_path / "results"), "--scenario", str(published)]) == 0
    assert "1 of 1 result file(s) verified" in capsys.readouterr().out
    text = leaderboard.render(tmp_path / "results", tmp_path / "board.md")
    assert "| 8 images | none | none | built in | ✗ (data) |" in text
