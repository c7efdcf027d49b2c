"""Dark Experience Replay++ (Buzzega et al., "Dark Experience for General Continual Learning: a Strong,
Simple Baseline", NeurIPS 2020)."""

import torch
from avalanche.benchmarks.utils import concat_datasets, make_avalanche_dataset
from avalanche.benchmarks.utils.data_attribute import TensorDataAttribute
from avalanche.benchmarks.utils.flat_data import FlatData
from avalanche.training.supervised import DER
from avalanche.training.templates import SupervisedTemplate
from avalanche.training.utils import cycle
from torch.utils.data import DataLoader

from benchmark.errors import ConfigError

from . import register
from ._memory import MEMORY_STREAM, TaskClassMemory
from ._requirements import require_cross_entropy_loss


@torch.no_grad()
def logits_of(model, dataset, batch_size: int, device) -> torch.Tensor:
    """The model's logits for every image of ``dataset`` (its evaluation view), in order."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x.to(device)).float().cpu() for x, *_ in
                          DataLoader(dataset.eval(), batch_size=batch_size, generator=torch.Generator())])
    finally:
        model.train(was_training)


class DarkExperienceReplay(DER):
    """Avalanche's DER++ loss (``DER.training_epoch``) over the memory that ``replay`` uses.

    Avalanche's ``DER`` keeps a class-balanced reservoir drawn with the global random generator; here the
    memory is ``replay``'s task- and class-balanced one (so the two methods differ only by the logit term),
    the logits are the model's at the end of the task that brought each image (on its evaluation view), and
    the replay batches come from the memory's own random stream."""

    def __init__(self, *, setup, **kwargs):
        super().__init__(**kwargs)
        self.setup, self.memory = setup, TaskClassMemory(self.mem_size, "der")
        self.datasets: list = []
        self.kept_logits: list[list[torch.Tensor]] = []  # per task, per class, aligned with memory.kept

    def forward(self):
        """The logits in fp32 (unchanged in an fp32 run): DER's loss terms are computed outside the autocast
        region of a mixed-precision run (``benchmark.precision``), against stored fp32 logits."""
        return super().forward().float()

    def _before_training_exp(self, **kwargs):
        buffer = self.buffer()
        self.replay_loader = None
        if buffer is not None and len(buffer) >= self.batch_size_mem:
            self.replay_loader = cycle(DataLoader(
                buffer, batch_size=self.batch_size_mem, shuffle=True, drop_last=True,
                generator=self.setup.generator("der-replay", len(self.datasets))))
        SupervisedTemplate._before_training_exp(self, **kwargs)  # DER's own would rebuild its reservoir loader

    def _after_training_exp(self, **kwargs):
        self.replay_loader = None
        dataset = self.experience.dataset
        self.datasets.append(dataset)
        self.memory.add_task(dataset.targets, self.setup.generator(MEMORY_STREAM, len(self.datasets)))
        new = self.memory.kept[-1]
        logits = logits_of(self.model, dataset.subset(torch.cat(new).tolist()), self.eval_mb_size, self.device)
        self.kept_logits.append(list(logits.split([len(i) for i in new])))
        SupervisedTemplate._after_training_exp(self, **kwargs)

    def buffer(self):
        """The memory's images with their stored logits, task after task (None before the first task ends)."""
        if not self.datasets:
            return None
        parts = []
        for task, dataset in enumerate(self.datasets):
            indices = self.memory.kept[task]
            logits = torch.cat([z[:len(i)] for z, i in zip(self.kept_logits[task], indices)])
            parts.append(make_avalanche_dataset(
                dataset.subset(torch.cat(indices).tolist()),
                data_attributes=[TensorDataAttribute(FlatData([logits]), name="logits", use_in_getitem=True)]))
        return concat_datasets(parts)

    def checkpoint_state(self) -> dict:
        return {**self.memory.state(), "logits": [[z.clone() for z in task] for task in self.kept_logits]}

    def restore_state(self, state: dict, context) -> None:
        self.memory.load(state)
        self.kept_logits = [[z.clone() for z in task] for task in state["logits"]]
        self.datasets = [experience.dataset for experience in context.experiences[:len(self.memory.kept)]]


@register("der", small={"mem_size": 16})
def der(model, setup, *, mem_size: int = 500, alpha: float = 1.0, beta: float = 0.5):
    """DER++: replayed images carry the logits the model gave them; the loss adds α·MSE to those logits
    and β·cross-entropy to their labels (Buzzega et al., NeurIPS 2020; Avalanche ``DER``).

    Defaults are the paper's best values for its domain-incremental benchmark (Permuted MNIST) with a
    500-image buffer: α = 1.0, β = 0.5 (its appendix; Mammoth ``best_args``). As in Avalanche's ``DER``,
    logits are stored at the end of each task rather than when a sample is first seen, and the loss is
    plain cross-entropy, so a detector with its own ``criterion()`` is refused.
    """
    require_cross_entropy_loss(model, "der")
    if float(alpha) < 0 or float(beta) < 0:
        raise ConfigError(f"der: alpha and beta must be ≥ 0, got alpha={alpha}, beta={beta}")
    return DarkExperienceReplay(setup=setup, **setup.template_kwargs(model), mem_size=int(mem_size),
                                alpha=float(alpha), beta=float(beta))
