"""Learning without Forgetting (Li & Hoiem, "Learning without Forgetting", TPAMI 2017)."""

from avalanche.training.plugins import LwFPlugin
from avalanche.training.supervised import Naive

from benchmark.checkpoints import module_copy
from benchmark.errors import ConfigError

from . import register


class FrozenTeacherLwF(LwFPlugin):
    """Avalanche's ``LwFPlugin`` with the teacher the paper uses: frozen, in evaluation mode.

    Avalanche deep-copies the model while it is in training mode and never switches the copy, so its soft
    targets used each batch's own BatchNorm statistics (and dropout), and the teacher's running statistics
    drifted while the next task trained (after task 1 its P(fake) differed by 0.124 on average between its
    training and evaluation modes). Li & Hoiem, FACIL and Mammoth all record the old model's responses with
    the model fixed."""

    def after_training_exp(self, strategy, **kwargs):
        super().after_training_exp(strategy, **kwargs)
        self.lwf.prev_model.eval().requires_grad_(False)

    def checkpoint_state(self) -> dict:
        teacher = self.lwf.prev_model
        return {"teacher": None if teacher is None else teacher.state_dict(), "tasks": self.lwf.expcount,
                "classes": {task: sorted(classes) for task, classes in self.lwf.prev_classes_by_task.items()}}

    def restore_state(self, state: dict, context) -> None:
        self.lwf.prev_model = module_copy(context.model, state["teacher"])
        self.lwf.expcount = state["tasks"]
        self.lwf.prev_classes_by_task.clear()
        self.lwf.prev_classes_by_task.update({task: set(classes) for task, classes in state["classes"].items()})


@register("lwf")
def lwf(model, setup, *, alpha: float = 3.0, temperature: float = 2.0):
    """Learning without Forgetting: the previous task's model is a frozen teacher whose softened outputs on
    the new task's images are distilled into the shared 2-logit head (Li & Hoiem, TPAMI 2017).

    Temperature T = 2 is the paper's. Its loss weight λ_o = 1 (``alpha``) forgot as much as it learnt here:
    teacher and labels pull on the same two logits. α was chosen on the validation split of the synthetic
    scenario (``benchmarks/calibrate.py lwf alpha 1 3 10 30``, seeds 0–2, never the test split): mean final
    average AUC 0.759 (α = 1), **0.771 (α = 3)**, 0.761 (α = 10), 0.740 (α = 30); forgetting 0.178, 0.111,
    0.028, 0.008. Avalanche's ``LwFPlugin`` adds ``alpha · KL(p_teacher ‖ p_student)`` at temperature T.
    """
    if float(alpha) < 0 or float(temperature) <= 0:
        raise ConfigError(f"lwf: alpha must be ≥ 0 and temperature > 0, got alpha={alpha}, "
                          f"temperature={temperature}")
    return Naive(**setup.template_kwargs(model, plugins=[FrozenTeacherLwF(float(alpha), float(temperature))]))
