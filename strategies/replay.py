"""Experience replay (Chaudhry et al., "On Tiny Episodic Memories in Continual Learning", 2019)."""

from avalanche.benchmarks.utils.data_loader import ReplayDataLoader
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.supervised import Naive

from . import register
from ._memory import MEMORY_STREAM, TaskClassMemory


class MemoryReplay(SupervisedPlugin):
    """Every mini-batch of the current task is joined by an equal-sized mini-batch from the memory
    (Avalanche's ``ReplayDataLoader``), which is filled after each task (``TaskClassMemory``).

    Avalanche balances its memories by task or by class, not both; in a binary domain-incremental stream
    class balance alone would let the latest tasks crowd out the first. Both halves of a batch are drawn
    with the task's training stream (``TrainSetup.train_generator``), so a run is repeatable and resumable."""

    def __init__(self, mem_size: int, setup):
        super().__init__()
        self.memory, self.setup = TaskClassMemory(mem_size, "replay"), setup
        self.datasets: list = []  # the training set of every task seen, which the memory indexes
        self.buffer = None

    def before_training_exp(self, strategy, num_workers=0, **kwargs):
        if self.buffer is None:
            return  # first task: nothing to replay, the shared seeded loader stands
        strategy.dataloader = ReplayDataLoader(
            strategy.adapted_dataset, self.buffer, oversample_small_tasks=True, batch_size=strategy.train_mb_size,
            batch_size_mem=strategy.train_mb_size, task_balanced_dataloader=False, num_workers=num_workers,
            shuffle=True, generator=self.setup.train_generator(strategy.clock.train_exp_counter))

    def after_training_exp(self, strategy, **kwargs):
        self.datasets.append(strategy.experience.dataset)
        self.memory.add_task(strategy.experience.dataset.targets,
                             self.setup.generator(MEMORY_STREAM, len(self.datasets)))
        self.buffer = self.memory.dataset(self.datasets)

    def checkpoint_state(self) -> dict:
        return self.memory.state()

    def restore_state(self, state: dict, context) -> None:
        self.memory.load(state)
        self.datasets = [experience.dataset for experience in context.experiences[:len(self.memory.kept)]]
        self.buffer = self.memory.dataset(self.datasets) if self.datasets else None


@register("replay", small={"mem_size": 8})
def replay(model, setup, *, mem_size: int = 500):
    """Experience replay: every mini-batch of the current task is joined by an equal-sized mini-batch drawn
    from a bounded memory of past tasks' images, balanced per task and per class (Chaudhry et al., 2019).

    Equal current and memory batch sizes are the paper's; its memories are "tiny" for class-incremental
    streams. The default of 500 images is the smallest memory of the CDDB baselines (methods.md §1.4)
    and gives 100 per task (50 per class) once all five synthetic tasks are seen.
    """
    plugin = MemoryReplay(int(mem_size), setup)
    return Naive(**setup.template_kwargs(model, plugins=[plugin]))
