"""Two properties every strategy must have for its numbers to be comparable with the others': the models it
keeps from earlier tasks (teachers) are frozen, and it trains on exactly the batches ``naive`` trains on
for the same seed wherever it trains on the same data (so ``dfcl compare`` pairs like with like)."""

import hashlib

import pytest
import torch
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

import strategies

from benchmark.checkpoints import NoStateAcrossTasks
from benchmark.runner import RunRequest, run

#: Strategies whose training data from the second task on is more than the task's own (a memory, the
#: union of all tasks): they share naive's batches on the first task only.
MIXES_DATA = {"joint", "replay", "der"}
#: Strategies known to keep a past model; the frozen-teacher check must find one in them.
KEEPS_A_TEACHER = {"lwf", "fretal"}


def kept_models(strategy, depth: int = 3) -> list[nn.Module]:
    """Every nn.Module reachable from the strategy's and its plugins' attributes that shares no parameter
    with the model being trained: the past models and teachers it keeps."""
    trained = {id(p) for p in strategy.model.parameters()} | {id(m) for m in strategy.model.modules()}
    found, seen = [], set()

    def visit(value, level):
        if id(value) in seen or level > depth:
            return
        seen.add(id(value))
        if isinstance(value, nn.Module):
            if id(value) not in trained and not any(id(p) in trained for p in value.parameters()):
                found.append(value)
            return
        if isinstance(value, dict):
            for item in value.values():
                visit(item, level + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item, level + 1)
        elif hasattr(value, "__dict__") and type(value).__module__.split(".")[0] in ("strategies", "benchmark",
                                                                                    "avalanche"):
            for item in vars(value).values():
                visit(item, level + 1)

    for holder in (strategy, *strategy.plugins):
        for name, item in vars(holder).items():
            if name not in ("model", "_criterion", "optimizer", "plugins", "experience", "evaluator"):
                visit(item, 1)
    return found


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class TeacherWatch(NoStateAcrossTasks, SupervisedPlugin):
    """At each task's start: every kept model is in eval mode and needs no gradients; at each epoch's end:
    it is unchanged (weights and BatchNorm statistics) and still in eval mode."""

    def __init__(self):
        super().__init__()
        self.watched, self.found_any = [], False

    def before_training_exp(self, strategy, **kwargs):
        self.watched = [(m, snapshot(m)) for m in kept_models(strategy)]
        self.found_any |= bool(self.watched)
        for model, _ in self.watched:
            assert not any(m.training for m in model.modules()), f"{type(model).__name__} kept in train mode"
            assert not any(p.requires_grad for p in model.parameters()), f"{type(model).__name__} needs gradients"

    def after_training_epoch(self, strategy, **kwargs):
        for model, before in self.watched:
            assert not model.training
            after = model.state_dict()
            changed = [k for k in before if not torch.equal(before[k], after[k])]
            assert not changed, f"a kept {type(model).__name__} changed while training: {changed[:3]}"


class BatchLog(NoStateAcrossTasks, SupervisedPlugin):
    """A fingerprint of every training mini-batch as the loader delivered it, per task."""

    def __init__(self):
        super().__init__()
        self.batches: dict[int, list[str]] = {}

    def before_training_iteration(self, strategy, **kwargs):
        x, y = strategy.mbatch[0], strategy.mbatch[1]
        digest = hashlib.sha256(x.detach().cpu().numpy().tobytes() + y.cpu().numpy().tobytes()).hexdigest()
        self.batches.setdefault(strategy.clock.train_exp_counter, []).append(digest)


def run_with(plugin, strategy: str, scenario, tmp_path, monkeypatch) -> None:
    real_create = strategies.create

    def with_spy(name, model, setup, **params):
        built = real_create(name, model, setup, **params)
        built.plugins.insert(0, plugin)
        return built

    monkeypatch.setattr(strategies, "create", with_spy)
    run(RunRequest(scenario=scenario.name, strategy=strategy, seeds=[3], results_dir=tmp_path / strategy,
                   strategy_params=strategies.REGISTRY.small_params(strategy), save_scores=False), scenario=scenario)
    monkeypatch.setattr(strategies, "create", real_create)


@pytest.mark.parametrize("strategy", strategies.available())
def test_past_models_a_strategy_keeps_are_frozen(strategy, three_task_scenario, tmp_path, monkeypatch):
    watch = TeacherWatch()
    run_with(watch, strategy, three_task_scenario, tmp_path, monkeypatch)
    if strategy in KEEPS_A_TEACHER:
        assert watch.found_any, f"{strategy} keeps a teacher, but the check found none: the check is blind"


@pytest.fixture(scope="module")
def naive_batches(three_task_scenario, tmp_path_factory):
    log = BatchLog()
    with pytest.MonkeyPatch.context() as patch:
        run_with(log, "naive", three_task_scenario, tmp_path_factory.mktemp("naive"), patch)
    return log.batches


@pytest.mark.parametrize("strategy", [s for s in strategies.available() if s != "naive"])
def test_every_strategy_trains_on_naives_batches_where_it_trains_on_the_same_data(strategy, naive_batches,
                                                                                  three_task_scenario, tmp_path,
                                                                                  monkeypatch):
    log = BatchLog()
    run_with(log, strategy, three_task_scenario, tmp_path, monkeypatch)
    same_data = [0] if strategy in MIXES_DATA else sorted(naive_batches)
    assert len(naive_batches) == 3 and all(len(naive_batches[t]) == 6 for t in naive_batches)  # 2 epochs × 48 / 16
    for task in same_data:
        assert log.batches[task] == naive_batches[task], f"{strategy} saw other batches than naive on task {task + 1}"


def test_the_check_sees_a_teacher_left_in_train_mode(three_task_scenario, tmp_path, monkeypatch):
    """Avalanche's own LwFPlugin keeps its teacher in train mode: the watch must catch exactly that."""
    from avalanche.training.plugins import LwFPlugin

    from strategies.lwf import FrozenTeacherLwF

    monkeypatch.setattr(FrozenTeacherLwF, "after_training_exp", LwFPlugin.after_training_exp)
    with pytest.raises(AssertionError, match="kept in train mode"):
        run_with(TeacherWatch(), "lwf", three_task_scenario, tmp_path, monkeypatch)




def test_replay_and_der_keep_the_same_images_of_one_seed(three_task_scenario, tmp_path, monkeypatch):
    """DER++ is replay plus logit terms (Buzzega et al. 2020): with one memory size, one seed keeps the same
    images in both, so a comparison of the two measures the logit terms, not two draws of the memory."""
    built, real_create = {}, strategies.create

    def spied(name, model, setup, **params):
        built[name] = real_create(name, model, setup, **params)
        return built[name]

    monkeypatch.setattr(strategies, "create", spied)
    for name in ("replay", "der"):
        run(RunRequest(scenario="three", strategy=name, seeds=[0], results_dir=tmp_path, save_scores=False,
                       strategy_params={"mem_size": 8}), scenario=three_task_scenario)
    replay_memory, = [p.memory for p in built["replay"].plugins if hasattr(p, "memory")]
    kept = lambda memory: [[indices.tolist() for indices in task] for task in memory.kept]  # noqa: E731
    assert len(replay_memory.kept) == 3 and kept(replay_memory) == kept(built["der"].memory)
