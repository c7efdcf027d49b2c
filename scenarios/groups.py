"""Splits that keep groups whole: files that belong together land on the same side of every split.

Real datasets come in groups that must never straddle train and test: the frames of one video
(FaceForensics++, DFDC; DeepfakeBench splits by video), the real/fake pair of one scene (pix2pix). A
group rule gives every file one or more group ids, from its path below its class folder:

* ``subfolder`` — the first folder below the class folder: ``0_real/<video>/0001.png`` → ``<video>``;
* ``{pattern: "{group}_{frame}.png"}`` — fields in braces match one or more characters other than ``/``
  (an earlier field takes as many as it can); a list of patterns is tried in order, the first match
  counts. Fields named ``group…`` are group ids; others (``{frame}``) match anything. The ids one file
  carries are joined: FF++'s fake ``000_003/0001.png`` under ``{group}_{group2}/{frame}`` joins the
  videos 000 and 003, as the official split keeps a target/source pair together.

Ids are shared across classes: under ``{group}.png`` real ``0007.png`` and fake ``0007.png`` are one group.
Without a rule every file is its own group.

The split is stratified by the classes a group holds (real only, fake only, both). Within a stratum the
groups are ordered by a keyed hash of (data seed, task folder, group id) and cut by ``fractions`` of
their number, at least one group per split where the stratum has enough. No random generator is shared
between tasks, so a task's split does not depend on which tasks come before it, and tasks that read the
same folder (FF++'s real videos) split a shared group the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import ConfigError, DataError

from .scenario import SPLITS

Item = tuple[Path, tuple[str, ...]]  # a file and its group ids
FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class GroupRule:
    """How a file's path below its class folder names its group(s)."""

    patterns: tuple[str, ...] = ()  # empty: the first sub-folder is the group

    def __post_init__(self):
        object.__setattr__(self, "_compiled", tuple(_compile(pattern) for pattern in self.patterns))

    def ids(self, relative: str) -> tuple[str, ...] | None:
        """The group ids of a file at ``relative`` (POSIX, below its class folder); None if none match."""
        if not self.patterns:
            head, sep, _ = relative.partition("/")
            return (head,) if sep else None
        for regex, names in self._compiled:
            match = regex.fullmatch(relative)
            if match:
                return tuple(match.group(name) for name in names)
        return None

    def __str__(self) -> str:
        return "subfolder" if not self.patterns else " or ".join(repr(p) for p in self.patterns)


def _compile(pattern: str) -> tuple[re.Pattern, tuple[str, ...]]:
    parts, names, seen, at = [], [], set(), 0
    for field in FIELD.finditer(pattern):
        parts.append(re.escape(pattern[at:field.start()]))
        name = field.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)")
        if name not in seen and name.startswith("group"):
            names.append(name)
        seen.add(name)
        at = field.end()
    parts.append(re.escape(pattern[at:]))
    return re.compile("".join(parts)), tuple(names)


def parse_rule(value: Any, where: str) -> GroupRule | None:
    """A group rule from its YAML form (null, ``subfolder`` or ``{pattern: …}``), or a ConfigError."""
    if value is None:
        return None
    if value == "subfolder":
        return GroupRule()
    if isinstance(value, dict) and set(value) == {"pattern"}:
        patterns = [value["pattern"]] if isinstance(value["pattern"], str) else value["pattern"]
        if (isinstance(patterns, list) and patterns and all(isinstance(p, str) for p in patterns)
                and all(any(n.startswith("group") for n in FIELD.findall(p)) for p in patterns)):
            return GroupRule(tuple(patterns))
        raise ConfigError(f"{where}: group.pattern must be a pattern, or a list of them, each with a "
                          f"{{group}} field (e.g. \"{{group}}_{{frame}}.png\"), got {value['pattern']!r}")
    raise ConfigError(f"{where}: group must be null, 'subfolder' or {{pattern: \"{{group}}_{{frame}}.png\"}}, "
                      f"got {value!r}")


def cuts(n: int, weights: np.ndarray) -> np.ndarray:
    """Where to cut ``n`` ordered items into shares ``weights``, at least one item per share when n allows."""
    k = len(weights)
    at = np.round(np.cumsum(weights)[:-1] / weights.sum() * n).astype(int)
    if n >= k:
        for i in range(k - 1):  # at least one item before each cut, and enough after it for the rest
            at[i] = min(max(at[i], (at[i - 1] if i else 0) + 1), n - (k - 1 - i))
    return at


def _components(items: dict[int, list[Item]]) -> dict[str, dict[int, list[Path]]]:
    """Groups joined through shared ids, each named by its smallest id: name → label → files."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for files in items.values():
        for _, ids in files:
            for node in ids:
                parent.setdefault(node, node)
                a, b = root(ids[0]), root(node)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, dict[int, list[Path]]] = {}
    for label, files in items.items():
        for path, ids in files:
            groups.setdefault(root(ids[0]), {}).setdefault(label, []).append(path)
    return groups


def split_groups(items: dict[int, list[Item]], fractions: dict[str, float], key: str, where: str
                 ) -> dict[str, dict[int, list[Path]]]:
    """Files by label → split → label → sorted files, every group on one side (see the module docstring).

    ``key`` (data seed and task folder) seeds the order; ``where`` names the task in errors.
    """
    names = [name for name in SPLITS if name in fractions]
    weights = np.array([fractions[name] for name in names], dtype=float)
    groups = _components(items)
    strata: dict[tuple[int, ...], list[str]] = {}
    for name, by_label in groups.items():
        strata.setdefault(tuple(sorted(by_label)), []).append(name)
    parts: dict[str, dict[int, list[Path]]] = {name: {label: [] for label in items} for name in names}
    for members in strata.values():
        members.sort(key=lambda group: hashlib.sha256(f"{key}\0{group}".encode()).hexdigest())
        for split, chunk in zip(names, np.split(np.array(members, dtype=object), cuts(len(members), weights))):
            for group in chunk:
                for label, paths in groups[group].items():
                    parts[split][label] += paths
    for split, by_label in parts.items():
        for label, paths in by_label.items():
            if not paths:
                held = sum(len(m) for s, m in strata.items() if label in s)
                raise DataError(f"{where}: {held} group(s) holding class {label} cannot fill the {len(names)} "
                                f"splits {names}: split '{split}' gets none of its files. Add images of that "
                                f"class, or use a rule with smaller groups.")
            paths.sort()
    return parts
