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

#: main before this change (commit f343cd0), seed 1 on the three-task scenario of conftest: config hash,
#: mean training loss of every epoch, final AUC row. CPU fp32 must give them to the bit.
BEFORE = {
    "naive": ("sha256:ebdfe7d82b98d954",
              [[0.7268977165222168, 0.5993037223815918], [0.7606761455535889, 0.6593286991119385], [0.7661951184272766, 0.599316418170929]],
              [0.421875, 0.53125, 0.484375]),
    "der": ("sha256:cf9253dc720c514f",
            [[0.7268977165222168, 0.5993037223815918], [1.2447785139083862, 0.9850717186927795], [1.0604525804519653, 0.9106408953666687]],
            [0.453125, 0.484375, 0.421875]),
    "fretal": ("sha256:35ad5cdc4c059389",
               [[0.7268977165222168, 0.5993037223815918], [1.4097782373428345, 1.1498557329177856], [1.154746174812317, 0.9970023036003113]],
               [0.453125, 0.484375, 0.46875]),
    "agem": ("sha256:7e4809ef29fcac91",
             [[0.7268977165222168, 0.5993037223815918], [0.762672483921051, 0.6489121317863464], [0.7473831176757812, 0.5756199955940247]],
             [0.453125, 0.578125, 0.453125]),
    "ewc": ("sha256:4f3eca5be9b82c86",
            [[0.7268977165222168, 0.5993037223815918], [0.7623826861381531, 0.6643446087837219], [0.7748751044273376, 0.6119067668914795]],
            [0.40625, 0.515625, 0.484375]),
    "joint": ("sha256:af81435817f7906b",
              [[0.7268977165222168, 0.5993037223815918], [0.8041773438453674, 0.7014117240905762], [0.69558185338974, 0.6165184378623962]],
              [0.40625, 0.515625, 0.546875]),
}


@pytest.mark.parametrize("strategy", sorted(BEFORE))
def test_cpu_fp32_results_and_hash_are_those_before_mixed_precision(strategy, three_task_scenario, tmp_path):
    outcome, = run(RunRequest(scenario="three", strategy=strategy, seeds=[1], results_dir=tmp_path, save_scores=False,
                              strategy_params=strategies.REGISTRY.small_params(strategy)), scenario=three_task_scenario)
    result, (digest, losses, final_auc) = outcome.result, BEFORE[strategy]
    assert result["training"]["loss_per_epoch"] == losses
    assert result["matrices"]["auc"][-1] == final_auc
    assert result["provenance"]["config_hash"] == digest and "precision" not in result["config"]
    assert result["provenance"]["precision"]["precision"] == "fp32"
    assert result["memory"]["peak_mb_per_task"] == [None, None, None]  # no per-task peak exists on CPU


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
