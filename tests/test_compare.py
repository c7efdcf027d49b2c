"""`dfcl compare A B`: paired over seeds with the right statistics, a bootstrap over test samples that
sees real differences and no imaginary ones, verdicts in each summary's better direction, and a clear
refusal when the runs cannot be paired."""

import itertools

import numpy as np
import pytest
from scipy import stats

from benchmark import compare
from benchmark.cli import main
from benchmark.errors import ResultError
from benchmark.selection import select
from conftest import make_result, write_result
from scored_results import write_scored_result

REMEMBERS = [[2.5, 0.3], [2.4, 2.5]]  # separations: still separates task 0 after task 1
FORGETS = [[2.5, 0.3], [0.5, 2.5]]


@pytest.fixture()
def two_runs(tmp_path):
    rng = np.random.default_rng(0)
    for seed in range(3):
        write_scored_result(tmp_path, REMEMBERS, strategy="replay", seed=seed, rng=rng)
        write_scored_result(tmp_path, FORGETS, strategy="naive", seed=seed, rng=rng)
    return tmp_path


def row(frame, summary):
    return frame.set_index("summary").loc[summary]


def test_paired_statistics_over_seeds(tmp_path):
    finals_a, finals_b = [0.80, 0.70, 0.75], [0.60, 0.72, 0.50]
    for seed, (a, b) in enumerate(zip(finals_a, finals_b)):
        write_result(tmp_path, make_result([[0.9, 0.5], [a, 0.9]], strategy="a", seed=seed))
        write_result(tmp_path, make_result([[0.9, 0.5], [b, 0.9]], strategy="b", seed=seed))
    frame = compare.compare(select(tmp_path, "demo"), "a--smallcnn", "b--smallcnn", resamples=0)
    average = row(frame, "average")
    d = (np.array(finals_a) - np.array(finals_b)) / 2  # the average over the two tasks moves by half
    assert average["difference"] == pytest.approx(d.mean())
    assert average["d_z"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert average["t_p"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    flips = [np.mean(d * signs) for signs in itertools.product([1, -1], repeat=3)]
    assert average["sign_flip_p"] == pytest.approx(np.mean(np.abs(flips) >= abs(d.mean()) - 1e-12))
    assert np.isnan(average["boot_p"])  # hand-written results saved no scores


def test_a_real_difference_is_found_in_the_better_direction(two_runs, capsys):
    frame = compare.compare(select(two_runs, "demo"), "replay--smallcnn", "naive--smallcnn", resamples=200)
    forgetting = row(frame, "forgetting")
    assert forgetting["difference"] < 0  # replay forgets less ...
    assert forgetting["verdict"] == "A better"  # ... and lower forgetting is better
    assert forgetting["boot_high"] < 0 and forgetting["boot_p"] <= 1 / 200
    assert forgetting["sign_flip_p"] == pytest.approx(0.25)  # the smallest 3 seeds allow
    assert row(frame, "average")["verdict"] == "A better"
    assert main(["compare", "naive", "replay", "--scenario", "demo", "--results-dir", str(two_runs),
                 "--resamples", "50"]) == 0
    out = capsys.readouterr().out
    assert "| Forgetting (AUC) ↓ |" in out and "B better" in out
    assert "cannot go below p = 0.25" in out and "run ≥ 6 seeds" in out


def test_identical_runs_show_no_difference(tmp_path):
    for seed in range(3):
        for strategy in ("a", "b"):
            write_scored_result(tmp_path, FORGETS, strategy=strategy, seed=seed, rng=np.random.default_rng(seed))
    frame = compare.compare(select(tmp_path, "demo"), "a--smallcnn", "b--smallcnn", resamples=50)
    assert (frame["difference"] == 0).all()
    assert (frame["boot_low"] == 0).all() and (frame["boot_high"] == 0).all() and (frame["boot_p"] == 1).all()
    assert (frame["verdict"] == "no significant difference").all()


@pytest.mark.parametrize("case,message", [
    ("no common seed", "no seed in common"),
    ("other data", "data fingerprints"),
    ("same run", "two different runs"),
    ("ambiguous", "name each as <strategy>--<detector>"),
])
def test_incomparable_runs_are_refused(tmp_path, capsys, case, message):
    write_result(tmp_path, make_result(REMEMBERS, strategy="a", seed=0))
    other = {"no common seed": dict(seed=1), "other data": dict(fingerprint="sha256:other"),
             "same run": dict(seed=1), "ambiguous": dict(strategy="a", detector="resnet18")}[case]
    write_result(tmp_path, make_result(FORGETS, **{"strategy": "b", **other}))
    b = "a" if case in ("same run", "ambiguous") else "b"
    assert main(["compare", "a", b, "--scenario", "demo", "--results-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_refusal_names_the_seeds(tmp_path):
    write_result(tmp_path, make_result(REMEMBERS, strategy="a", seed=0))
    write_result(tmp_path, make_result(FORGETS, strategy="b", seed=4))
    with pytest.raises(ResultError, match=r"seeds \[0\] .* seeds \[4\]"):
        compare.compare(select(tmp_path, "demo"), "a--smallcnn", "b--smallcnn")
