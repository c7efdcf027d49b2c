"""Paper figures drawn from result files only: the T×T score matrix as a heatmap, per-task curves over the
training sequence, the stability–plasticity scatter and grouped bars of the summaries; for runs with
linear probes (readout.py), R beside P and their gap, and where each run forgets (features or head).

When runs were also trained in other task orders (``orders.py``), two more: average and forgetting per
order, and each run's final score per task (by name) under each order.

Each ``*_figure`` function returns a matplotlib Figure built from arrays or frames; ``figures`` makes
every figure of a selection (so tests can check what is drawn) and ``write_all`` saves them as PDF, PNG
and SVG.
Spread over seeds is drawn as ± 1 sample standard deviation and says so on the figure; confidence
intervals belong in the table (``dfcl table``), where their method is stated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from textwrap import fill

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle
from seaborn.utils import relative_luminance

from . import conventions, metrics, results, style
from .conventions import HIGHER_IS_BETTER, SIGN_NOTES, axis_label, metric_name
from .selection import Selection

BARS = ("average", "forgetting", "bwt")
CHANCE = 0.5  # AUC of a random detector, and accuracy on the balanced test sets
DIVERGING = "PuOr"  # ColorBrewer's purple–orange: colour-blind safe, white at zero (for signed gaps)


def _width(tasks: int) -> float:
    return style.COLUMN_WIDTH if tasks <= 6 else style.FULL_WIDTH


def matrix_figure(matrix: np.ndarray, tasks: list[str], title: str, *, metric: str = "auc",
                  vmin: float | None = None) -> plt.Figure:
    """Heatmap of R[i][j] (row = after training task i, column = tested on task j), every cell annotated,
    the diagonal (each task right after training on it) outlined."""
    t = len(tasks)
    with style.paper():
        figure, ax = plt.subplots(figsize=(_width(t), _width(t) * 0.82))
        _heatmap(ax, matrix, tasks, vmin=min(CHANCE, np.nanmin(matrix)) if vmin is None else vmin, vmax=1.0,
                 cmap=style.SEQUENTIAL, colour_label=metric_name(metric))
        ax.set_title(title)
    return figure


def _heatmap(ax: plt.Axes, matrix: np.ndarray, tasks: list[str], *, vmin: float, vmax: float, cmap,
             colour_label: str | None, fmt: str = ".2f", labels: bool = True, text_size: float | None = None,
             colour_axis: plt.Axes | None = None) -> None:
    """One annotated T×T heatmap with the diagonal outlined and the axes named (row i = after task i); its
    colour bar beside it, in ``colour_axis`` if given, or none when ``colour_label`` is None (a neighbour on
    the same scale has it)."""
    t = len(tasks)
    sns.heatmap(matrix, ax=ax, annot=True, fmt=fmt, cmap=cmap, square=True, vmin=vmin, vmax=vmax,
                xticklabels=tasks, yticklabels=tasks if labels else False, linewidths=0.5, linecolor="white",
                annot_kws={"size": text_size or (7 if t <= 6 else 6)}, cbar=colour_label is not None,
                cbar_ax=colour_axis, cbar_kws={"label": colour_label} | ({} if colour_axis else {"shrink": 0.85}))
    _readable_annotations(ax, matrix)
    for j in range(t):
        ax.add_patch(Rectangle((j, j), 1, 1, fill=False, edgecolor="black", linewidth=1.4, clip_on=False))
    _label_heatmap(ax, "Tested on task j", "After training task i" if labels else "")


def _label_heatmap(ax: plt.Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Axis titles, slanted task names below, upright ones on the left, no tick marks."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=35)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(length=0)


def _readable_annotations(ax: plt.Axes, matrix: np.ndarray) -> None:
    """Black or white text, whichever contrasts more with its cell: WCAG 2's crossover is at relative
    luminance 0.179, while seaborn switches at 0.408 and leaves white text on mid-tone cells."""
    mesh = ax.collections[0]
    for text in ax.texts:
        x, y = text.get_position()
        cell = mesh.cmap(mesh.norm(matrix[int(y), int(x)]))
        text.set_color("black" if relative_luminance(cell) > 0.179 else "white")


def task_curves_figure(matrices: np.ndarray, initial: np.ndarray, tasks: list[str], title: str, *,
                       metric: str = "auc") -> plt.Figure:
    """One line per test task over the training sequence (untrained, then after each task): mean over
    seeds with a ± 1 s.d. band; the point right after training on that task is outlined."""
    n, t = matrices.shape[0], len(tasks)
    series = np.concatenate([initial[:, None, :], matrices], axis=1)  # (seeds, 1 + T, tested task)
    mean = series.mean(axis=0)
    spread = series.std(axis=0, ddof=1) if n > 1 else np.zeros_like(mean)
    x = np.arange(t + 1)
    with style.paper():
        figure, ax = plt.subplots(figsize=(_width(t), 3.0 if t <= 6 else 3.6), layout="constrained")
        ax.axhline(CHANCE, color="0.5", linestyle=":", linewidth=0.8)
        for j, task in enumerate(tasks):
            ax.fill_between(x, mean[:, j] - spread[:, j], mean[:, j] + spread[:, j], color=style.colour(j),
                            alpha=0.18, linewidth=0)
            ax.plot(x, mean[:, j], color=style.colour(j), marker=style.marker(j), label=task)
        trained = np.arange(t)
        ax.scatter(trained + 1, mean[trained + 1, trained], s=60, facecolors="none", edgecolors="black",
                   linewidths=1.0, zorder=3, label="just trained on it")
        ax.set_xticks(x, ["untrained", *tasks], rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlabel("After training on (task sequence →)")
        ax.set_ylabel(f"{metric_name(metric)} on the tested task")
        ax.set_xlim(-0.2, t + 0.2)
        _legend_below(figure, f"Tested on (band: ± 1 s.d. over {n} seed{'s' * (n > 1)})",
                      columns=3 if t <= 6 else 6)
        ax.set_title(title)
    return figure


def _legend_below(figure: plt.Figure, title: str, columns: int) -> None:
    """Below the axes, so a figure keeps the column width it was made for."""
    figure.legend(title=title, loc="outside lower center", ncols=columns, frameon=False)


def _by_run(seed_summaries: pd.DataFrame) -> pd.DataFrame:
    """Mean, s.d. and count over seeds of every summary, one row per run, in the selection's order."""
    keys = [key for key in HIGHER_IS_BETTER if key in seed_summaries]
    grouped = seed_summaries.groupby("label", sort=False)
    spread = grouped[keys].agg(["mean", "std"]).fillna({(k, "std"): 0.0 for k in keys})
    spread[("seeds", "n")] = grouped.size().astype(int)
    return spread


def stability_plasticity_figure(seed_summaries: pd.DataFrame, *, metric: str = "auc") -> plt.Figure:
    """Final average score against forgetting, one point per run, error bars ± 1 s.d. over seeds: the
    trade-off every continual method is placed on (top left is best)."""
    runs = _by_run(seed_summaries)
    with style.paper():
        figure, ax = plt.subplots(figsize=(style.COLUMN_WIDTH, 3.0), layout="constrained")
        for k, (run_label, row) in enumerate(runs.iterrows()):
            ax.errorbar(row[("forgetting", "mean")], row[("average", "mean")], xerr=row[("forgetting", "std")],
                        yerr=row[("average", "std")], fmt=style.marker(k), color=style.colour(k), markersize=5,
                        label=f"{run_label} (n = {int(row[('seeds', 'n')])})")
        ax.set_xlabel(axis_label("forgetting", metric))
        ax.set_ylabel(axis_label("average", metric))
        ax.margins(0.15)
        _legend_below(figure, "error bars: ± 1 s.d. over n seeds", columns=2)
    return figure


def summary_bars_figure(seed_summaries: pd.DataFrame, *, metric: str = "auc") -> plt.Figure:
    """Average, forgetting and BWT side by side, one bar per run in each group: the mean over seeds with
    ± 1 s.d. error bars, and every seed as a dot, since with few seeds the dots say more than the bar."""
    runs = _by_run(seed_summaries)
    width = 0.8 / len(runs)
    groups = np.arange(len(BARS))
    with style.paper():
        figure, ax = plt.subplots(figsize=(style.COLUMN_WIDTH, 3.0), layout="constrained")
        ax.axhline(0, color="black", linewidth=0.6)
        for k, (run_label, row) in enumerate(runs.iterrows()):
            x = groups - 0.4 + width * (k + 0.5)
            ax.bar(x, [row[(key, "mean")] for key in BARS], width * 0.9, yerr=[row[(key, "std")] for key in BARS],
                   color=style.colour(k), hatch=style.hatch(k), edgecolor="white", linewidth=0,
                   label=f"{run_label} (n = {int(row[('seeds', 'n')])})", error_kw={"linewidth": 0.8})
            seeds = seed_summaries[seed_summaries["label"] == run_label]
            beside = np.linspace(-0.25, 0.25, len(seeds)) * width
            for g, key in enumerate(BARS):
                ax.scatter(x[g] + beside, seeds[key], s=5, color="black", zorder=3, linewidths=0)
        ax.set_xticks(groups, [f"{conventions.label(key, metric)}\n{fill(SIGN_NOTES[key], 12)}" for key in BARS])
        ax.set_ylabel(f"{metric_name(metric)} summary, mean ± 1 s.d.")
        ax.grid(axis="x", visible=False)
        _legend_below(figure, "dots: one per seed", columns=2)
    return figure


def probe_matrices_figure(detector: np.ndarray, probe: np.ndarray, tasks: list[str], title: str, *,
                          metric: str = "auc") -> plt.Figure:
    """The detector's R, the linear probes' P (same colour scale) and their gap P − R side by side, each cell
    annotated: cells that are dark in R but bright in P are forgetting in the head, not in the features.
    The cells the readout gap averages (past tasks, after the last task) are outlined in the gap panel."""
    t = len(tasks)
    gap = probe - detector
    past = gap[-1, :-1]
    reach = max(0.1, float(np.nanmax(np.abs(gap))))
    low = min(CHANCE, float(np.nanmin(detector)), float(np.nanmin(probe)))
    name = metric_name(metric)
    with style.paper():
        figure, (r_ax, p_ax, p_bar, gap_ax, gap_bar) = plt.subplots(
            1, 5, figsize=(style.FULL_WIDTH, 0.38 * style.FULL_WIDTH), layout="constrained",
            gridspec_kw={"width_ratios": [1, 1, 0.05, 1, 0.05]})
        size = 6.5 if t <= 6 else 5
        _heatmap(r_ax, detector, tasks, vmin=low, vmax=1.0, cmap=style.SEQUENTIAL, colour_label=None, text_size=size)
        _heatmap(p_ax, probe, tasks, vmin=low, vmax=1.0, cmap=style.SEQUENTIAL, colour_label=name, labels=False,
                 text_size=size, colour_axis=p_bar)
        _heatmap(gap_ax, gap, tasks, vmin=-reach, vmax=reach, cmap=DIVERGING, colour_label=f"P − R ({name})",
                 fmt="+.2f", labels=False, text_size=size - 0.5, colour_axis=gap_bar)
        for j in range(t - 1):
            gap_ax.add_patch(Rectangle((j, t - 1), 1, 1, fill=False, edgecolor="black", linewidth=1.0,
                                       linestyle=(0, (2, 1)), clip_on=False))
        r_ax.set_title(f"R: the detector's own head\nforgetting {_signed(_forgetting(detector))}")
        p_ax.set_title(f"P: re-fitted linear probe\nforgetting {_signed(_forgetting(probe))}")
        gap_ax.set_title(f"P − R: readout gap\ndashed cells' mean {_signed(np.nanmean(past)) if past.size else 'n/a'}")
        figure.suptitle(title)
    return figure


def _forgetting(matrix: np.ndarray) -> float:
    value = metrics.forgetting(matrix)
    return np.nan if value is None else value


def _signed(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.3f}"


def forgetting_location_figure(probe_summaries: pd.DataFrame, *, metric: str = "auc") -> plt.Figure:
    """Where each run forgets: representation forgetting (the probes' own) against readout forgetting (the
    detector's minus the probes'), one point per run, error bars ± 1 s.d. over seeds. Their sum is the
    detector's forgetting; above the diagonal most of it is in the head (a re-fitted head would undo it),
    below it the features themselves forgot (replay or distillation)."""
    runs = _by_run(probe_summaries)
    with style.paper():
        figure, ax = plt.subplots(figsize=(style.COLUMN_WIDTH, 3.2), layout="constrained")
        ax.axhline(0, color="0.5", linewidth=0.6)
        ax.axvline(0, color="0.5", linewidth=0.6)
        for k, (run_label, row) in enumerate(runs.iterrows()):
            ax.errorbar(row[("repr_forgetting", "mean")], row[("readout_forgetting", "mean")],
                        xerr=row[("repr_forgetting", "std")], yerr=row[("readout_forgetting", "std")],
                        fmt=style.marker(k), color=style.colour(k), markersize=5,
                        label=f"{run_label} (n = {int(row[('seeds', 'n')])})")
        ax.margins(0.15)
        low, high = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([low, high], [low, high], color="0.35", linestyle="--", linewidth=0.8, zorder=0)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
        note = {"transform": ax.transAxes, "fontsize": 7, "color": "0.3",
                "bbox": {"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5}}
        ax.text(0.03, 0.97, "mostly in the head:\nre-fit the readout", va="top", ha="left", **note)
        ax.text(0.97, 0.03, "mostly in the features:\nreplay or distil", va="bottom", ha="right", **note)
        ax.set_xlabel(axis_label("repr_forgetting", metric))
        ax.set_ylabel(fill(axis_label("readout_forgetting", metric), 38))
        _legend_below(figure, "error bars: ± 1 s.d. over n seeds; dashed: equal shares", columns=2)
    return figure


def probe_summaries(selection: Selection, metric: str = "auc") -> pd.DataFrame:
    """One row per (run, seed) with probes: the run's label, the seed, representation and readout forgetting."""
    rows = [{"label": selection.label(run), "seed": seed,
             "repr_forgetting": block["summary"][metric]["forgetting"],
             "readout_forgetting": block["summary"][metric]["readout_forgetting"]}
            for run in selection.runs for seed, block in zip(selection.seeds(run), selection.probes(run))
            if block is not None]
    return pd.DataFrame(rows, columns=["label", "seed", "repr_forgetting", "readout_forgetting"], dtype=object
                        ).astype({"repr_forgetting": float, "readout_forgetting": float})


ORDER_PANELS = ("average", "forgetting")


def orders_figure(order_summaries: pd.DataFrame, *, metric: str = "auc") -> plt.Figure:
    """Average and forgetting under each task order, one line per run: the mean over seeds with ± 1 s.d.
    error bars and every seed as a dot. Lines only join a run's points, so a crossing is a change of rank;
    the orders themselves have no order (0 is the scenario's own)."""
    runs = list(dict.fromkeys(order_summaries["label"]))
    orders = sorted(set(order_summaries["order"]))
    with style.paper():
        figure, axes = plt.subplots(len(ORDER_PANELS), 1, figsize=(style.COLUMN_WIDTH, 4.4), sharex=True,
                                    layout="constrained")
        for ax, key in zip(axes, ORDER_PANELS):
            for k, run_label in enumerate(runs):
                rows = order_summaries[order_summaries["label"] == run_label]
                grouped = rows.groupby("order")[key]
                x = np.array(sorted(grouped.groups)) + (k - (len(runs) - 1) / 2) * 0.06
                spread = grouped.std(ddof=1).fillna(0.0)
                ax.errorbar(x, grouped.mean(), yerr=spread, color=style.colour(k), marker=style.marker(k),
                            label=f"{run_label} (n = {int(grouped.size().max())} per order)" if ax is axes[0] else None)
                for x_k, order in zip(x, sorted(grouped.groups)):
                    ax.scatter(np.full(grouped.size()[order], x_k), rows.loc[rows["order"] == order, key], s=5,
                               color="black", zorder=3, linewidths=0)
            ax.set_ylabel(fill(axis_label(key, metric), 24))  # one panel tall: a long title would overrun
            ax.grid(axis="x", visible=False)
        figure.align_ylabels(axes)
        axes[-1].set_xticks(orders, [f"{order} (own)" if order == 0 else str(order) for order in orders])
        axes[-1].set_xlabel("Task order")
        _legend_below(figure, "error bars: ± 1 s.d. over n seeds; dots: one per seed", columns=2)
    return figure


def final_by_order_figure(orders: list[int], finals: np.ndarray, tasks: list[str], sequences: list[tuple[str, ...]],
                          title: str, *, metric: str = "auc") -> plt.Figure:
    """The final model's score on each task (columns, by name) under each order (rows), mean over seeds,
    each cell also saying when that task was trained in that order (#1 = first); the task trained last, which
    had no chance to be forgotten, is outlined."""
    t = len(tasks)
    trained_at = np.array([[sequence.index(task) + 1 for task in tasks] for sequence in sequences])
    labels = np.array([[f"{value:.2f}\n#{position}" for value, position in zip(row, positions)]
                       for row, positions in zip(finals, trained_at)])
    with style.paper():
        figure, ax = plt.subplots(figsize=(_width(t), 1.0 + 0.42 * len(orders)))
        sns.heatmap(finals, ax=ax, annot=labels, fmt="", cmap=style.SEQUENTIAL, vmin=min(CHANCE, np.nanmin(finals)),
                    vmax=1.0, xticklabels=tasks, linewidths=0.5, linecolor="white", annot_kws={"size": 6},
                    yticklabels=[f"{order} (own)" if order == 0 else str(order) for order in orders],
                    cbar_kws={"label": f"final {metric_name(metric)}", "shrink": 0.85})
        _readable_annotations(ax, finals)
        for row, positions in enumerate(trained_at):
            ax.add_patch(Rectangle((int(np.argmax(positions)), row), 1, 1, fill=False, edgecolor="black",
                                   linewidth=1.4, clip_on=False))
        _label_heatmap(ax, "Tested on task (final model); #k: trained k-th in that order", "Task order", title)
    return figure


def seed_summaries(selection: Selection, metric: str = "auc") -> pd.DataFrame:
    """One row per (run, seed): the run's display label, the seed and its summaries."""
    frames = [selection.summaries(run, metric).reset_index().assign(run=run, label=selection.label(run))
              for run in selection.runs]
    return pd.concat(frames, ignore_index=True)


def figures(selection: Selection, metric: str = "auc", *, seed_matrices: bool = True
            ) -> Iterator[tuple[str, plt.Figure]]:
    """Every figure of ``selection`` with its file name (no extension), one at a time; ``seed_matrices=False``
    leaves out the per-seed heatmaps (the mean heatmap and the per-seed dots of the bars remain)."""
    tasks = list(selection.tasks)
    lowest = min(CHANCE, min(np.nanmin(selection.matrices(run, metric)) for run in selection.runs))
    for run in selection.runs:
        matrices, seeds = selection.matrices(run, metric), selection.seeds(run)
        strategy, detector = selection.frame.loc[selection.frame["run"] == run, ["strategy", "detector_label"]].iloc[0]
        name = f"{strategy}, {detector}"
        for seed, matrix in zip(seeds, matrices) if seed_matrices else ():
            yield (f"{metric}-matrix--{run}--seed{seed}",
                   matrix_figure(matrix, tasks, f"{name}: seed {seed}", metric=metric, vmin=lowest))
        mean_title = f"{name}: mean of {len(seeds)} seeds ({', '.join(map(str, seeds))})"
        yield (f"{metric}-matrix--{run}--mean",
               matrix_figure(matrices.mean(axis=0), tasks, mean_title, metric=metric, vmin=lowest))
        yield (f"{metric}-per-task--{run}",
               task_curves_figure(matrices, selection.initial(run, metric), tasks, name, metric=metric))
        probed = [k for k, block in enumerate(selection.probes(run)) if block is not None]
        if probed:
            probes = np.stack([results.as_matrix(selection.probes(run)[k]["matrices"][metric]) for k in probed])
            title = f"{name}: mean of {len(probed)} seed{'s' * (len(probed) > 1)} with probes " \
                    f"({', '.join(str(seeds[k]) for k in probed)})"
            yield (f"{metric}-probe-matrix--{run}",
                   probe_matrices_figure(matrices[probed].mean(axis=0), probes.mean(axis=0), tasks, title,
                                         metric=metric))
    summaries = seed_summaries(selection, metric)
    yield f"{metric}-stability-plasticity", stability_plasticity_figure(summaries, metric=metric)
    yield f"{metric}-summary-bars", summary_bars_figure(summaries, metric=metric)
    located = probe_summaries(selection, metric)
    if not located.empty:
        yield f"{metric}-forgetting-location", forgetting_location_figure(located, metric=metric)
    by_order = selection.order_summaries(metric)
    varied = by_order[by_order["run"].isin(set(by_order.loc[by_order["order"] != 0, "run"]))]
    if varied.empty:
        return
    yield f"{metric}-orders", orders_figure(varied, metric=metric)
    for run in dict.fromkeys(varied["run"]):
        found, finals = selection.final_by_task(run, metric)
        strategy, detector = selection.frame.loc[selection.frame["run"] == run, ["strategy", "detector_label"]].iloc[0]
        yield (f"{metric}-final-by-order--{run}",
               final_by_order_figure(found, finals, tasks, [selection.order_tasks(order) for order in found],
                                     f"{strategy}, {detector}: final model per task order", metric=metric))


def write_all(selection: Selection, output: Path, *, metric: str = "auc", formats=style.FORMATS,
              seed_matrices: bool = True) -> list[Path]:
    """Every figure of ``selection`` under ``output``, in each format; returns the files written."""
    return [path for stem, figure in figures(selection, metric, seed_matrices=seed_matrices)
            for path in style.save(figure, output / stem, formats)]
