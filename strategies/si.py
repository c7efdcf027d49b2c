"""Synaptic Intelligence (Zenke, Poole & Ganguli, "Continual Learning Through Synaptic Intelligence",
ICML 2017)."""

import math

from avalanche.training.plugins import SynapticIntelligencePlugin
from avalanche.training.supervised import Naive

from benchmark.errors import ConfigError

from . import register
from .ewc import param_data, param_tensors


class UnclippedSynapticIntelligence(SynapticIntelligencePlugin):
    """Avalanche's SI with the paper's importances. The plugin clips every importance at 0.001 (a choice
    of Maltoni & Lomonaco's 2019 Caffe implementation, not of Zenke et al.); on the synthetic scenario that
    clipped 99.7 % of them after the first task, leaving a uniform, negligible L2 anchor."""

    def after_training_exp(self, strategy, **kwargs):
        self.update_ewc_data(strategy.model, self.ewc_data, self.syn_data, math.inf, self.excluded_parameters,
                             1, eps=self.eps)

    def checkpoint_state(self) -> dict:
        """The anchors and importances (``ewc_data``) and the running path integrals (``syn_data``)."""
        return {"ewc": [param_tensors(part) for part in self.ewc_data],
                "syn": {key: param_tensors(part) for key, part in self.syn_data.items()}}

    def restore_state(self, state: dict, context) -> None:
        device = "cpu"  # where Avalanche keeps SI's data, whatever the model's device
        for part, saved in zip(self.ewc_data, state["ewc"]):
            part.clear()
            part.update(param_data(saved, device))
        for key, saved in state["syn"].items():
            self.syn_data[key].clear()
            self.syn_data[key].update(param_data(saved, device))


@register("si")
def si(model, setup, *, si_lambda: float = 2.0, eps: float = 1e-3):
    """Synaptic Intelligence: each weight's importance is its contribution to the loss decrease along the
    training path, accumulated online over tasks; a quadratic penalty weighted by it anchors the weights
    (Zenke et al., ICML 2017).

    Defaults are the paper's split-MNIST values: strength c = 1 and damping ξ = 1e-3. Avalanche writes the
    penalty as (λ/2)·Σ Ω (θ − θ*)², so λ = 2c. BatchNorm parameters are left out, as Avalanche does.
    """
    if float(si_lambda) < 0 or float(eps) <= 0:
        raise ConfigError(f"si: si_lambda must be ≥ 0 and eps > 0, got si_lambda={si_lambda}, eps={eps}")
    plugin = UnclippedSynapticIntelligence(float(si_lambda), eps=float(eps))
    return Naive(**setup.template_kwargs(model, plugins=[plugin]))
