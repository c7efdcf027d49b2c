"""The leaderboard is generated from result files only, aggregates seeds honestly, refuses to mix
incomparable runs, and the committed one is fresh."""

from pathlib import Path

import numpy as np
import pytest

from benchmark import leaderboard, results
from benchmark.cli import main
from benchmark.errors import ResultError
from conftest import REPO, make_result, write_result

GOOD = [[0.9, 0.5], [0.85, 0.95]]
BAD = [[0.9, 0.5], [0.60, 0.95]]


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| Rank")]


def test_rows_are_ranked_with_mean_and_sample_std_over_seeds(tmp_path):
    for seed, final in enumerate([0.60, 0.70, 0.80]):
        write_result(tmp_path, make_result([[0.9, 0.5], [final, 0.95]], strategy="naive", seed=seed))
    write_result(tmp_path, make_result(GOOD, strategy="joint", seed=0))
    output = tmp_path / "board.md"
    text = leaderboard.write(tmp_path, output)
    rows = table_rows(text)
    assert [r[1].split("]")[0].strip("[") for r in rows] == ["joint", "naive"]
    naive = rows[1]
    assert naive[3] == "3 (0, 1, 2)"
    averages = [(0.60 + 0.95) / 2, (0.70 + 0.95) / 2, (0.80 + 0.95) / 2]
    assert naive[4] == f"{np.mean(averages):.3f} ± {np.std(averages, ddof=1):.3f}"
    forgetting = [0.9 - f for f in (0.60, 0.70, 0.80)]
    assert naive[5] == f"{np.mean(forgetting):.3f} ± {np.std(forgetting, ddof=1):.3f}"
    assert rows[0][4] == "0.900"  # one seed: no spread to report
    assert "(naive--smallcnn/)" in naive[1] or "naive--smallcnn/" in naive[1]
    assert "positive means forgotten" in text and "do not edit by hand" in text


def test_a_row_shows_the_detector_as_the_run_described_it(tmp_path):
    result = make_result(GOOD, detector="cmfl")
    result["detector"]["label"] = "cmfl encoder=small"
    write_result(tmp_path, result)
    write_result(tmp_path, make_result(GOOD, strategy="joint", detector="smallcnn"))  # older files: no label
    rows = {r[1].split("]")[0].strip("["): r[2] for r in table_rows(leaderboard.render(tmp_path, tmp_path / "b.md"))}
    assert rows == {"naive": "cmfl encoder=small", "joint": "smallcnn"}


def test_seeds_from_different_configurations_are_refused(tmp_path):
    write_result(tmp_path, make_result(GOOD, seed=0, config_hash="sha256:a"))
    write_result(tmp_path, make_result(BAD, seed=1, config_hash="sha256:b"))
    with pytest.raises(ResultError, match="configurations that differ"):
        leaderboard.render(tmp_path, tmp_path / "board.md")


def test_results_on_different_data_are_refused(tmp_path):
    write_result(tmp_path, make_result(GOOD, strategy="naive", fingerprint="sha256:one"))
    write_result(tmp_path, make_result(GOOD, strategy="joint", fingerprint="sha256:two"))
    with pytest.raises(ResultError, match="data fingerprints"):
        leaderboard.render(tmp_path, tmp_path / "board.md")


def test_check_detects_a_stale_leaderboard(tmp_path, capsys):
    write_result(tmp_path, make_result(GOOD))
    board = tmp_path / "board.md"
    args = ["leaderboard", "--results-dir", str(tmp_path), "--output", str(board)]
    assert main(args + ["--check"]) == 1  # missing
    assert main(args) == 0
    assert main(args + ["--check"]) == 0
    write_result(tmp_path, make_result(BAD, seed=1))
    assert main(args + ["--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_committed_leaderboard_is_generated_from_committed_results(monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["leaderboard", "--check"]) == 0, "leaderboard.md is stale: run `dfcl leaderboard`"


def committed(strategy: str) -> list[dict]:
    paths = sorted((REPO / "results" / "synthetic" / f"{strategy}--smallcnn").glob("seed*.json"))
    return [results.load(p) for p in paths]


def test_committed_synthetic_results_show_the_scenario_properties():
    """What the README promises of the default scenario, checked on the committed `make run` results."""
    naive, joint = committed("naive"), committed("joint")
    assert len(naive) == 3 and len(joint) == 3
    assert np.mean([r["summary"]["auc"]["average"] for r in joint]) >= 0.85
    assert np.mean([r["summary"]["auc"]["forgetting"] for r in naive]) >= 0.10
    # trained on the first family alone, the detector is near chance on some other family
    after_first = np.array([r["matrices"]["auc"][0][1:] for r in naive])
    assert (np.abs(after_first.mean(axis=0) - 0.5) < 0.1).any()


def test_every_strategy_and_paper_detector_has_three_committed_seeds():
    """`make results` covers every registered strategy on smallcnn and the papers' detectors under naive
    and FReTAL; a strategy or detector added without its results fails here."""
    import strategies
    from benchmark import detectors

    expected = {f"{strategy}--smallcnn" for strategy in strategies.available()}
    expected |= {f"{strategy}--{detector}" for detector in ("cmfl", "hrr", "clip-mlp") for strategy in ("naive", "fretal")}
    assert set(detectors.available()) >= {"cmfl", "hrr", "clip-mlp"}
    for run in sorted(expected):
        seeds = sorted(p.name for p in (REPO / "results" / "synthetic" / run).glob("seed*.json"))
        assert seeds == ["seed0.json", "seed1.json", "seed2.json"], f"{run}: run `make results`"


REAL_STRATEGIES = ("naive", "joint", "lwf", "ewc", "replay", "der", "fretal")


@pytest.mark.parametrize("scenario", ["gan-trio", "fixtures-long"])
def test_the_real_image_scenarios_have_their_committed_rows(scenario):
    """Issue 10's set: the pretrained EfficientNet-Lite0 fine-tuned, its linear probe, and smallcnn on the
    same data, under seven strategies, three seeds each (`make results-real`)."""
    for detector in ("efficientnet_lite0", "linear-probe", "smallcnn"):
        for strategy in REAL_STRATEGIES:
            folder = REPO / "results" / scenario / f"{strategy}--{detector}"
            seeds = sorted(p.name for p in folder.glob("seed*.json"))
            assert seeds == ["seed0.json", "seed1.json", "seed2.json"], f"{folder}: run `make results-real`"
    pretrained = results.load(REPO / "results" / scenario / "naive--efficientnet_lite0" / "seed0.json")
    assert "ImageNet-1k" in pretrained["provenance"]["resources"]["pretraining"]


def test_the_order_sensitivity_runs_are_committed():
    for order in (1, 2):
        for strategy in ("naive", "lwf", "replay", "fretal"):
            folder = REPO / "results" / f"synthetic+order{order}" / f"{strategy}--smallcnn"
            assert sorted(p.name for p in folder.glob("seed*.json")) == ["seed0.json", "seed1.json", "seed2.json"]


def test_probe_columns_appear_with_probed_results_and_read_na_for_the_others(tmp_path):
    from probed_results import with_probe

    probes = [[[0.92, 0.6], [0.90, 0.95]], [[0.91, 0.6], [0.86, 0.95]]]
    for seed, probe in enumerate(probes):
        write_result(tmp_path, with_probe(make_result(BAD, strategy="naive", seed=seed), probe))
    write_result(tmp_path, make_result(GOOD, strategy="joint"))
    text = leaderboard.render(tmp_path, tmp_path / "board.md")
    header = next(line for line in text.splitlines() if line.startswith("| Rank"))
    titles = [c.strip() for c in header.strip("|").split("|")]
    column = titles.index("Repr. forgetting (AUC) ↓")
    assert titles[column + 1] == "Readout gap (AUC)"
    rows = {r[1].split("]")[0].strip("["): r for r in table_rows(text)}
    representation = [0.92 - 0.90, 0.91 - 0.86]
    gap = [0.90 - 0.60, 0.86 - 0.60]
    assert rows["naive"][column] == f"{np.mean(representation):.3f} ± {np.std(representation, ddof=1):.3f}"
    assert rows["naive"][column + 1] == f"{np.mean(gap):.3f} ± {np.std(gap, ddof=1):.3f}"
    assert rows["joint"][column:column + 2] == ["n/a", "n/a"]
    assert "Readout gap = mean over j<T of P[T][j] − R[T][j]" in text


def test_without_probed_results_the_table_has_no_probe_columns(tmp_path):
    write_result(tmp_path, make_result(GOOD))
    text = leaderboard.render(tmp_path, tmp_path / "board.md")
    assert "Repr. forgetting" not in text and "Readout gap" not in text


def test_a_seed_without_a_finite_summary_is_counted_and_its_row_ranks_last(tmp_path):
    """A non-finite score makes a seed's summary NaN: the row says over how many seeds its mean is, and is
    not ranked on the seeds that happened to give a number."""
    write_result(tmp_path, make_result(BAD, strategy="joint"))
    write_result(tmp_path, make_result(GOOD, strategy="naive", seed=0))
    write_result(tmp_path, make_result([[0.9, 0.5], [float("nan"), 0.95]], strategy="naive", seed=1))
    rows = table_rows(leaderboard.render(tmp_path, tmp_path / "board.md"))
    assert [row[1].split("]")[0].strip("[") for row in rows] == ["joint", "naive"]
    assert f"{np.mean(GOOD[-1]):.3f} (1 of 2 seeds)" in rows[1]
