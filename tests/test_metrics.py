"""Per-task scores against scikit-learn and brute force; summaries against hand computation and
Avalanche's own forgetting / BWT / forward-transfer metrics on the same matrix."""

import math

import numpy as np
import pytest
from avalanche.evaluation.metrics import BWT, Forgetting, ForwardTransfer
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmark import metrics


def random_cases(count=100, seed=0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        n = int(rng.integers(4, 80))
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]  # both classes present
        # half the cases with many ties, as coarse detectors produce
        scores = rng.integers(0, 5, n) / 4 if index % 2 else rng.random(n)
        yield labels, scores


@pytest.mark.parametrize("labels,scores", list(random_cases()))
def test_auc_and_ap_equal_scikit_learn(labels, scores):
    assert metrics.roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores),
                                                                      abs=1e-12)


def brute_force_auc(labels, scores):
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("labels,scores", list(random_cases(30, seed=1)))
def test_auc_equals_pairwise_probability(labels, scores):
    assert metrics.roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores), abs=1e-12)


def test_auc_of_many_rows_at_once_is_each_rows_auc():
    """The bootstrap's one-pass AUC: every row as ``roc_auc`` gives it, ties included, a non-finite row NaN."""
    rng = np.random.default_rng(4)
    for labels, scores in random_cases(40, seed=2):
        rows = np.stack([scores, rng.permutation(scores), np.round(rng.random(len(scores)), 1), 1 - scores])
        rows[3, 0] = np.nan if len(labels) % 2 else np.inf
        expected = [metrics.roc_auc(labels, row) for row in rows]
        assert math.isnan(expected[3])
        assert metrics.roc_auc_rows(labels, rows) == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert np.isnan(metrics.roc_auc_rows([1, 1, 1], [[0.1, 0.5, 0.9], [0.2, 0.2, 0.3]])).all()
    with pytest.raises(ValueError, match="exactly 0 \\(real\\) or 1"):
        metrics.roc_auc_rows([0, 2], [[0.1, 0.2]])


def test_eer_lies_where_false_positive_and_negative_rates_cross():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(2000), np.ones(2000)].astype(int)
    scores = np.r_[rng.normal(0, 1, 2000), rng.normal(2, 1, 2000)]
    eer = metrics.equal_error_rate(labels, scores)
    # two unit Gaussians two apart cross at 1: EER = P(N(0,1) > 1) ≈ 0.1587
    assert eer == pytest.approx(0.1587, abs=0.015)
    # brute force over thresholds: the EER sits between FPR and FNR where they are closest
    thresholds = np.unique(scores)
    fpr = np.array([(scores[labels == 0] >= t).mean() for t in thresholds])
    fnr = np.array([(scores[labels == 1] < t).mean() for t in thresholds])
    k = np.argmin(np.abs(fpr - fnr))
    assert min(fpr[k], fnr[k]) - 1e-3 <= eer <= max(fpr[k], fnr[k]) + 1e-3


def test_eer_of_perfect_and_inverted_detectors():
    labels = np.array([0, 0, 1, 1])
    assert metrics.equal_error_rate(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert metrics.equal_error_rate(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 1.0


def test_accuracy_thresholds_fake_probability_at_one_half():
    assert metrics.accuracy([0, 0, 1, 1], [0.2, 0.7, 0.9, 0.4]) == 0.5
    assert metrics.accuracy([0, 1], [0.5, 0.51]) == 1.0


def test_single_class_scores_are_nan_not_an_exception():
    assert math.isnan(metrics.roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert math.isnan(metrics.equal_error_rate([0, 0], [0.1, 0.5]))
    assert math.isnan(metrics.average_precision([0, 0], [0.1, 0.5]))


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="0 \\(real\\) or 1 \\(fake\\)"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        metrics.roc_auc([0, 1, 1], [0.1, 0.2])


R = np.array([[0.90, 0.40, 0.55],
              [0.70, 0.95, 0.60],
              [0.80, 0.65, 0.85]])
B = np.array([0.50, 0.45, 0.52])


def test_summaries_by_hand():
    s = metrics.summarise(R, B)
    assert s["average"] == pytest.approx((0.80 + 0.65 + 0.85) / 3)
    assert s["average_incremental"] == pytest.approx((0.90 + (0.70 + 0.95) / 2 + (0.80 + 0.65 + 0.85) / 3) / 3)
    assert s["bwt"] == pytest.approx(((0.80 - 0.90) + (0.65 - 0.95)) / 2)
    # task 0's best after learning it is 0.90 (row 0); task 1's is 0.95 (row 1)
    assert s["forgetting"] == pytest.approx(((0.90 - 0.80) + (0.95 - 0.65)) / 2)
    assert s["fwt"] == pytest.approx(((0.40 - 0.45) + (0.60 - 0.52)) / 2)


def test_forgetting_looks_only_at_rows_after_the_task_was_learned():
    # task 1 scores 0.99 *before* it is trained (row 0): that is transfer, not something to forget
    r = np.array([[0.9, 0.99], [0.9, 0.8]])
    assert metrics.forgetting(r) == pytest.approx(0.0)


def test_bwt_and_forgetting_agree_with_avalanche():
    rng = np.random.default_rng(3)
    for _ in range(20):
        t = int(rng.integers(2, 7))
        r = rng.random((t, t))
        forgetting, bwt = Forgetting(), BWT()
        for j in range(t - 1):
            for metric in (forgetting, bwt):
                metric.update(j, r[j, j], initial=True)
                metric.update(j, r[-1, j])
        ours_bwt = metrics.bwt(r)
        assert ours_bwt == pytest.approx(np.mean(list(bwt.result().values())))
        assert ours_bwt == pytest.approx(-np.mean(list(forgetting.result().values())))
        # Avalanche's forgetting is diagonal-minus-final; ours takes the best row since learning,
        # so it is never smaller and equal when the diagonal is that best
        assert metrics.forgetting(r) >= np.mean(list(forgetting.result().values())) - 1e-12
        monotone = np.tril(np.ones((t, t))) * np.linspace(1, 0.5, t)[:, None] + np.triu(r, 1)
        assert metrics.forgetting(monotone) == pytest.approx(-metrics.bwt(monotone))


def test_fwt_agrees_with_avalanche():
    rng = np.random.default_rng(4)
    for _ in range(20):
        t = int(rng.integers(2, 7))
        r, b = rng.random((t, t)), rng.random(t)
        transfer = ForwardTransfer()
        for j in range(1, t):
            transfer.update(j, b[j], initial=True)
            transfer.update(j, r[j - 1, j])
        assert metrics.fwt(r, b) == pytest.approx(np.mean(list(transfer.result().values())))


def test_one_task_has_no_transfer_or_forgetting():
    s = metrics.summarise([[0.8]], [0.5])
    assert s["average"] == 0.8 and s["bwt"] is None and s["forgetting"] is None and s["fwt"] is None


def test_non_square_matrix_is_refused():
    with pytest.raises(ValueError, match="square"):
        metrics.average([[0.5, 0.5]])


@pytest.mark.parametrize("labels", [[0, 0.6, 1, 1], [0, 1, 1.7, 0], [0, 1, 2, 1], [0, 1, float("nan"), 1],
                                    ["0", "1", "1", "0"]])
def test_non_binary_labels_are_refused_not_truncated(labels):
    """0.6 and 1.7 used to be cast to 0 and 1 before the check."""
    for scorer in metrics.SCORERS.values():
        with pytest.raises(ValueError, match="exactly 0 .* or 1"):
            scorer(labels, [0.1, 0.4, 0.6, 0.9])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_score_makes_every_metric_nan(bad):
    """A NaN used to sort as the highest score: a diverged model scored AUC 1.0 on this example."""
    labels, scores = [0, 0, 1, 1], [0.2, 0.1, bad, 0.3]
    assert all(math.isnan(value) for value in metrics.score(labels, scores).values())
    assert metrics.finite([0.1, 0.2]) and not metrics.finite(scores)
