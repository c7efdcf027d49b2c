"""Precision: fp32 on CPU is exactly what it was before mixed precision existed (numbers and configuration
hash), bf16 and fp16 run every strategy under autocast with what strategies keep across steps in fp32, and
fp16's loss scaling leaves nothing behind when it skips a step."""

from types import SimpleNamespace

import pytest
import torch
from avalanche.training.plugins import AGEMPlugin
from torch import nn

import strategies
from benchmark import checkpoints, precision
from benchmark.errors import ConfigError
from benchmark.runner import RunRequest, run
from benchmark.training import MixedPrecision

CPU = torch.device("cpu")

@pytest.mark.parametrize("strategy", ["naive", "der", "fretal", "agem", "ewc", "joint"])
def test_cpu_fp32_trains_exactly_as_before_mixed_precision_existed(strategy, three_task_scenario, tmp_path,
                                                                   monkeypatch):
    """On CPU the default is fp32, which adds no plugin, no autocast and nothing to the configuration: the
    run is the one without any precision machinery, number for number, and so is its configuration hash."""
    seen = []
    real_create = strategies.create
    monkeypatch.setattr(strategies, "create", lambda *a, **k: seen.append(real_create(*a, **k)) or seen[-1])
    request = lambda **extra: RunRequest(scenario="three", strategy=strategy, seeds=[1], save_scores=False,  # noqa: E731
                                         strategy_params=strategies.REGISTRY.small_params(strategy), **extra)
    auto, = run(request(results_dir=tmp_path / "auto"), scenario=three_task_scenario)
    assert not any(isinstance(p, MixedPrecision) for p in seen[-1].plugins)
    explicit, = run(request(results_dir=tmp_path / "fp32", precision="fp32"), scenario=three_task_scenario)
    assert explicit.result["matrices"] == auto.result["matrices"]
    assert explicit.result["training"] == auto.result["training"]
    assert explicit.result["provenance"]["config_hash"] == auto.result["provenance"]["config_hash"]
    assert "precision" not in auto.result["config"] and auto.result["provenance"]["precision"]["precision"] == "fp32"
    assert auto.result["memory"]["peak_mb_per_task"] == [None, None, None]  # no per-task peak exists on CPU
    monkeypatch.setattr(MixedPrecision, "before_training_exp", lambda *a, **k: pytest.fail("mixed precision in fp32"))
    run(request(results_dir=tmp_path / "again"), scenario=three_task_scenario)


def test_resolve_picks_fp32_on_cpu_and_refuses_unknown_names():
    assert precision.resolve("auto", CPU) == precision.Precision("fp32", "cpu")
    assert precision.resolve("bf16", CPU).mixed and precision.resolve("fp16", CPU).grad_scaler() is not None
    with pytest.raises(ConfigError, match="--precision"):
        precision.resolve("fp8", CPU)


class Spy(checkpoints.NoStateAcrossTasks):
    """What the strategy computes in: its forward's output dtype, every iteration."""

    def __init__(self):
        self.dtypes = set()

    def after_forward(self, strategy, **kwargs):
        self.dtypes.add(strategy.mb_output.dtype)

    def __getattr__(self, name):  # every other callback: nothing
        if name.startswith(("before_", "after_")):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


def run_spied(strategy_name, scenario, tmp_path, monkeypatch, **request):
    built, spy, real_create = {}, Spy(), strategies.create

    def spied(name, model, setup, **params):
        strategy = built["strategy"] = real_create(name, model, setup, **params)
        strategy.plugins.insert(0, spy)
        return strategy

    monkeypatch.setattr(strategies, "create", spied)
    outcome, = run(RunRequest(scenario=scenario.name, strategy=strategy_name, seeds=[0], results_dir=tmp_path,
                              save_scores=False, strategy_params=strategies.REGISTRY.small_params(strategy_name),
                              **request), scenario=scenario)
    monkeypatch.setattr(strategies, "create", real_create)
    return outcome.result, built["strategy"], spy


def kept_tensors(strategy) -> dict[str, torch.Tensor]:
    """The tensors a strategy keeps across steps that must stay fp32."""
    found = {}
    if getattr(strategy, "prototypes", None) is not None:
        found["fretal prototypes"] = strategy.prototypes
    for index, logits in enumerate(getattr(strategy, "kept_logits", [])):
        found[f"der logits {index}"] = logits[0]
    for plugin in strategy.plugins:
        for task, importances in getattr(plugin, "importances", {}).items():
            found.update({f"ewc fisher {task} {n}": p.data for n, p in importances.items()})
        if isinstance(plugin, AGEMPlugin) and plugin.reference_gradients.numel():
            found["agem reference gradients"] = plugin.reference_gradients
    return found


@pytest.mark.parametrize("strategy", strategies.available())
def test_bf16_runs_every_strategy_under_autocast_keeping_its_buffers_fp32(strategy, two_task_scenario, tmp_path,
                                                                          monkeypatch):
    result, built, spy = run_spied(strategy, two_task_scenario, tmp_path, monkeypatch, precision="bf16")
    assert result["config"]["precision"] == "bf16" and result["provenance"]["precision"]["autocast_dtype"] == "bfloat16"
    assert all(value is not None for row in result["matrices"]["auc"] for value in row)
    assert all(loss is not None for loss in result["training"]["loss"])
    # the detector's forward ran in bf16 (DER hands its own loss fp32 logits)
    assert spy.dtypes == ({torch.float32} if strategy == "der" else {torch.bfloat16})
    kept = kept_tensors(built)
    if strategy in ("fretal", "der", "ewc", "agem"):
        assert kept, f"found nothing {strategy} keeps: the check is blind"
    assert {name: t.dtype for name, t in kept.items() if t.dtype != torch.float32} == {}


def test_fretal_sums_features_of_any_precision_in_fp32():
    from strategies.fretal import bucket_sums

    values = torch.full((300,), 1.001, dtype=torch.bfloat16)  # bf16 sums lose every unit past 256
    sums, counts = bucket_sums(values, torch.zeros(300, dtype=torch.long), 1)
    assert sums.dtype == torch.float32 and sums.item() == pytest.approx(300 * values[0].item())


def test_bf16_changes_the_configuration_hash(two_task_scenario, tmp_path):
    hashes = [run(RunRequest(scenario="tiny", strategy="naive", seeds=[0], results_dir=tmp_path / name,
                             precision=name, save_scores=False), scenario=two_task_scenario)[0]
              .result["provenance"]["config_hash"] for name in ("fp32", "bf16")]
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize("strategy", ["naive", "agem", "si"])
def test_fp16_trains_with_a_loss_scale_kept_in_the_checkpoint(strategy, two_task_scenario, tmp_path, monkeypatch):
    result, built, _ = run_spied(strategy, two_task_scenario, tmp_path, monkeypatch, precision="fp16")
    assert result["provenance"]["precision"]["grad_scaler"] is True
    assert all(value is not None for row in result["matrices"]["auc"] for value in row)
    scaler = next(p for p in built.plugins if isinstance(p, MixedPrecision)).scaler
    parts = checkpoints.capture(built)["parts"]
    assert [state["scaler"]["scale"] for key, state in parts.items() if "MixedPrecision" in key] == [scaler.get_scale()]


def test_a_skipped_fp16_step_moves_nothing_and_leaves_no_infinite_gradient():
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    strategy = SimpleNamespace(forward=lambda: None, criterion=lambda: None, _before_backward=lambda **kw: None,
                               optimizer=torch.optim.SGD(model.parameters(), lr=0.1), retain_graph=False)
    fp16 = precision.Precision("fp16", "cpu")
    precision.attach(strategy, fp16, fp16.grad_scaler())
    strategy.loss = model(torch.full((1, 3), float("inf"))).sum()
    strategy.backward()
    strategy.optimizer_step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(model.weight.grad, torch.zeros_like(model.weight))  # was infinite
    assert torch.isfinite(model.bias.grad).all() and model.bias.grad.abs().sum() > 0


def test_agem_projection_of_a_scaled_gradient_is_the_scaled_projection():
    """fp16 scales the current gradient A-GEM projects (its reference gradient is an unscaled fp32 one)."""
    def projected(scale: float) -> torch.Tensor:
        model = nn.Linear(4, 1, bias=False)
        model.weight.grad = torch.tensor([[1.0, -2.0, 0.5, 3.0]]) * scale
        plugin = AGEMPlugin(2, 2)
        plugin.buffers, plugin.reference_gradients = [object()], torch.tensor([-1.0, 1.0, 0.0, 0.5])
        plugin.after_backward(SimpleNamespace(model=model, device=CPU))
        return model.weight.grad.flatten()

    assert not torch.allclose(projected(1.0), torch.tensor([1.0, -2.0, 0.5, 3.0]))  # it did project
    assert torch.allclose(projected(1024.0), 1024.0 * projected(1.0))


def test_scores_and_probes_are_computed_in_fp32_when_training_is_bf16(two_task_scenario, tmp_path, monkeypatch):
    """bf16 logits keep 8 bits of mantissa: confident scores would tie and move AUC, AP and EER, so the
    scoring and probing passes run outside autocast whatever the training precision."""
    from benchmark import runner

    seen = []
    for name in ("evaluate_row", "probe"):
        real = getattr(runner, name)
        if name == "probe":
            real_row = real.probe_row
            monkeypatch.setattr(real, "probe_row", lambda *a, _r=real_row, **k: seen.append(
                ("probe", torch.is_autocast_enabled("cpu"))) or _r(*a, **k))
        else:
            monkeypatch.setattr(runner, name, lambda *a, _r=real, **k: seen.append(
                ("score", torch.is_autocast_enabled("cpu"))) or _r(*a, **k))
    run_spied("naive", two_task_scenario, tmp_path, monkeypatch, precision="bf16")
    assert {kind for kind, _ in seen} == {"score", "probe"} and not any(on for _, on in seen)
