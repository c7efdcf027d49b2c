"""Elastic Weight Consolidation (Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
networks", PNAS 2017)."""

from avalanche.training.plugins import EWCPlugin
from avalanche.training.supervised import Naive

from benchmark.errors import ConfigError

from . import register


class EvalViewEWCPlugin(EWCPlugin):
    """``EWCPlugin`` whose Fisher pass reads the task's evaluation view (centre crop, no flip): Avalanche
    passes the experience dataset in whatever view it is, which in training is the augmented one."""

    def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0):
        return super().compute_importances(model, criterion, optimizer, dataset.eval(), device, batch_size,
                                           num_workers)


@register("ewc")
def ewc(model, setup, *, ewc_lambda: float = 1e4):
    """Elastic Weight Consolidation: a quadratic penalty keeps each weight near its value after every past
    task, weighted by that task's diagonal Fisher information (Kirkpatrick et al., PNAS 2017).

    One penalty per past task, as in the paper (Avalanche ``EWCPlugin``, mode ``separate``). The paper
    tunes λ per experiment and gives no value that transfers, and Avalanche's Fisher (squared mini-batch
    gradients) sets its own scale, so λ = 1e4 was calibrated on a second draw of the synthetic scenario
    (``data_seed=1``; best average AUC of 1e3, 1e4, 1e5), never on the benchmark's own test data.
    """
    if float(ewc_lambda) < 0:
        raise ConfigError(f"ewc: ewc_lambda must be ≥ 0, got {ewc_lambda}")
    return Naive(**setup.template_kwargs(model, plugins=[EvalViewEWCPlugin(float(ewc_lambda), mode="separate")]))
