"""Task orders: the same tasks trained in another sequence.

CDDB-style papers fix one task order (Li et al., WACV 2023), yet a method can rank differently under
another (continual learners are order-sensitive: Yoon et al., ICLR 2020). Order 0 is
the scenario's own; order k ≥ 1 is the k-th seeded permutation of its tasks: numpy's
``default_rng(k).permutation(T)``, drawn again from that generator while it repeats the scenario's order or
an earlier order, so orders 0 … K−1 are always K different sequences. It depends on k and T only.

The data is the same in every order (the scenario is built once, then its tasks are reordered), so results
of all orders share the data fingerprint. A result of order k ≥ 1 records ``scenario.order = {"index": k,
"scenario_tasks": [the scenario's own order]}``, and lives under ``<scenario>+order<k>/``, so orders never
collide and the scenario's own order keeps the plain layout. Matrices stay indexed by training position,
with ``scenario.tasks`` naming each position; ``by_name`` reindexes them by task name to compare orders.

Pure Python and numpy: results, leaderboard, tables and plots use it without torch.
"""

from __future__ import annotations

import dataclasses
from math import factorial
from typing import Any

import numpy as np

from .errors import ConfigError

SUFFIX = "+order"


def permutation(k: int, tasks: int) -> list[int]:
    """Positions, in the scenario's own order, of the tasks trained first, second … under order ``k``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"a task order is an integer ≥ 0 (0 = the scenario's own order), got {k!r}")
    if k >= factorial(tasks):
        raise ConfigError(f"order {k} does not exist for {tasks} tasks: they have {factorial(tasks)} orders "
                          f"(0 … {factorial(tasks) - 1})")
    drawn = [tuple(range(tasks))]
    for seed in range(1, k + 1):
        generator = np.random.default_rng(seed)
        candidate = tuple(generator.permutation(tasks).tolist())
        while candidate in drawn:
            candidate = tuple(generator.permutation(tasks).tolist())
        drawn.append(candidate)
    return list(drawn[k])


def apply(scenario, k: int):
    """``scenario`` with its tasks in order ``k`` (the same object for order 0); datasets are shared."""
    if k == 0:
        permutation(k, len(scenario.tasks))  # still validates k
        return scenario
    return dataclasses.replace(scenario, tasks=[scenario.tasks[i] for i in permutation(k, len(scenario.tasks))])


def record(k: int, scenario_tasks: list[str]) -> dict[str, Any]:
    """What a result (and its configuration) records about its order: nothing for the scenario's own."""
    return {"order": {"index": k, "scenario_tasks": list(scenario_tasks)}} if k else {}


def index(scenario_field: dict[str, Any]) -> int:
    """The order of a result, from its ``scenario`` field (files written before orders existed: 0)."""
    return int((scenario_field.get("order") or {}).get("index", 0))


def folder(scenario: str, k: int) -> str:
    """The results sub-folder of a scenario's order ``k``: ``synthetic``, ``synthetic+order2``."""
    return f"{scenario}{SUFFIX}{k}" if k else scenario


def check_recorded(scenario_field: dict[str, Any]) -> str | None:
    """Why a result's ``scenario.order`` is malformed, or None when it is fine (or absent)."""
    order = scenario_field.get("order")
    if order is None:
        return None
    if not isinstance(order, dict) or isinstance(order.get("index"), bool) or not isinstance(order.get("index"), int) \
            or order["index"] < 1:
        return "scenario.order must be {index: k ≥ 1, scenario_tasks: [...]} (order 0 records none)"
    own, trained = order.get("scenario_tasks"), scenario_field.get("tasks")
    if not isinstance(own, list) or sorted(own) != sorted(trained):
        return "scenario.order.scenario_tasks must list the same tasks as scenario.tasks"
    if [own[i] for i in permutation(order["index"], len(own))] != trained:
        return f"scenario.tasks is not order {order['index']} of scenario.order.scenario_tasks"
    return None


def by_name(matrix: np.ndarray, tasks: list[str], names: list[str]) -> np.ndarray:
    """``matrix`` (rows = after training, columns = tested, both in the training order ``tasks``) with
    rows and columns reordered to ``names``: entry [a][b] is then the score on task names[b] after training
    task names[a], whatever the order it was trained in. A 1-D array (one row) has only its columns."""
    if sorted(tasks) != sorted(names):
        raise ValueError(f"cannot reindex tasks {tasks} by {names}: not the same tasks")
    position = [list(tasks).index(name) for name in names]
    matrix = np.asarray(matrix)
    return matrix[position] if matrix.ndim == 1 else matrix[np.ix_(position, position)]
