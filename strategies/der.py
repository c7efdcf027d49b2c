"""Dark Experience Replay++ (Buzzega et al., "Dark Experience for General Continual Learning: a Strong,
Simple Baseline", NeurIPS 2020)."""

from avalanche.training.supervised import DER

from benchmark.errors import ConfigError

from . import register
from ._requirements import require_cross_entropy_loss


@register("der", small={"mem_size": 16})
def der(model, setup, *, mem_size: int = 500, alpha: float = 1.0, beta: float = 0.5):
    """DER++: replayed images carry the logits the model gave them; the loss adds α·MSE to those logits
    and β·cross-entropy to their labels (Buzzega et al., NeurIPS 2020; Avalanche ``DER``).

    Defaults are the paper's best values for its domain-incremental benchmark (Permuted MNIST) with a
    500-image buffer: α = 1.0, β = 0.5 (its appendix; Mammoth ``best_args``). Avalanche's ``DER`` stores
    logits at the end of each task rather than when a sample is first seen, keeps a class-balanced
    reservoir, and uses plain cross-entropy, so a detector with its own ``criterion()`` is refused.
    """
    require_cross_entropy_loss(model, "der")
    if int(mem_size) < 2 or float(alpha) < 0 or float(beta) < 0:
        raise ConfigError(f"der: mem_size must be ≥ 2 (one image per class) and alpha, beta ≥ 0, got "
                          f"mem_size={mem_size}, alpha={alpha}, beta={beta}")
    return DER(**setup.template_kwargs(model), mem_size=int(mem_size), alpha=float(alpha), beta=float(beta))
