"""Paper tables from result files: per run, each summary as mean ± sample s.d. over seeds with a 95 %
confidence interval (uncertainty.py says how it is built, and the caption says which way each row's was),
the best value per column marked; as Markdown, booktabs LaTeX or tidy CSV. Runs also trained in other task
orders get a second table (``order_frame``): the spread over orders beside the spread over seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import leaderboard, readout, uncertainty
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


# --- task-order sensitivity ---------------------------------------------------------------------------

def order_frame(selection: Selection, *, metric: str = "auc") -> pd.DataFrame:
    """One row per (run, summary) of every run also trained in a task order other than the scenario's own:
    its orders, seeds per order, the mean over orders of each order's mean over seeds, the pooled s.d. over
    seeds within orders (``sd_seeds``), the s.d. over orders (``sd_orders``), and per order its mean
    (``mean_order<k>``) and rank among these runs (``rank_order<k>``). Empty when no run has another order."""
    per_seed = selection.order_summaries(metric)
    varied = per_seed[per_seed["run"].isin(set(per_seed.loc[per_seed["order"] != 0, "run"]))]
    if varied.empty:
        return pd.DataFrame()
    rows = []
    for key in REPORTED:
        spread = leaderboard.order_spread(varied, "run", key)
        ranks = {order: {run: rank for rank, run in enumerate(runs, start=1)}
                 for order, runs in leaderboard.order_rankings(spread, "run", HIGHER_IS_BETTER[key]).items()}
        for line in spread.to_dict("records"):
            strategy, detector, shown = selection.by_order.loc[selection.by_order["run"] == line["run"],
                                                               ["strategy", "detector", "label"]].iloc[0]
            rows.append({"scenario": selection.scenario, "run": line["run"], "label": shown, "strategy": strategy,
                         "detector": detector, "metric": metric, "summary": key,
                         "orders": " ".join(map(str, line["orders"])), "seeds_per_order": " ".join(map(str, line["seeds"])),
                         "mean": line["mean"], "sd_seeds": line["sd_seeds"], "sd_orders": line["sd_orders"],
                         **{f"mean_order{order}": value for order, value in line["order_means"].items()},
                         **{f"rank_order{order}": ranks[order].get(line["run"]) for order in ranks}})
    return pd.DataFrame(rows)


def _order_caption(frame: pd.DataFrame, selection: Selection) -> str:
    metric = frame["metric"].iloc[0]
    average = frame[frame["summary"] == "average"]
    rankings = {order: list(average.dropna(subset=[f"rank_order{order}"]).sort_values(f"rank_order{order}")["label"])
                for order in _frame_orders(frame)}
    sequences = "; ".join(f"order {order}: {' → '.join(selection.order_tasks(order))}" for order in _frame_orders(frame))
    return (f"Task-order sensitivity of {metric_name(metric)} summaries on {frame['scenario'].iloc[0]}: per method, "
            f"the mean over task orders of each order's mean over seeds, then (pooled sample s.d. over seeds within "
            f"an order / sample s.d. over orders of the orders' means). Order 0 is the scenario's own, order k ≥ 1 "
            f"its k-th seeded permutation ({sequences}); the data is the same in every order, and summaries are "
            f"computed over each order's own sequence. {leaderboard.ranking_sentence(rankings)}")


def _frame_orders(frame: pd.DataFrame) -> list[int]:
    return sorted(int(column.removeprefix("mean_order")) for column in frame.columns if column.startswith("mean_order"))


def _order_rows(frame: pd.DataFrame):
    """(label, orders, seeds per order, {summary: row}, ranks by average) per run, in selection order."""
    for run, part in frame.groupby("run", sort=False):
        by_summary = {row["summary"]: row for row in part.to_dict("records")}
        average = by_summary["average"]
        ranks = " / ".join("–" if pd.isna(average[f"rank_order{order}"]) else str(int(average[f"rank_order{order}"]))
                           for order in _frame_orders(frame))
        yield average["label"], average["orders"], average["seeds_per_order"], by_summary, ranks


def order_markdown(frame: pd.DataFrame, selection: Selection) -> str:
    metric = frame["metric"].iloc[0]
    orders = ", ".join(map(str, _frame_orders(frame)))
    lines = ["| Method | Orders | Seeds per order | " + " | ".join(label(k, metric) for k in REPORTED) +
             f" | Rank by Avg per order ({orders}) |", "|---|---|---|" + "---|" * len(REPORTED) + "---|"]
    for shown, orders_used, seeds, by_summary, ranks in _order_rows(frame):
        cells = [f"{_number(by_summary[k]['mean'])} ({_number(by_summary[k]['sd_seeds'])} / "
                 f"{_number(by_summary[k]['sd_orders'])})" for k in REPORTED]
        lines.append(f"| {shown} | {orders_used} | {seeds} | " + " | ".join(cells) + f" | {ranks} |")
    return (f"**{frame['scenario'].iloc[0]}, task orders**\n\n" + "\n".join(lines) +
            f"\n\n{_order_caption(frame, selection)}\n")


def order_latex(frame: pd.DataFrame, selection: Selection) -> str:
    """A booktabs ``table``: mean over orders, then (± seeds / ± orders) in small type."""
    metric, scenario = frame["metric"].iloc[0], frame["scenario"].iloc[0]
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\setlength{\tabcolsep}{3.5pt}",
             rf"\caption{{{latex_text(_order_caption(frame, selection))}}}",
             rf"\label{{tab:dfcl-{latex_text(scenario)}-{metric}-orders}}", r"\smallskip",
             r"\begin{tabular}{lcc" + "c" * len(REPORTED) + "c}", r"\toprule",
             "Method & Orders & Seeds & " + " & ".join(latex_text(f"{NAMES[k]} {arrow(k)}") for k in REPORTED) +
             r" & Rank per order \\", r"\midrule"]
    for shown, orders_used, seeds, by_summary, ranks in _order_rows(frame):
        cells = [f"${_number(by_summary[k]['mean'])}$ {{\\scriptsize ({_number(by_summary[k]['sd_seeds'])} / "
                 f"{_number(by_summary[k]['sd_orders'])})}}" for k in REPORTED]
        lines.append(f"{latex_text(shown)} & {orders_used} & {seeds} & " + " & ".join(cells) + f" & {ranks} " + r"\\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


ORDER_RENDERERS = {"markdown": order_markdown, "latex": order_latex}
