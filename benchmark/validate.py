"""``dfcl validate NAME``: the contract a submitted strategy (or detector) must pass, as a checklist with a
✓ or ✗ and a reason per line. Everything runs on the CPU (where a run is bit-for-bit repeatable) on a tiny
two-task scenario (``TINY``) with the entry's CPU-sized parameters (``small`` at registration), so it takes
seconds on a laptop:

1. **runs** the scenario to a valid result file;
2. **deterministic**: a second run gives identical matrices and final weights;
3. **state survives a checkpoint round trip**: interrupted after task 1 (as a kill right after the checkpoint)
   and resumed in a fresh object graph, identical matrices and final weights (``checkpoints``);
4. **hyper-parameters declared and recorded**: every parameter after ``(model, setup)`` keyword-only with a
   JSON-able default, all of them in the result;
5. **never reads a test split during training**: each task's test split raises ``TestSplitRead`` when it is
   read (an item, its labels, any attribute) while ``strategy.train`` runs, however the strategy reached it;
   the runner's evaluation reads it as usual;
6. **model selection uses validation data only**: the trained weights are identical when every task's test
   split is replaced by other images with inverted labels, train and val unchanged. Any use of test data
   that shapes the weights, by any route (a copy taken before training, a bypass of line 5's guard), changes
   them; reading val is allowed;
7. **refuses what it cannot train**: with every registered detector (for a detector: every strategy) it
   trains to a valid result or raises a ``DfclError`` naming one of the two, as ``tests/test_pairs.py``.

The runner is used as it is: the test splits are wrapped in the Scenario handed to ``runner.run``, the
strategy's ``train`` in the object ``strategies.create`` returns, and the interruption comes from
``checkpoints.save``, each patched only for the run that needs it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import yaml
from torch.utils.data import Dataset

import scenarios
import strategies

from . import checkpoints, detectors, results, runner
from .errors import ConfigError, DfclError

#: The tiny scenario (as tests/conftest.py's, with two epochs so that a method selecting among epochs has a
#: choice to make, which line 6 needs).
TINY = {"name": "validate-tiny", "version": "1", "source": "synthetic", "tasks": ["gan_tconv", "faceswap"],
        "params": {"n_train": 24, "n_val": 4, "n_test": 24, "data_seed": 0},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.002}}
OTHER_DRAW = {"data_seed": 1}  # line 6's replacement test images: the same families, other photos and noise
BASELINE = {"strategy": "naive", "detector": "smallcnn"}  # the partner of the entry under validation
PASS, FAIL, SKIP = "✓", "✗", "–"


class TestSplitRead(DfclError):
    """A strategy read a test split while it was training."""


@dataclass
class Line:
    claim: str
    status: str  # PASS, FAIL or SKIP
    reason: str

    def render(self) -> str:
        first, *more = self.reason.split("\n")
        return "\n".join([f"{self.status} {self.claim}: {first}", *(f"      {line}" for line in more)])


@dataclass
class Report:
    name: str
    kind: str
    source: str
    lines: list[Line] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(line.status != FAIL for line in self.lines)

    def render(self) -> str:
        partner = "detector smallcnn" if self.kind == "strategy" else "strategy naive"
        head = (f"dfcl validate {self.name}: {self.kind} from {self.source}; tiny two-task scenario "
                f"({' → '.join(TINY['tasks'])}), {partner}, seed 0")
        failed = sum(line.status == FAIL for line in self.lines)
        tail = (f"passed: {len(self.lines)} checks" if not failed else f"FAILED: {failed} of {len(self.lines)} checks")
        return "\n".join([head, *(line.render() for line in self.lines), f"{tail} ({self.seconds:.0f} s)"]) + "\n"


# --- instruments ----------------------------------------------------------------------------------

def _where() -> str:
    """The innermost frame of the strategy's own code (outside torch, Avalanche, the engine and the scenarios,
    whose loaders and evaluation a strategy may call): where a read came from."""
    import avalanche

    engine = [str(Path(module.__file__).parent) for module in (torch, avalanche, scenarios)] + [str(Path(__file__).parent)]
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(tuple(engine)):
            return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}()"
    return "an unknown place"


class _TestSplitWatch:
    """Which task is training now (None between tasks and during evaluation), and every test read made then."""

    def __init__(self, label: str):
        self.label, self.training, self.reads = label, None, []

    def touched(self, task: tuple[int, str], how: str) -> None:
        if self.training is None:
            return
        message = (f"{self.label} read the test split of task {task[0] + 1} ({task[1]}), {how}, while training "
                   f"on task {self.training}, at {_where()}. A strategy trains on its experiences only and "
                   f"selects models on validation data")
        self.reads.append(message)
        raise TestSplitRead(message)


class _GuardedSplit(Dataset):
    """A test split that raises while a strategy trains, and reads through to the split otherwise."""

    def __init__(self, split: Dataset, task: tuple[int, str], watch: _TestSplitWatch):
        self._split, self._task, self._watch = split, task, watch

    def __len__(self) -> int:
        return len(self._split)

    def __getitem__(self, index):
        self._watch.touched(self._task, f"item {index}")
        return self._split[index]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        self._watch.touched(self._task, f"its .{name}")
        return getattr(self._split, name)


class _Relabelled(Dataset):
    """Another draw's test images, every label inverted: a method that picks its weights with test data
    picks other weights here."""

    def __init__(self, split: Dataset):
        self.split, self.targets = split, [1 - int(t) for t in split.targets]

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index):
        image, label = self.split[index]
        return image, 1 - int(label)


def _with_tests(scenario: scenarios.Scenario, tests: list[Dataset]) -> scenarios.Scenario:
    return dataclasses.replace(scenario, tasks=[dataclasses.replace(task, test=test)
                                                for task, test in zip(scenario.tasks, tests)])


@contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def _watched_training(watch: _TestSplitWatch) -> Iterator[None]:
    """Every strategy the runner creates marks, while its ``train`` runs, which task is training."""
    create = strategies.create

    def create_watched(*args, **kwargs):
        strategy = create(*args, **kwargs)
        train = strategy.train

        def train_watched(experience, *train_args, **train_kwargs):
            watch.training = f"{experience.current_experience + 1}"
            try:
                return train(experience, *train_args, **train_kwargs)
            finally:
                watch.training = None
        strategy.train = train_watched
        return strategy

    with _patched(strategies, "create", create_watched):
        yield


class Interrupted(Exception):
    """Stands for a kill right after a task's checkpoint was written."""


def interrupting_save(after: int) -> Callable:
    """``checkpoints.save`` that raises ``Interrupted`` once task ``after``'s checkpoint is written."""
    save = checkpoints.save

    def save_then_stop(folder, completed, payload):
        path = save(folder, completed, payload)
        if completed == after:
            raise Interrupted
        return path
    return save_then_stop


# --- runs -----------------------------------------------------------------------------------------

@dataclass
class _Run:
    result: dict[str, Any]
    weights: dict[str, torch.Tensor]


class _Runner:
    """Tiny runs of one (strategy, detector) pair in folders of a temporary directory."""

    def __init__(self, workdir: Path, scenario: scenarios.Scenario):
        self.workdir, self.scenario = workdir, scenario

    def request(self, folder: str, strategy: str, detector: str, **overrides) -> runner.RunRequest:
        return runner.RunRequest(
            scenario=self.scenario.name, strategy=strategy, detector=detector, seeds=[0],
            strategy_params=strategies.REGISTRY.small_params(strategy),
            detector_params=detectors.REGISTRY.small_params(detector), device="cpu",
            results_dir=self.workdir / folder, save_scores=False, **overrides)

    def run(self, folder: str, strategy: str, detector: str, scenario: scenarios.Scenario | None = None) -> _Run:
        outcome, = runner.run(self.request(folder, strategy, detector, keep_checkpoints=True),
                              scenario=scenario or self.scenario)
        last = checkpoints.directory(outcome.path) / f"task{len(self.scenario.tasks)}.pt"
        weights = torch.load(last, weights_only=True, map_location="cpu")["strategy"]["model"]
        return _Run(results.load(outcome.path), weights)

    def resumed(self, folder: str, strategy: str, detector: str) -> _Run:
        with _patched(checkpoints, "save", interrupting_save(1)):
            try:
                self.run(folder, strategy, detector)
            except Interrupted:
                pass
            else:
                raise AssertionError("the run was not interrupted after task 1")
        return self.run(folder, strategy, detector)


def _same_run(a: _Run, b: _Run, fields: tuple[str, ...] = ("matrices", "initial", "training")) -> str | None:
    """What differs between two runs (``fields`` of their results, then their final weights), or None."""
    for key in fields:
        if a.result[key] != b.result[key]:
            return f"their {key} differ"
    if a.weights.keys() != b.weights.keys():
        return "their final models hold different tensors"
    differing = [name for name in a.weights if not torch.equal(a.weights[name], b.weights[name])]
    return f"final weights differ in {', '.join(differing[:3])}" + (" …" if len(differing) > 3 else "") if differing else None


def _error_line(error: BaseException) -> str:
    return str(error) if isinstance(error, DfclError) else traceback.format_exception_only(error)[-1].strip()


# --- the checklist --------------------------------------------------------------------------------

def _hyper_parameters(kind: str, name: str, run: _Run | None) -> Line:
    claim = "hyper-parameters declared and recorded"
    registry = strategies.REGISTRY if kind == "strategy" else detectors.REGISTRY
    parameters = list(inspect.signature(registry.get(name)).parameters.values())
    own = parameters[2:] if kind == "strategy" else parameters
    problems = []
    if kind == "strategy" and [p.kind for p in parameters[:2]] != [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2:
        problems.append("the factory must take (model, setup) first, then its hyper-parameters after `*`")
    for p in own:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            problems.append(f"{'**' if p.kind is p.VAR_KEYWORD else '*'}{p.name} hides hyper-parameters: name each one")
        elif p.kind is not p.KEYWORD_ONLY:
            problems.append(f"{p.name} is not keyword-only, so it is neither recorded nor settable: put it after `*`")
        elif p.default is p.empty:
            problems.append(f"{p.name} has no default: give the paper's value")
        elif not _jsonable(p.default):
            problems.append(f"{p.name}'s default {p.default!r} cannot be recorded in a JSON result")
    declared = registry.defaults(name)
    if run is not None and not problems:
        recorded = run.result[kind]["params"]
        expected = results.jsonable(registry.params(name, registry.small_params(name)))
        if recorded != expected:
            problems.append(f"the result records {recorded}, not its parameters {expected}")
    if problems:
        return Line(claim, FAIL, "; ".join(problems))
    shown = ", ".join(f"{key}={value!r}" for key, value in declared.items()) or "none (it has no hyper-parameters)"
    where = f"all in the result's {kind}.params" if run is not None else "the result was not checked (no run)"
    return Line(claim, PASS, f"{shown}; keyword-only, JSON-able defaults, {where}")


def _jsonable(value: Any) -> bool:
    try:
        plain = results.jsonable(value)
        return json.loads(json.dumps(plain)) == plain
    except (TypeError, ValueError):
        return False


def _pairs(kind: str, name: str, tiny: _Runner, pair: dict[str, str], first: _Run | None) -> Line:
    """Line 7: every partner from the other registry trains to a valid result or is refused by name."""
    others = (detectors.REGISTRY if kind == "strategy" else strategies.REGISTRY).available()
    claim = "refuses detectors it cannot train" if kind == "strategy" else "refuses strategies it cannot serve"
    trained, refused, failed = [], [], []
    for other in others:
        strategy, detector = (name, other) if kind == "strategy" else (other, name)
        if first is not None and (strategy, detector) == (pair["strategy"], pair["detector"]):
            trained.append(other)  # line 1's run
            continue
        try:
            outcome, = runner.run(tiny.request(f"pair-{other}", strategy, detector), scenario=tiny.scenario)
            auc = results.load(outcome.path)["matrices"]["auc"]
        except DfclError as refusal:
            if name in str(refusal) or other in str(refusal):
                refused.append(f"refuses {other}: {refusal}")
            else:
                failed.append(f"{other}: refused without naming {name} or {other}: {refusal}")
            continue
        except Exception as error:  # a crash instead of a clear refusal
            failed.append(f"{other}: crashed instead of refusing: {_error_line(error)}")
            continue
        if all(value is not None and 0 <= value <= 1 for row in auc for value in row):
            trained.append(other)
        else:
            failed.append(f"{other}: trained to AUC values outside [0, 1] or NaN: {auc}")
    summary = f"trains {len(trained)} ({', '.join(trained) or 'none'})"
    if failed:
        return Line(claim, FAIL, "\n".join([f"{len(failed)} neither train nor refuse clearly; {summary}", *failed]))
    return Line(claim, PASS, "\n".join([f"{summary}; refuses {len(refused)} with a message", *refused]))


def resolve(name: str, kind: str | None = None) -> str:
    """Whether ``name`` is a strategy or a detector (a strategy first, when both registries hold it)."""
    found = [k for k, registry in (("strategy", strategies.REGISTRY), ("detector", detectors.REGISTRY))
             if (kind in (None, k)) and name in registry.available()]
    if not found:
        for registry in (strategies.REGISTRY, detectors.REGISTRY):
            if kind in (None, registry.kind):
                registry.get(name)  # raises: why it cannot be used (a plugin that failed), or the known names
        raise ConfigError(f"unknown {kind or 'strategy or detector'} {name!r}")
    return found[0]


@contextmanager
def _quiet() -> Iterator[None]:
    """The runner's progress lines would drown the checklist."""
    logger = logging.getLogger("dfcl")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


RUNS, DETERMINISTIC, ROUND_TRIP = ("runs the tiny two-task scenario", "deterministic",
                                   "its state survives a checkpoint round trip")
NO_TEST_READS, VALIDATION_ONLY = "never reads a test split during training", "model selection uses validation data only"
NOT_RUN = "not checked: it does not run the tiny scenario (line 1)"


def validate(name: str, kind: str | None = None) -> Report:
    """Run the checklist for strategy (or detector) ``name``; see the module docstring."""
    kind = resolve(name, kind)
    registry = strategies.REGISTRY if kind == "strategy" else detectors.REGISTRY
    report = Report(name, kind, str(registry.source(name)))
    pair = {"strategy": name, "detector": BASELINE["detector"]} if kind == "strategy" else \
        {"strategy": BASELINE["strategy"], "detector": name}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dfcl-validate-") as folder, _quiet():
        workdir = Path(folder)
        (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
        tiny = _Runner(workdir, scenarios.load(workdir / "tiny.yaml"))
        try:
            first = tiny.run("first", **pair)
            aucs = ", ".join(f"{v:.2f}" for v in first.result["matrices"]["auc"][-1])
            report.lines.append(Line(RUNS, PASS, f"a valid result, final AUC {aucs}"))
        except Exception as error:
            first = None
            report.lines.append(Line(RUNS, FAIL, _error_line(error)))
        report.lines += _runs_checked(kind, name, tiny, pair, first, workdir)
        report.lines.append(_pairs(kind, name, tiny, pair, first))
    report.seconds = time.perf_counter() - started
    return report


def _runs_checked(kind: str, name: str, tiny: _Runner, pair: dict[str, str], first: _Run | None,
                  workdir: Path) -> list[Line]:
    """Lines 2 to 6, each against line 1's run."""
    if first is None:
        return [Line(DETERMINISTIC, SKIP, NOT_RUN), Line(ROUND_TRIP, SKIP, NOT_RUN),
                _hyper_parameters(kind, name, None), Line(NO_TEST_READS, SKIP, NOT_RUN),
                Line(VALIDATION_ONLY, SKIP, NOT_RUN)]
    lines = [_compare(DETERMINISTIC, "two runs, identical matrices and final weights", first,
                      lambda: tiny.run("second", **pair)),
             _compare(ROUND_TRIP, "interrupted after task 1, resumed in a fresh object graph: identical matrices "
                                  "and final weights", first, lambda: tiny.resumed("resumed", **pair),
                      differs="resumed after task 1 it ends elsewhere, so some part keeps state it does not "
                              "declare (benchmark/checkpoints.py: checkpoint_state/restore_state)"),
             _hyper_parameters(kind, name, first),
             _test_reads(tiny, pair, f"{kind} {name!r}")]
    if lines[-1].status == FAIL:
        lines.append(Line(VALIDATION_ONLY, SKIP, "not checked separately: the test split is read while it trains "
                                                 "(line above)"))
        return lines
    other = scenarios.load(workdir / "tiny.yaml", params=OTHER_DRAW)
    swapped = _with_tests(tiny.scenario, [_Relabelled(task.test) for task in other.tasks])
    lines.append(_compare(VALIDATION_ONLY, "identical training losses and final weights with every test split "
                                           "replaced by other images with inverted labels", first,
                          lambda: tiny.run("swapped", **pair, scenario=swapped),
                          differs="its training depends on the test data", fields=("training",)))
    return lines


def _compare(claim: str, success: str, first: _Run, again: Callable[[], _Run], differs: str = "not reproduced",
             fields: tuple[str, ...] = ("matrices", "initial", "training")) -> Line:
    try:
        difference = _same_run(first, again(), fields)
    except Exception as error:
        return Line(claim, FAIL, f"the run to compare with failed: {_error_line(error)}")
    return Line(claim, PASS, success) if difference is None else Line(claim, FAIL, f"{differs}: {difference}")


def _test_reads(tiny: _Runner, pair: dict[str, str], label: str) -> Line:
    """Line 5: a run whose test splits raise while the strategy trains; every read made then is recorded, so
    a strategy that swallows the exception is caught too."""
    watch = _TestSplitWatch(label)
    guarded = _with_tests(tiny.scenario, [_GuardedSplit(task.test, (j, task.name), watch)
                                          for j, task in enumerate(tiny.scenario.tasks)])
    with _watched_training(watch):
        try:
            tiny.run("guarded", **pair, scenario=guarded)
        except Exception as error:  # TestSplitRead, or whatever a strategy raised after swallowing one
            if not watch.reads:
                return Line(NO_TEST_READS, FAIL, f"the run with guarded test splits failed: {_error_line(error)}")
    if not watch.reads:
        return Line(NO_TEST_READS, PASS, "no test split was read while it trained (reads of items, labels and "
                                         "attributes raise then)")
    more = f" ({len(watch.reads) - 1} more read(s) after it)" if len(watch.reads) > 1 else ""
    return Line(NO_TEST_READS, FAIL, watch.reads[0] + more)
