"""The files ``dfcl new-strategy`` writes (``string.Template``; ``scaffold`` fills them in)."""

from string import Template

STRATEGY = Template('''"""${title}: a variant of `${base}`. TODO: what it changes, and the paper it follows (Authors, Venue Year).

Written by `dfcl new-strategy ${name} --from ${base}`. `dfcl validate ${name}` checks it against the benchmark's
contract; CONTRIBUTING.md says how to submit it.
"""

from avalanche.training.plugins import SupervisedPlugin

from benchmark.checkpoints import NoStateAcrossTasks
from strategies import create, register


class ${plugin}(NoStateAcrossTasks, SupervisedPlugin):
    """TODO: the method's own step, as Avalanche hooks (before_backward, after_training_exp, ...).

    It keeps nothing from one task to the next (``NoStateAcrossTasks``). A plugin that does implements
    ``checkpoint_state()`` and ``restore_state(state, context)`` instead (benchmark/checkpoints.py); otherwise
    the checkpoint round trip of `dfcl validate` fails.
    """

    def __init__(self, l2_weight: float):
        super().__init__()
        self.l2_weight = l2_weight

    def before_backward(self, strategy, **kwargs):
        """An example to replace: an L2 penalty on the weights, l2_weight * sum(w^2); 0 leaves `${base}` as it is."""
        if self.l2_weight:
            penalty = sum(p.pow(2).sum() for p in strategy.model.parameters())
            strategy.loss = strategy.loss + self.l2_weight * penalty


@register("${name}")
def ${function}(model, setup, *, ${signature}l2_weight: float = 0.0):
    """TODO: one paragraph: what the method does, its citation (Authors, Venue Year), and where each default
    comes from (the paper's value, or how it was calibrated: never on the benchmark's test data).

    `${base}` with its hyper-parameters passed through, plus ``${plugin}``. A strategy that keeps images of past tasks
    declares how many: ``@register("${name}", memory="{mem_size} images")`` (CONTRIBUTING.md).
    """
    strategy = create("${base}", model, setup${passthrough})
    strategy.plugins.append(${plugin}(float(l2_weight)))
    return strategy
''')

TEST = Template('''"""`${name}` against the benchmark's contract: the checklist of `dfcl validate ${name}`, as CI runs it for a
submission. Add tests of what the method itself changes beside it."""

from benchmark import validate


def test_${function}_passes_the_submission_contract():
    report = validate.validate("${name}")
    assert report.passed, report.render()
''')

RUN_CONFIG = Template('''# `${name}` on the offline synthetic scenario with the CPU default detector, 3 seeds:
#   dfcl run --config ${config}
# Results land in results/synthetic/${name}--smallcnn/seed<N>.json with seed<N>.scores.npz beside each; submit
# both (CONTRIBUTING.md). `dfcl verify results/synthetic/${name}--smallcnn` checks them first.
scenario: synthetic
strategies: [${name}]
detector: smallcnn
seeds: [0, 1, 2]
''')

PYPROJECT = Template('''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "${distribution}"
version = "0.1.0"
description = "${title}: a continual-learning strategy for dfcl-bench"
requires-python = ">=3.11"
dependencies = ["dfcl-bench"]

# How dfcl-bench finds the strategy: `dfcl list` shows it with this package's name and version.
[project.entry-points."dfcl.strategies"]
${name} = "${package}.${module}"

[tool.setuptools]
packages = ["${package}"]
''')

PACKAGE_INIT = Template('''"""${title}: a continual-learning strategy for dfcl-bench, registered through the `dfcl.strategies` entry
point (pyproject.toml). The strategy is in ``${module}.py``."""
''')
