"""Per-task checkpoints: everything a continual run needs to continue after task k exactly as if it had never
stopped, as tensors and plain containers (``torch.load(weights_only=True)``; nothing is pickled).

Avalanche's own checkpoints pickle the whole strategy and break on many plugins (methods.md §3.4), so each
strategy declares its state instead, through one small protocol: a template or plugin that keeps something
from one task to the next implements ``checkpoint_state() -> dict`` and ``restore_state(state, context)``;
one that keeps nothing says so by inheriting ``NoStateAcrossTasks``. ``capture`` refuses a plugin that does
neither, so a new strategy cannot silently lose state on resume. What is shared (the model, the optimiser,
Avalanche's clock) is captured here for every strategy.

A checkpoint is ``<results>/<scenario>/<run>/seed<N>.ckpt/task<k>.pt`` with a SHA-256 sidecar
``task<k>.pt.sha256``, both written atomically; the newest one whose checksum and configuration match is
resumed, a corrupt one is reported by name and the previous good one used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.plugins.clock import Clock
from avalanche.training.supervised import Naive
from avalanche.training.templates.base_sgd import PeriodicEval
from torch import nn

from .errors import ResultError
from .results import write_atomic

log = logging.getLogger("dfcl")

FORMAT = 1
CLOCK_FIELDS = ("train_iterations", "train_exp_counter", "train_exp_epochs", "train_exp_iterations",
                "train_epoch_iterations", "total_iterations")
#: Avalanche classes that keep nothing across tasks and that our strategies use unmodified (exact types:
#: a subclass may add state).
AVALANCHE_STATELESS = (EvaluationPlugin, PeriodicEval, Naive)
KEEP = 2  # checkpoints kept per seed: the newest and the one before, in case the newest is damaged


@dataclass
class RestoreContext:
    """What a strategy's ``restore_state`` may need to rebuild objects that hold data: the training
    experiences of the whole stream (memories keep indices into them), the device, and the run's seed."""

    experiences: list
    device: torch.device
    seed: int
    model: nn.Module | None = None  # the strategy's model, already holding its restored weights


@runtime_checkable
class Stateful(Protocol):
    def checkpoint_state(self) -> dict[str, Any]:
        """Tensors and plain containers describing what this part keeps from one task to the next."""

    def restore_state(self, state: dict[str, Any], context: RestoreContext) -> None:
        """Rebuild that state on a freshly built strategy from ``checkpoint_state``'s output."""


class NoStateAcrossTasks:
    """For a plugin or template whose state is rebuilt at the start of every task (a learning-rate schedule,
    a progress bar, SAM's per-step buffers): it declares that there is nothing to checkpoint."""

    def checkpoint_state(self) -> dict[str, Any]:
        return {}

    def restore_state(self, state: dict[str, Any], context: RestoreContext) -> None:
        pass


def module_copy(model: nn.Module, weights: dict[str, torch.Tensor] | None) -> nn.Module | None:
    """A frozen copy of ``model`` (eval mode, no gradients) holding ``weights``: how past models and teachers
    are rebuilt from their state dicts."""
    if weights is None:
        return None
    import copy

    frozen = copy.deepcopy(model)
    frozen.load_state_dict(weights)
    return frozen.eval().requires_grad_(False)


def _parts(strategy) -> dict[str, object]:
    """The template and each plugin, keyed by position and class name (stable for one strategy)."""
    parts = {"template": strategy}
    for index, plugin in enumerate(strategy.plugins):
        if not isinstance(plugin, Clock):
            parts[f"plugin{index}:{type(plugin).__name__}"] = plugin
    return parts


def _declared(part: object) -> bool:
    if isinstance(part, Stateful):
        return True
    if type(part) in AVALANCHE_STATELESS:
        return False
    raise ResultError(f"{type(part).__module__}.{type(part).__name__} declares no checkpoint state: implement "
                      f"checkpoint_state()/restore_state() (benchmark/checkpoints.py), or inherit "
                      f"NoStateAcrossTasks if it keeps nothing from one task to the next")


def capture(strategy, *, optimizer: bool = True) -> dict[str, Any]:
    """The strategy's complete state after a task: model, clock, every declared part, and the optimiser's
    state when it carries over to the next task (``optimizer``; with a reset at every task it would be
    thrown away at once: for Adam on ResNet-50 that is two thirds of the file)."""
    state = {"model": strategy.model.state_dict(),
             "optimizer": strategy.optimizer.state_dict() if optimizer else None,
             "clock": {name: int(getattr(strategy.clock, name)) for name in CLOCK_FIELDS}, "parts": {}}
    for key, part in _parts(strategy).items():
        if _declared(part):
            state["parts"][key] = part.checkpoint_state()
    return state


def restore(strategy, state: dict[str, Any], context: RestoreContext) -> None:
    """Put ``capture``'s output into a strategy built from nothing for the same configuration."""
    strategy.model.load_state_dict(state["model"])
    context.model = strategy.model
    for name, value in state["clock"].items():
        setattr(strategy.clock, name, value)
    parts = {key: part for key, part in _parts(strategy).items() if _declared(part)}
    if set(parts) != set(state["parts"]):
        raise ResultError(f"the checkpoint's strategy parts {sorted(state['parts'])} are not this strategy's "
                          f"{sorted(parts)}")
    for key, part in parts.items():
        part.restore_state(state["parts"][key], context)
    # Avalanche resets the optimiser the first time a strategy trains; mark it initialised first, so the
    # restored moments survive (what ``reset_optimizer`` then does at the task boundary is as uninterrupted).
    strategy.make_optimizer(reset_optimizer_state=True)
    if state["optimizer"] is not None:
        strategy.optimizer.load_state_dict(state["optimizer"])


# --- files ------------------------------------------------------------------------------------------

def directory(result_path: Path) -> Path:
    """Where a seed's checkpoints live: beside its result file."""
    return result_path.with_suffix(".ckpt")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save(folder: Path, completed: int, payload: dict[str, Any]) -> Path:
    """Write the checkpoint after task ``completed`` (1-based) atomically, its checksum after it, and drop
    all but the newest ``KEEP``."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "completed": completed, **payload}, buffer)
    data = buffer.getvalue()
    path = folder / f"task{completed}.pt"
    write_atomic(path, data)
    write_atomic(_sidecar(path), hashlib.sha256(data).hexdigest() + "\n")
    for old in numbered(folder)[:-KEEP]:
        old.unlink(missing_ok=True)
        _sidecar(old).unlink(missing_ok=True)
    return path


def numbered(folder: Path) -> list[Path]:
    """The checkpoint files in ``folder``, by task, oldest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("task*.pt") if (m := re.fullmatch(r"task(\d+)\.pt", p.name))]
    return [p for _, p in sorted(found)]


def _read(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None (with a warning naming the file) when it is damaged."""
    try:
        data = path.read_bytes()
        expected = _sidecar(path).read_text().strip()
    except OSError as error:
        log.warning("checkpoint %s is incomplete (%s): ignored", path, error)
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        log.warning("checkpoint %s is damaged (its SHA-256 does not match %s): ignored", path, _sidecar(path).name)
        return None
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:  # a checksummed file that still fails to load: a bug or a foreign file
        log.warning("checkpoint %s cannot be loaded (%s): ignored", path, error)
        return None


def latest(folder: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The newest intact checkpoint in ``folder``, or None. One from another configuration (``identity``:
    config hash, data fingerprint, seed) is never resumed: it is an error, so the user decides (--force)."""
    for path in reversed(numbered(folder)):
        checkpoint = _read(path)
        if checkpoint is None:
            continue
        if checkpoint.get("format") != FORMAT:
            raise ResultError(f"{path} is checkpoint format {checkpoint.get('format')}, this version reads format "
                              f"{FORMAT}; rerun with --force to start this seed over (its checkpoints are removed), "
                              f"or finish it with the version that wrote it")
        found = {key: checkpoint.get(key) for key in identity}
        if found != identity:
            raise ResultError(f"{path} belongs to another configuration ({found} vs {identity} now); rerun with "
                              f"--force to start this seed over (its checkpoints are removed)")
        return checkpoint
    return None


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
