"""Experience replay (Chaudhry et al., "On Tiny Episodic Memories in Continual Learning", 2019)."""

from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer, ExperienceBalancedBuffer
from avalanche.training.supervised import Naive

from benchmark.errors import ConfigError

from . import register

CLASSES = 2  # real and fake


class TaskClassBalancedBuffer(ExperienceBalancedBuffer):
    """A bounded memory split equally over the tasks seen so far and, within each task, over its classes.

    Avalanche balances by task (``ExperienceBalancedBuffer``) or by class (``ClassBalancedBuffer``), not
    both; in a binary domain-incremental stream class balance alone would let the latest tasks crowd out
    the first. This is ``ExperienceBalancedBuffer`` with a class-balanced buffer (random sampling within
    each class) per task; older tasks shrink as new ones arrive, so the total never exceeds ``max_size``.
    """

    def post_adapt(self, agent, exp):
        self._num_exps += 1
        lengths = self.get_group_lengths(self._num_exps)
        if lengths[-1] < CLASSES:
            raise ConfigError(f"replay: mem_size={self.max_size} leaves task {self._num_exps} {lengths[-1]} "
                              f"slot(s), fewer than its {CLASSES} classes; set mem_size ≥ "
                              f"{CLASSES * self._num_exps}")
        task_buffer = ClassBalancedBuffer(lengths[-1])
        task_buffer.update_from_dataset(exp.dataset)
        self.buffer_groups[self._num_exps - 1] = task_buffer
        for length, group in zip(lengths, self.buffer_groups.values()):
            group.resize(agent, length)


class BalancedReplayPlugin(ReplayPlugin):
    """``ReplayPlugin`` updating its memory through ``post_adapt``: the plugin's own ``storage_policy.update``
    is deprecated in Avalanche 0.6 (removal in 0.7)."""

    def after_training_exp(self, strategy, **kwargs):
        self.storage_policy.post_adapt(strategy, strategy.experience)


@register("replay", small={"mem_size": 8})
def replay(model, setup, *, mem_size: int = 500):
    """Experience replay: every mini-batch of the current task is joined by an equal-sized mini-batch drawn
    from a bounded memory of past tasks' images, balanced per task and per class (Chaudhry et al., 2019).

    Equal current and memory batch sizes are the paper's; its memories are "tiny" for class-incremental
    streams. The default of 500 images is the smallest memory of the CDDB baselines (methods.md §1.4)
    and gives 100 per task (50 per class) once all five synthetic tasks are seen.
    """
    if int(mem_size) < CLASSES:
        raise ConfigError(f"replay: mem_size must be ≥ {CLASSES} (one image per class), got {mem_size}")
    memory = TaskClassBalancedBuffer(int(mem_size), adaptive_size=True)
    plugin = BalancedReplayPlugin(int(mem_size), storage_policy=memory)
    return Naive(**setup.template_kwargs(model, plugins=[plugin]))
