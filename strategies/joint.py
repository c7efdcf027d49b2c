"""Joint training: the upper bound of continual learning."""

from avalanche.benchmarks.utils import concat_datasets
from avalanche.training.supervised import Cumulative

from . import register


class JointTraining(Cumulative):
    """Avalanche's ``Cumulative``; its state across tasks is which tasks it has seen, rebuilt on resume as
    the same concatenation of their training sets."""

    def checkpoint_state(self) -> dict:
        return {"tasks": 0 if self.dataset is None else self.clock.train_exp_counter}

    def restore_state(self, state: dict, context) -> None:
        seen = [experience.dataset for experience in context.experiences[:state["tasks"]]]
        self.dataset = None
        for dataset in seen:  # as Cumulative.train_dataset_adaptation concatenates, one task at a time
            self.dataset = dataset if self.dataset is None else concat_datasets([self.dataset, dataset])


@register("joint", memory="every past task's training set")
def joint(model, setup):
    """Cumulative training on the union of every task seen so far (the upper bound); Avalanche's
    ``Cumulative``, continuing from the previous task's model."""
    return JointTraining(**setup.template_kwargs(model))
