"""`dfcl validate`: each line of the contract fails for a strategy that breaks it, and only the lines it
breaks. The strategies below are registered into registries of this test's own (the real ones, which the
registry-wide tests walk, never see them), beside the built-in ``naive`` and ``smallcnn`` (and ``cmfl``)."""

import inspect
import random

import pytest
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.supervised import Naive

from benchmark import validate
from benchmark.checkpoints import NoStateAcrossTasks
from benchmark.cli import main
from benchmark.errors import ConfigError
from conftest import REPO, import_unregistered
from scenarios import Scenario

LINES = ["runs the tiny two-task scenario", "deterministic", "its state survives a checkpoint round trip",
         "hyper-parameters declared and recorded", "never reads a test split during training",
         "model selection uses validation data only", "refuses detectors it cannot train"]


class LossScale(NoStateAcrossTasks, SupervisedPlugin):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def before_backward(self, strategy, **kwargs):
        strategy.loss = strategy.loss * self.scale()


class UnseededNoise(LossScale):
    def __init__(self):
        super().__init__(lambda: random.SystemRandom().uniform(0.5, 1.5))


class ForgetsItsAnchor(NoStateAcrossTasks, SupervisedPlugin):
    """Keeps the previous task's weights as an anchor but declares that it keeps nothing: lost on resume."""

    def __init__(self):
        super().__init__()
        self.anchor = None

    def before_backward(self, strategy, **kwargs):
        if self.anchor is not None:
            strategy.loss = strategy.loss + sum((p - a).pow(2).sum() for p, a in
                                                zip(strategy.model.parameters(), self.anchor))

    def after_training_exp(self, strategy, **kwargs):
        self.anchor = [p.detach().clone() for p in strategy.model.parameters()]


class Undeclared(SupervisedPlugin):
    pass


def built(model, setup, *plugins):
    return Naive(**setup.template_kwargs(model, plugins=list(plugins)))


def running_scenario() -> Scenario:
    frame = inspect.currentframe()
    while frame is not None:
        if isinstance(frame.f_locals.get("scenario"), Scenario):
            return frame.f_locals["scenario"]
        frame = frame.f_back


def scaled_by_a_test_image(model, setup):
    """Reads a test image while it is built, not while it trains, and lets it shape the training."""
    image, _ = running_scenario().tasks[0].test[0]
    return built(model, setup, LossScale(lambda: 1 + float(image.mean())))


def picky(model, setup):
    if type(model).__name__ != "SmallCNN":
        raise ConfigError(f"strategy 'picky' trains SmallCNN only, not detector {type(model).__name__}")
    return built(model, setup)


def crashes_elsewhere(model, setup):
    if type(model).__name__ != "SmallCNN":
        raise TypeError("unsupported operand")
    return built(model, setup)


def broken_example():
    """examples/dfcl-example-broken's strategy, imported without installing it."""
    return import_unregistered(REPO / "examples" / "dfcl-example-broken", "dfcl_example_broken.peeking_naive").peeking_naive


CASES = {  # name: (factory, the lines it must fail, 1-based, other detectors beside smallcnn)
    "naive": (None, set(), ["cmfl"]),
    "picky": (picky, set(), ["cmfl"]),
    "unseeded": (lambda model, setup: built(model, setup, UnseededNoise()), {2, 3, 6}, []),
    "forgets-its-anchor": (lambda model, setup: built(model, setup, ForgetsItsAnchor()), {3}, []),
    "undeclared": (lambda model, setup: built(model, setup, Undeclared()), {1, 7}, []),
    "positional": (lambda model, setup, alpha=0.5: built(model, setup), {4}, []),
    "catch-all": (lambda model, setup, **options: built(model, setup), {4}, []),
    "test-image-at-build": (scaled_by_a_test_image, {6}, []),
    "crashes-elsewhere": (crashes_elsewhere, {7}, ["cmfl"]),
    "peeking-naive": (broken_example(), {5}, []),  # early stopping on the test split
}


@pytest.fixture
def registries(contract_registries):
    def install(name: str, partners: list[str]):
        contract_registries({name: CASES[name][0]} if CASES[name][0] else {}, partners)
    return install


@pytest.mark.parametrize("name", list(CASES))
def test_each_line_fails_exactly_for_the_strategy_that_breaks_it(name, registries):
    _, failing, partners = CASES[name]
    registries(name, partners)
    report = validate.validate(name)
    assert [line.claim for line in report.lines] == LINES
    found = {index for index, line in enumerate(report.lines, start=1) if line.status == validate.FAIL}
    assert found == failing, report.render()
    assert report.passed == (not failing)


def test_the_broken_example_is_caught_reading_the_test_split_in_its_own_code(registries):
    registries("peeking-naive", [])
    lines = validate.validate("peeking-naive").lines
    assert lines[4].reason.startswith("strategy 'peeking-naive' read the test split of task 1 (gan_tconv), item 0, "
                                      "while training on task 1, at peeking_naive.py:")
    assert "in after_training_epoch()" in lines[4].reason
    assert lines[5].status == validate.SKIP and "the test split is read while it trains" in lines[5].reason


def test_the_reasons_say_what_went_wrong(registries):
    registries("undeclared", [])
    lines = validate.validate("undeclared").lines
    assert "Undeclared declares no checkpoint state" in lines[0].reason
    assert all(line.status == validate.SKIP for line in (lines[1], lines[2], lines[4], lines[5]))
    registries("positional", [])
    assert "alpha is not keyword-only" in validate.validate("positional").lines[3].reason
    registries("picky", ["cmfl"])
    assert "refuses cmfl: strategy 'picky' trains SmallCNN only" in validate.validate("picky").lines[6].reason


def test_the_command_prints_the_checklist_and_exits_1_on_a_cross(registries, capsys):
    registries("forgets-its-anchor", [])
    assert main(["validate", "forgets-its-anchor"]) == 1
    out = capsys.readouterr().out
    assert "✗ its state survives a checkpoint round trip: resumed after task 1 it ends elsewhere, so some part keeps " \
           "state it does not declare (benchmark/checkpoints.py: checkpoint_state/restore_state): their matrices " \
           "differ" in out
    assert out.count("\n✓ ") == 6 and "FAILED: 1 of 7 checks" in out


def test_a_detector_is_validated_under_naive_against_every_strategy(contract_registries):
    contract_registries({"picky": picky})
    report = validate.validate("smallcnn")
    assert report.kind == "detector" and report.passed, report.render()
    assert report.lines[3].reason.startswith("widths=(16, 32, 64, 64); keyword-only")
    assert report.lines[6].claim == "refuses strategies it cannot serve"
    assert report.lines[6].reason.startswith("trains 2 (naive, picky)")
