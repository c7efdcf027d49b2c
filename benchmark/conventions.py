"""How each continual-learning summary is named, which direction is better, and what its sign means.

One place, so that figures, tables and comparisons label a metric the same way and a reader never has
to guess whether a positive forgetting or a negative BWT is the bad case (definitions in metrics.py, and
in readout.py for the probe summaries).
"""

from __future__ import annotations

REPORTED = ("average", "forgetting", "bwt", "fwt")
#: From a result's optional probe block (readout.py): table key → the block's summary key.
PROBE_REPORTED = {"repr_forgetting": "forgetting", "readout_gap": "readout_gap"}
NAMES = {"average": "Avg", "forgetting": "Forgetting", "bwt": "BWT", "fwt": "FWT",  # as in leaderboard.md
         "repr_forgetting": "Repr. forgetting", "readout_forgetting": "Readout forgetting", "readout_gap": "Readout gap"}
#: None: neither direction is better (a large readout gap is forgetting that a re-fitted head would undo).
HIGHER_IS_BETTER = {"average": True, "forgetting": False, "bwt": True, "fwt": True,
                    "repr_forgetting": False, "readout_forgetting": None, "readout_gap": None}
SIGN_NOTES = {"average": "final model", "forgetting": "positive = forgotten",
              "bwt": "negative = forgotten", "fwt": "vs. untrained model",
              "repr_forgetting": "positive = the features forgot",
              "readout_forgetting": "positive = the head forgot more than the features",
              "readout_gap": "positive = features beat the head"}


def metric_name(metric: str) -> str:
    return {"auc": "AUC", "acc": "Acc"}.get(metric, metric.upper())


def arrow(summary: str) -> str:
    better = HIGHER_IS_BETTER[summary]
    return "" if better is None else "↑" if better else "↓"


def label(summary: str, metric: str) -> str:
    """A column title, as the leaderboard's: 'Avg AUC ↑', 'Forgetting (AUC) ↓', 'Readout gap (AUC)'."""
    if summary == "average":
        return f"{NAMES[summary]} {metric_name(metric)} {arrow(summary)}"
    return f"{NAMES[summary]} ({metric_name(metric)}) {arrow(summary)}".rstrip()


def axis_label(summary: str, metric: str) -> str:
    """An axis title that carries the sign convention: 'Forgetting (AUC) ↓, positive = forgotten'."""
    return f"{label(summary, metric)}, {SIGN_NOTES[summary]}"
