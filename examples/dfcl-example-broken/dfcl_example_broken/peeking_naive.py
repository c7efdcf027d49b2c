"""Naive fine-tuning with early stopping, DELIBERATELY BROKEN: it keeps, for each task, the epoch whose
weights score best on held-out images, and the held-out images it uses are the task's *test* split.

The mistake is a common one. The runner hands a strategy its training experiences and nothing else, so a
method that wants held-out data has to fetch it; this one takes the Scenario the runner is training on from
the calling frames and reads ``task.test`` where it meant ``task.val``. Its scores are then selected on the
data they are reported on, and `dfcl validate peeking-naive` fails on "never reads a test split during
training".
"""

import copy
import inspect

from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.supervised import Naive

from benchmark.checkpoints import NoStateAcrossTasks
from benchmark.evaluation import predict
from benchmark.metrics import roc_auc
from scenarios import Scenario
from strategies import register


def _running_scenario() -> Scenario:
    """The Scenario being trained on, found in the calling frames (the shortcut that leads to the bug)."""
    frame = inspect.currentframe()
    while frame is not None:
        found = frame.f_locals.get("scenario")
        if isinstance(found, Scenario):
            return found
        frame = frame.f_back
    raise RuntimeError("peeking-naive: no Scenario in the calling frames")


class BestEpoch(NoStateAcrossTasks, SupervisedPlugin):
    """After every epoch, score the model on the task's held-out split and keep the best weights; restore
    them when the task ends. The bug: ``.test`` where it should read ``.val``."""

    def before_training_exp(self, strategy, **kwargs):
        self.best_auc, self.best = -1.0, None

    def after_training_epoch(self, strategy, **kwargs):
        held_out = _running_scenario().tasks[strategy.experience.current_experience].test  # should be .val
        scores, labels = predict(strategy.model, held_out, strategy.device, batch_size=256)
        auc = roc_auc(labels, scores)
        if auc > self.best_auc:
            self.best_auc, self.best = auc, copy.deepcopy(strategy.model.state_dict())

    def after_training_exp(self, strategy, **kwargs):
        if self.best is not None:
            strategy.model.load_state_dict(self.best)


@register("peeking-naive")
def peeking_naive(model, setup):
    """Naive fine-tuning that keeps each task's best epoch by AUC on the task's test split (broken on purpose)."""
    return Naive(**setup.template_kwargs(model, plugins=[BestEpoch()]))
