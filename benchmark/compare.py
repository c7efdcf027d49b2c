"""Is run A better than run B on a scenario? The comparison papers rarely report, done from result files.

Two sources of chance, two tests. Training seeds: A and B are paired by seed (same seed, same data order
and initialisation), so we test the paired differences, with a paired t-test and an exact sign-flip
permutation test (which assumes no normality but, with n seeds, cannot give p below 2 / 2ⁿ: 0.25 with
3 seeds). The finite test set: when both runs saved raw scores, a stratified bootstrap over test samples
(the same resampled indices for A and B, seeds held fixed) gives an interval and a p-value for the
difference of seed means. Effect sizes: the mean paired difference and d_z = mean / s.d. of the paired
differences. We call a run better only when both the seed test (paired t) and the test-sample bootstrap
reject at α, in the summary's better direction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from . import uncertainty
from .conventions import HIGHER_IS_BETTER, REPORTED, label
from .errors import ResultError
from .selection import Selection


def _paired_values(selection: Selection, run_a: str, run_b: str, metric: str) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    seeds_a, seeds_b = selection.seeds(run_a), selection.seeds(run_b)
    common = sorted(set(seeds_a) & set(seeds_b))
    if not common:
        raise ResultError(f"{run_a} has seeds {seeds_a} and {run_b} has seeds {seeds_b}: no seed in common, so "
                          f"there is nothing to pair; run both with the same --seeds")
    return (selection.summaries(run_a, metric).loc[common], selection.summaries(run_b, metric).loc[common], common)


def _sign_flip_p(differences: np.ndarray) -> float:
    """Exact two-sided sign-flip permutation test of a zero mean paired difference (all 2ⁿ flips)."""
    if len(differences) < 2:
        return 1.0  # one pair: both signs give the same |mean|
    result = stats.permutation_test((differences,), np.mean, permutation_type="samples", n_resamples=math.inf,
                                    alternative="two-sided")
    return float(result.pvalue)


def compare(selection: Selection, run_a: str, run_b: str, *, metric: str = "auc", resamples: int = 1000,
            seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """One row per summary: means, the paired difference A − B, d_z, the seed tests and the bootstrap."""
    if run_a == run_b:
        raise ResultError(f"compare needs two different runs, got {run_a} twice")
    values_a, values_b, common = _paired_values(selection, run_a, run_b, metric)
    replicates = None
    scores_a, scores_b = selection.scores(run_a), selection.scores(run_b)
    if scores_a is not None and scores_b is not None and resamples > 1:
        index_a = [selection.seeds(run_a).index(s) for s in common]
        index_b = [selection.seeds(run_b).index(s) for s in common]
        sets = [scores_a[i] for i in index_a] + [scores_b[i] for i in index_b]
        boot = uncertainty.bootstrap_summaries(sets, len(selection.tasks), metric, resamples, seed)
        replicates = boot[:, :len(common)].mean(axis=1) - boot[:, len(common):].mean(axis=1)  # (resamples, summaries)
    rows = []
    for k, key in enumerate(REPORTED):
        a, b = values_a[key].to_numpy(), values_b[key].to_numpy()
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue  # undefined for this scenario (e.g. BWT with one task)
        difference = a - b
        spread = difference.std(ddof=1) if len(difference) > 1 else math.nan
        row = {"run_a": run_a, "run_b": run_b, "summary": key, "label": label(key, metric), "n": len(common), "mean_a": a.mean(), "mean_b": b.mean(),
               "difference": difference.mean(), "sd_difference": spread,
               "d_z": difference.mean() / spread if spread > 0 else math.nan,
               "t_p": stats.ttest_rel(a, b).pvalue if spread > 0 else math.nan,
               "sign_flip_p": _sign_flip_p(difference), "boot_low": math.nan, "boot_high": math.nan,
               "boot_p": math.nan}
        if replicates is not None:
            row["boot_low"], row["boot_high"] = uncertainty.percentile_interval(replicates[:, k])
            row["boot_p"] = uncertainty.bootstrap_p_value(replicates[:, k])
        row["verdict"] = _verdict(row, HIGHER_IS_BETTER[key], alpha)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(run_a=run_a, run_b=run_b, seeds=common, resamples=resamples if replicates is not None else 0,
                       alpha=alpha, scenario=selection.scenario)
    return frame


def _verdict(row: dict, higher_is_better: bool, alpha: float) -> str:
    tests = [row["t_p"]] + ([row["boot_p"]] if np.isfinite(row["boot_p"]) else [])
    if not all(np.isfinite(p) and p < alpha for p in tests):
        return "no significant difference"
    return "A better" if (row["difference"] > 0) == higher_is_better else "B better"


def _p(value: float, floor: float | None = None) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"≤ {floor:.3g}" if floor and value <= floor else f"{value:.3g}"


def render(frame: pd.DataFrame) -> str:
    """Markdown: the table, then what each test measured and what it cannot say."""
    info = frame.attrs
    n, resamples = len(info["seeds"]), info["resamples"]
    lines = [f"A = {info['run_a']}, B = {info['run_b']} on {info['scenario']}, paired over seeds "
             f"{', '.join(map(str, info['seeds']))} (n = {n}).", "",
             "| Summary | A | B | Δ = A − B | d_z | paired t p | sign-flip p | Δ 95% CI (test samples) | bootstrap p | verdict (α = "
             f"{info['alpha']}) |", "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for row in frame.to_dict("records"):
        interval = (f"[{row['boot_low']:.3f}, {row['boot_high']:.3f}]" if np.isfinite(row["boot_low"]) else "n/a")
        lines.append(f"| {row['label']} | {row['mean_a']:.3f} | {row['mean_b']:.3f} | {row['difference']:+.3f} | "
                     f"{row['d_z']:.2f} | {_p(row['t_p'])} | {_p(row['sign_flip_p'])} | {interval} | "
                     f"{_p(row['boot_p'], 1 / resamples if resamples else None)} | {row['verdict']} |")
    smallest = min(1.0, 2 / 2 ** n)
    lines += ["", f"- Δ and d_z: mean paired difference over seeds and d_z = mean / s.d. of the paired differences.",
              f"- Paired t-test over seeds (n − 1 = {n - 1} df). Sign-flip: exact permutation test over all 2^{n} "
              f"sign assignments; with {n} seeds it cannot go below p = {smallest:.3g}"
              + (f", so it cannot reject at α = {info['alpha']}; run ≥ {math.floor(math.log2(2 / info['alpha'])) + 1} "
                 f"seeds for that." if smallest >= info["alpha"] else ".")
              + (" With one seed there is no seed test, so no verdict can say 'better'." if n < 2 else "")]
    if resamples:
        lines.append(f"- Bootstrap: {resamples} stratified resamples of every test set, the same for A and B, seeds "
                     f"fixed: it measures test-set uncertainty only; p-values below 1/{resamples} are not resolved"
                     + (f", so it cannot reject at α = {info['alpha']}: use more --resamples (default 1000)."
                        if 1 / resamples >= info["alpha"] else "."))
    else:
        lines.append("- No test-sample bootstrap: raw scores were not saved for both runs (`dfcl run` without "
                     "--no-scores saves them).")
    lines.append("- Verdict: 'better' only when the paired t-test and (where run) the bootstrap both give p < α.")
    return "\n".join(lines) + "\n"
