"""The confidence intervals cover a known true value at about the nominal rate on simulated data, the
test-set bootstrap keeps classes and pairing, and the shortcuts we chose against really do fail.

Coverage tolerances come from the number of simulations: an empirical coverage over N intervals has
standard error √(0.95·0.05/N); we allow 3 of them below 95 %. The combined interval (Banerjee 1960) is
conservative by construction, so above 95 % we allow its known excess (≤ 3 points) plus 3 standard errors,
and check that it stays informative (its width against the oracle's).
"""

import math

import numpy as np
import pytest
from scipy import stats

from benchmark import metrics, uncertainty
from benchmark.conventions import REPORTED
from benchmark.errors import ResultError
from scored_results import balanced_labels, score_arrays

LEVEL = 0.95


def tolerance(simulations: int) -> float:
    return 3 * math.sqrt(LEVEL * (1 - LEVEL) / simulations)


def covers(interval, truth) -> bool:
    return interval[0] <= truth <= interval[1]


def test_stratified_resample_keeps_both_classes_and_their_counts():
    labels = np.r_[np.zeros(30, np.int8), np.ones(70, np.int8)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        picked = uncertainty.stratified_resample(labels, rng)
        assert np.bincount(labels[picked]).tolist() == [30, 70]
    assert len(set(picked.tolist())) < picked.size  # with replacement


def test_replicates_are_the_metric_recomputed_on_shared_resamples():
    rng = np.random.default_rng(1)
    noisy = score_arrays(np.array([[1.0, 0.5], [0.7, 1.2]]), np.zeros(2), 40, rng)
    separable = {key: noisy[f"labels_t{key.rsplit('_t', 1)[1]}"].astype(float) if key.startswith("scores") else value
                 for key, value in noisy.items()}
    replicates = uncertainty.bootstrap_summaries([noisy, noisy, separable], 2, resamples=30, seed=3)
    assert replicates.shape == (30, 3, 4)
    assert np.array_equal(replicates[:, 0], replicates[:, 1])  # one test set, one resample: pairs stay paired
    average = REPORTED.index("average")
    assert (replicates[:, 2, average] == 1.0).all()  # scores equal to the labels: AUC 1 on every resample
    observed = metrics.average([[metrics.roc_auc(noisy[f"labels_t{j}"], noisy[f"scores_after{i}_t{j}"])
                                 for j in range(2)] for i in range(2)])
    assert replicates[:, 0, average].mean() == pytest.approx(observed, abs=0.03)


def test_score_sets_from_different_test_sets_are_refused():
    rng = np.random.default_rng(2)
    one = score_arrays(np.ones((1, 1)), np.zeros(1), 20, rng)
    other = {**one, "labels_t0": one["labels_t0"][::-1].copy()}
    with pytest.raises(ResultError, match="not made on one test set"):
        uncertainty.bootstrap_summaries([one, other], 1, resamples=2)


def test_interval_without_spread_is_nan_and_one_seed_with_scores_is_normal():
    assert all(math.isnan(v) for v in uncertainty.interval([0.8]))
    replicates = np.random.default_rng(0).normal(0, 0.01, 1000)
    low, high = uncertainty.interval([0.8], replicates)
    assert (high - low) / 2 == pytest.approx(1.959964 * np.std(replicates, ddof=1))


@pytest.mark.parametrize("seed_sd,test_sd", [(0.03, 0.003), (0.02, 0.02), (0.003, 0.02)],
                         ids=["seeds-dominate", "balanced", "test-set-dominates"])
def test_combined_interval_covers_at_the_nominal_rate_whatever_dominates(seed_sd, test_sd):
    """3 seeds share one test set: value_s = truth + test-set error + seed error; the bootstrap sees the
    test-set variance. 4000 simulated experiments per regime."""
    rng = np.random.default_rng(11)
    simulations, truth = 4000, 0.8
    hits = seeds_only_hits = 0
    for _ in range(simulations):
        values = truth + rng.normal(0, test_sd) + rng.normal(0, seed_sd, 3)
        hits += covers(uncertainty.interval(values, rng.normal(0, test_sd, 200)), truth)
        seeds_only_hits += covers(uncertainty.interval(values), truth)
    coverage = hits / simulations
    assert LEVEL - tolerance(simulations) <= coverage <= LEVEL + 0.03 + tolerance(simulations), coverage
    if test_sd >= seed_sd:  # the reason to combine: seeds alone cannot see the shared test set's luck
        assert seeds_only_hits / simulations < LEVEL - tolerance(simulations)


def test_intervals_from_simulated_scores_cover_the_true_auc():
    """End to end on scores: each of 3 seeds is a binormal detector whose separation varies by seed; all
    seeds score one shared test set of 60 + 60 images (a shared per-image difficulty plus seed noise). The
    true value, E over seeds of the population AUC, is Φ(δ / √(2(1 + τ²) + σ²)) in closed form."""
    rng = np.random.default_rng(5)
    delta, tau, sigma, per_class, seeds, simulations = 1.0, 0.5, 0.15, 60, 3, 200
    truth = stats.norm.cdf(delta / math.sqrt(2 * (1 + tau ** 2) + sigma ** 2))
    labels = balanced_labels(per_class)
    hits = {"combined": 0, "seeds only": 0, "percentile bootstrap over seeds": 0}
    means, half_widths = [], []
    for k in range(simulations):
        difficulty = rng.standard_normal(labels.size)
        score_sets = [{"labels_t0": labels, "scores_init_t0": rng.standard_normal(labels.size),
                       "scores_after0_t0": labels * (delta + sigma * rng.standard_normal()) + difficulty
                       + tau * rng.standard_normal(labels.size)} for _ in range(seeds)]
        values = [metrics.roc_auc(labels, s["scores_after0_t0"]) for s in score_sets]
        replicates = uncertainty.bootstrap_summaries(score_sets, 1, resamples=40, seed=k)[:, :, 0].mean(axis=1)
        combined = uncertainty.interval(values, replicates)
        hits["combined"] += covers(combined, truth)
        means.append(np.mean(values))
        half_widths.append((combined[1] - combined[0]) / 2)
        hits["seeds only"] += covers(uncertainty.interval(values), truth)
        percentile = stats.bootstrap((values,), np.mean, method="percentile", random_state=k).confidence_interval
        hits["percentile bootstrap over seeds"] += covers(percentile, truth)
    coverage = {name: count / simulations for name, count in hits.items()}
    assert LEVEL - tolerance(simulations) <= coverage["combined"] <= LEVEL + 0.03 + tolerance(simulations), coverage
    assert coverage["seeds only"] < coverage["combined"], coverage
    # informative, not just wide: on average at most 1.5 times the oracle half-width 1.96 × (true error of the
    # seed mean); a t-interval that had to learn the whole variance from 3 seeds would be 1.94 times it
    oracle = 1.959964 * np.sqrt(np.mean((np.array(means) - truth) ** 2))
    assert np.mean(half_widths) <= 1.5 * oracle
    assert coverage["percentile bootstrap over seeds"] < 0.75, coverage  # why we do not bootstrap 3 seeds
