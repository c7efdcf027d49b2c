"""How each continual-learning summary is named, which direction is better, and what its sign means.

One place, so that figures, tables and comparisons label a metric the same way and a reader never has
to guess whether a positive forgetting or a negative BWT is the bad case (definitions in metrics.py).
"""

from __future__ import annotations

REPORTED = ("average", "forgetting", "bwt", "fwt")
NAMES = {"average": "Avg", "forgetting": "Forgetting", "bwt": "BWT", "fwt": "FWT"}  # as in leaderboard.md
HIGHER_IS_BETTER = {"average": True, "forgetting": False, "bwt": True, "fwt": True}
SIGN_NOTES = {"average": "final model", "forgetting": "positive = forgotten",
              "bwt": "negative = forgotten", "fwt": "vs. untrained model"}


def metric_name(metric: str) -> str:
    return {"auc": "AUC", "acc": "Acc"}.get(metric, metric.upper())


def arrow(summary: str) -> str:
    return "↑" if HIGHER_IS_BETTER[summary] else "↓"


def label(summary: str, metric: str) -> str:
    """A column title, as the leaderboard's: 'Avg AUC ↑', 'Forgetting (AUC) ↓'."""
    if summary == "average":
        return f"{NAMES[summary]} {metric_name(metric)} {arrow(summary)}"
    return f"{NAMES[summary]} ({metric_name(metric)}) {arrow(summary)}"


def axis_label(summary: str, metric: str) -> str:
    """An axis title that carries the sign convention: 'Forgetting (AUC) ↓, positive = forgotten'."""
    return f"{label(summary, metric)}, {SIGN_NOTES[summary]}"
