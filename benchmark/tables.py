"""Paper tables from result files: per run, each summary as mean ± sample s.d. over seeds with a 95 %
confidence interval (uncertainty.py says how it is built, and the caption says which way each row's was),
the best value per column marked; as Markdown, booktabs LaTeX or tidy CSV.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import readout, uncertainty
from .conventions import HIGHER_IS_BETTER, NAMES, PROBE_REPORTED, REPORTED, arrow, label, metric_name
from .selection import Selection

LEVEL = 0.95
LATEX_TEXT = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
              "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
              "↑": r"$\uparrow$", "↓": r"$\downarrow$", "→": r"$\rightarrow$", "±": r"$\pm$", "−": "$-$",
              "–": "--", "×": r"$\times$", "²": r"$^2$"}


def summary_frame(selection: Selection, *, metric: str = "auc", resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per (run, summary): n, mean, s.d., CI bounds, the CI's method, and whether it is the best."""
    rows = []
    probed = any(p is not None for run in selection.runs for p in selection.probes(run))
    for run in selection.runs:
        per_seed = selection.summaries(run, metric)
        scores = selection.scores(run) if resamples > 1 else None
        replicates = None if scores is None else uncertainty.bootstrap_summaries(
            scores, len(selection.tasks), metric, resamples, seed).mean(axis=1)  # (resamples, summaries)
        method = uncertainty.SEEDS_ONLY if scores is None else uncertainty.SEEDS_AND_SAMPLES.format(resamples=resamples)
        strategy, detector = selection.frame.loc[selection.frame["run"] == run, ["strategy", "detector"]].iloc[0]
        for k, key in enumerate(REPORTED):
            values = per_seed[key].dropna()
            low, high = uncertainty.interval(values, None if replicates is None else replicates[:, k], LEVEL)
            rows.append({"scenario": selection.scenario, "run": run, "label": selection.label(run),
                         "strategy": strategy, "detector": detector, "metric": metric, "summary": key,
                         "seeds": " ".join(map(str, per_seed.index)), "n": len(values),
                         "mean": values.mean() if len(values) else math.nan,
                         "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                         "ci_low": low, "ci_high": high, "ci_method": method})
        rows += _probe_rows(selection, run, metric, rows[-1]) if probed else []
    frame = pd.DataFrame(rows)
    frame["best"] = False
    if len(selection.runs) > 1:
        for key, part in frame.groupby("summary"):
            if HIGHER_IS_BETTER[key] is None:
                continue
            shown = part["mean"].round(3)
            best = shown.max() if HIGHER_IS_BETTER[key] else shown.min()
            frame.loc[part.index, "best"] = shown == best
    return frame


def _probe_rows(selection: Selection, run: str, metric: str, like: dict) -> list[dict]:
    """The probe summaries of one run (NaN for seeds without probes): Student t over seeds only, as no
    probe scores are saved to resample."""
    probes, rows = selection.probes(run), []
    for key, block_key in PROBE_REPORTED.items():
        values = readout.seed_values(probes, metric, block_key)
        values = values[np.isfinite(values)]
        low, high = uncertainty.interval(values, None, LEVEL)
        rows.append({**like, "summary": key, "n": len(values), "mean": values.mean() if len(values) else math.nan,
                     "std": values.std(ddof=1) if len(values) > 1 else math.nan, "ci_low": low, "ci_high": high,
                     "ci_method": uncertainty.SEEDS_ONLY})
    return rows


def _keys(frame: pd.DataFrame) -> list[str]:
    """The summaries tabulated: REPORTED, then the probe's where a run of the table has probes."""
    present = set(frame["summary"])
    return [key for key in (*REPORTED, *PROBE_REPORTED) if key in present]


def _number(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3f}"


def _methods(frame: pd.DataFrame) -> str:
    """Which interval each run got, naming the runs when they differ (some saved no raw scores)."""
    methods = frame.drop_duplicates("run").groupby("ci_method", sort=False)["label"].apply(list)
    if len(methods) == 1:
        return f"{methods.index[0]}"
    return "; ".join(f"{', '.join(labels)}: {method}" for method, labels in methods.items())


def caption(frame: pd.DataFrame, tasks: tuple[str, ...]) -> str:
    metric = frame["metric"].iloc[0]
    return (f"{metric_name(metric)} summaries on {frame['scenario'].iloc[0]}, {len(tasks)} tasks "
            f"({' → '.join(tasks)}): mean ± sample s.d. over n seeds, then the {LEVEL:.0%} confidence interval "
            f"of the mean ({_methods(frame)}). Best mean per column in bold. Avg: final model, mean over tasks; "
            f"forgetting: positive = forgotten; BWT: negative = forgotten; FWT: against the untrained model."
            + (" Repr. forgetting: forgetting of linear probes refitted on the frozen features (positive = the "
               "features forgot); readout gap: probe minus detector on the past tasks after the last (positive = "
               "the features know more than the head says); their intervals: Student t over seeds only; n/a: no "
               "probes." if "readout_gap" in set(frame["summary"]) else ""))


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Run × summary grid of the rows of ``frame`` (in selection order)."""
    return frame.set_index(["run", "summary"]).loc[list(dict.fromkeys(frame["run"]))]


def markdown(frame: pd.DataFrame, tasks: tuple[str, ...]) -> str:
    metric = frame["metric"].iloc[0]
    keys = _keys(frame)
    lines = ["| Method | n | " + " | ".join(label(k, metric) for k in keys) + " |",
             "|---|---:|" + "---|" * len(keys)]
    for run, part in _cells(frame).groupby(level="run", sort=False):
        cells = []
        for key in keys:
            row = part.loc[(run, key)]
            centre = _number(row["mean"]) + (f" ± {_number(row['std'])}" if row["n"] > 1 else "")
            cells.append((f"**{centre}**" if row["best"] else centre) +
                         (f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]" if np.isfinite(row["ci_low"]) else ""))
        lines.append(f"| {part['label'].iloc[0]} | {part['n'].max()} | " + " | ".join(cells) + " |")
    return f"**{frame['scenario'].iloc[0]}**\n\n" + "\n".join(lines) + f"\n\n{caption(frame, tasks)}\n"


def latex_text(text: str) -> str:
    """Plain text (names, captions) made safe for LaTeX, with our Unicode symbols as LaTeX commands."""
    return "".join(LATEX_TEXT.get(char, char) for char in text)


def latex(frame: pd.DataFrame, tasks: tuple[str, ...]) -> str:
    """A booktabs ``table``: each run on two lines, mean ± s.d. above its confidence interval."""
    metric, scenario = frame["metric"].iloc[0], frame["scenario"].iloc[0]
    keys = _keys(frame)
    lines = [r"% Generated by `dfcl table --format latex` from result files; needs \usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering", r"\small", r"\setlength{\tabcolsep}{3.5pt}",
             rf"\caption{{{latex_text(caption(frame, tasks))}}}",
             rf"\label{{tab:dfcl-{latex_text(scenario)}-{metric}}}", r"\smallskip",
             r"\begin{tabular}{lr" + "c" * len(keys) + "}", r"\toprule",
             "Method & $n$ & " + " & ".join(latex_text(f"{NAMES[k]} {arrow(k)}".rstrip()) for k in keys) + r" \\",
             r"\midrule"]
    for index, (run, part) in enumerate(_cells(frame).groupby(level="run", sort=False)):
        centres, intervals = [], []
        for key in keys:
            row = part.loc[(run, key)]
            body = _number(row["mean"]) + (f" \\pm {_number(row['std'])}" if row["n"] > 1 else "")
            centres.append("n/a" if not np.isfinite(row["mean"]) else
                           f"$\\mathbf{{{body}}}$" if row["best"] else f"${body}$")
            intervals.append(f"{{\\scriptsize $[{_number(row['ci_low'])}, {_number(row['ci_high'])}]$}}"
                             if np.isfinite(row["ci_low"]) else "")
        if index:
            lines.append(r"\addlinespace")
        lines.append(f"{latex_text(part['label'].iloc[0])} & {part['n'].max()} & " + " & ".join(centres) + r" \\")
        if any(intervals):
            lines.append(" & & " + " & ".join(intervals) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def csv(frame: pd.DataFrame) -> str:
    """Tidy: one line per (run, summary), full precision, for scripts."""
    return frame.drop(columns=["run"]).to_csv(index=False)


RENDERERS = {"markdown": markdown, "latex": latex}
