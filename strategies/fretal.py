"""FReTAL (Kim, Tariq & Woo, "FReTAL: Generalizing Deepfake Detection using Knowledge Distillation and
Representation Learning", CVPR-W 2021); applied along a task sequence it is CoReD (Kim, Tariq & Woo,
"CoReD: Generalizing Fake Media Detection with Continual Representation using Distillation", ACM MM 2021)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.utils.data import DataLoader

from benchmark.checkpoints import NoStateAcrossTasks, module_copy
from benchmark.detectors.heads import forward_features
from benchmark.errors import ConfigError

from . import register
from ._requirements import require_features

KD_FORMS = ("paper", "code")


def confidence_buckets(logits: torch.Tensor, labels: torch.Tensor, bins: int) -> torch.Tensor:
    """Bucket ``label · bins + b`` per sample, b the bin of its true-class softmax confidence among ``bins``
    equal bins over (0.5, 1] (FReTAL's (0.5, 0.6], …, (0.9, 1.0] for 5 bins); −1 where misclassified."""
    confidence = logits.softmax(1).gather(1, labels[:, None]).squeeze(1)
    edges = torch.linspace(0.5, 1.0, bins + 1, device=logits.device)
    index = torch.bucketize(confidence, edges) - 1  # p ≤ 0.5 → −1, (0.5, 0.6] → 0, …
    return torch.where(index >= 0, labels * bins + index.clamp(max=bins - 1), -1)


def bucket_sums(values: torch.Tensor, buckets: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and number of ``values`` per bucket (buckets < 0 ignored), differentiable in ``values``; in fp32,
    whatever precision the features came in (prototypes are means over a whole task)."""
    values = values.float()
    kept = buckets >= 0
    sums = torch.zeros(count, dtype=values.dtype, device=values.device).index_add(0, buckets[kept], values[kept])
    return sums, torch.bincount(buckets[kept], minlength=count).to(values.dtype)


@torch.no_grad()
def teacher_prototypes(teacher: nn.Module, dataset, bins: int, batch_size: int, device) -> torch.Tensor:
    """FReTAL's prototypes: per (class, confidence bin), the teacher's mean scalar feature over the new
    task's training samples it classifies correctly; NaN for a bucket no sample falls in.

    The paper's scalar is the channel average of Xception's max-pooled feature map; with our pooled B×D
    ``features`` it is their mean over D.
    """
    sums = counts = 0
    for x, y, *_ in DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator()):
        x, y = x.to(device), y.to(device)
        logits = teacher(x)
        features = forward_features(logits, type(teacher).__name__)
        batch_sums, batch_counts = bucket_sums(features.mean(1), confidence_buckets(logits, y, bins), 2 * bins)
        sums, counts = sums + batch_sums, counts + batch_counts
    return sums / counts  # 0 / 0 = NaN marks an empty bucket


def representation_loss(features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
                        prototypes: torch.Tensor, bins: int) -> torch.Tensor:
    """FReTAL's L_ReL: Σ over buckets of (student's mean scalar feature − teacher prototype)², the student's
    correctly classified batch samples bucketed by its own (detached) confidence, as the teacher's were."""
    sums, counts = bucket_sums(features.mean(1), confidence_buckets(logits.detach(), labels, bins), 2 * bins)
    used = (counts > 0) & ~prototypes.isnan()
    return (sums[used] / counts[used] - prototypes[used]).pow(2).sum()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, task_loss: torch.Tensor,
                      temperature: float, alpha: float, form: str) -> torch.Tensor:
    """FReTAL's L_KD = α·T²·KL(p_teacher^T ‖ p_student^T) + (1 − α)·(task loss).

    ``form="code"`` reproduces the public code, which multiplies the KL *target* by α·T² inside
    ``KLDivLoss``: the value then grows by the constant α·T²·log(α·T²), the gradient is the same.
    """
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.softmax(teacher_logits / temperature, dim=1)
    weight = alpha * temperature ** 2
    if form == "code":
        kl = F.kl_div(log_student, teacher * weight, reduction="batchmean")
    else:
        kl = weight * F.kl_div(log_student, teacher, reduction="batchmean")
    return kl + (1 - alpha) * task_loss


class OppositeLabelCutMix(NoStateAcrossTasks, SupervisedPlugin):
    """The public code's augmentation: with probability p, every image whose randomly drawn partner in the
    batch has the other label gets a box (area ≈ 1 − λ, λ ~ Beta(0.5, 0.5)) pasted from it; labels kept."""

    def __init__(self, probability: float):
        super().__init__()
        self.probability = probability

    def before_forward(self, strategy, **kwargs):
        if torch.rand(()) >= self.probability:
            return
        x, y = strategy.mb_x, strategy.mb_y
        partner = torch.randperm(len(y), device=y.device)
        receives = y != y[partner]
        if not receives.any():
            return
        cut = math.sqrt(1 - torch.distributions.Beta(0.5, 0.5).sample().item())
        (y1, y2), (x1, x2) = (_box_span(size, cut) for size in x.shape[-2:])
        x[receives, :, y1:y2, x1:x2] = x[partner[receives], :, y1:y2, x1:x2]


def _box_span(size: int, cut: float) -> tuple[int, int]:
    centre, half = int(torch.randint(size, ())), int(size * cut) // 2
    return max(centre - half, 0), min(centre + half, size)


class FReTAL(SupervisedTemplate):
    """Each task's student starts from the model after the previous task, which becomes the frozen teacher;
    loss = task loss + L_KD + L_ReL once a teacher exists (the first task is plain training)."""

    def __init__(self, *, temperature: float, alpha: float, bins: int, kd_form: str, batchnorm_eval: bool,
                 **template_kwargs):
        super().__init__(**template_kwargs)
        self.temperature, self.alpha, self.bins, self.kd_form = temperature, alpha, bins, kd_form
        self.batchnorm_eval = batchnorm_eval
        self.teacher: nn.Module | None = None
        self.prototypes: torch.Tensor | None = None
        self.kd_loss = self.representation_loss = torch.zeros(())

    def _before_training_exp(self, **kwargs):
        super()._before_training_exp(**kwargs)
        if self.teacher is None:
            return
        self.prototypes = teacher_prototypes(self.teacher, self.experience.dataset.eval(), self.bins,
                                             self.eval_mb_size, self.device)
        if self.batchnorm_eval:  # the public code's student trains with BatchNorm statistics frozen
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def _after_training_exp(self, **kwargs):
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        super()._after_training_exp(**kwargs)

    def checkpoint_state(self) -> dict:
        """The teacher; its prototypes are recomputed from it at the next task's start."""
        return {"teacher": None if self.teacher is None else self.teacher.state_dict()}

    def restore_state(self, state: dict, context) -> None:
        self.teacher = module_copy(self.model, state["teacher"])

    def forward(self):
        logits = super().forward()
        if self.is_training:  # the features of this very pass, so the detector's own loss still applies
            self.mb_features = forward_features(logits, type(self.model).__name__)
        return logits

    def criterion(self):
        task_loss = super().criterion()
        if not self.is_training or self.teacher is None:
            return task_loss
        with torch.no_grad():
            teacher_logits = self.teacher(self.mb_x)
        self.kd_loss = distillation_loss(self.mb_output, teacher_logits, task_loss, self.temperature, self.alpha,
                                         self.kd_form)
        self.representation_loss = representation_loss(self.mb_features, self.mb_output, self.mb_y,
                                                       self.prototypes, self.bins)
        return task_loss + self.kd_loss + self.representation_loss


@register("fretal")
def fretal(model, setup, *, temperature: float = 20.0, alpha: float = 0.5, bins: int = 5, kd_form: str = "paper",
           batchnorm_eval: bool = False, cutmix_prob: float = 0.0):
    """FReTAL / CoReD: the previous task's model is a frozen teacher; the student adds knowledge distillation
    and a representation loss pulling its features to the teacher's per-(class × confidence-bin) prototypes.

    Kim, Tariq & Woo, CVPR-W 2021 (FReTAL, one source → target transfer); applied task after task it is
    CoReD (ACM MM 2021). Loss = task + L_KD + L_ReL with L_KD = α·T²·KL(teacher ‖ student at temperature
    T) + (1 − α)·task and L_ReL = Σ_(class, bin) (student mean feature − teacher prototype)², prototypes
    computed by the teacher on the new task's training set before training it (correctly classified
    samples, true-class confidence in ``bins`` bins over (0.5, 1]). Defaults are the paper's: T = 20,
    α = 0.5, 5 bins. Three options reproduce where the public code (alsgkals2/FReTAL, CoReD) differs:
    ``kd_form="code"`` (α·T² multiplies the KL target: a constant offset, same gradient),
    ``batchnorm_eval=True`` (the student trains with BatchNorm in eval mode once a teacher exists) and
    ``cutmix_prob=0.2`` (a box pasted from an opposite-label image of the batch).
    """
    require_features(model, "fretal")
    if kd_form not in KD_FORMS:
        raise ConfigError(f"fretal: kd_form must be one of {list(KD_FORMS)}, got {kd_form!r} "
                          f"(--strategy-param kd_form=paper)")
    if float(temperature) <= 0 or not 0 <= float(alpha) <= 1 or int(bins) < 1 or not 0 <= float(cutmix_prob) <= 1:
        raise ConfigError(f"fretal: temperature must be > 0, alpha and cutmix_prob in [0, 1] and bins ≥ 1, got "
                          f"temperature={temperature}, alpha={alpha}, cutmix_prob={cutmix_prob}, bins={bins}")
    plugins = [OppositeLabelCutMix(float(cutmix_prob))] if float(cutmix_prob) > 0 else []
    return FReTAL(temperature=float(temperature), alpha=float(alpha), bins=int(bins), kd_form=kd_form,
                  batchnorm_eval=batchnorm_eval, **setup.template_kwargs(model, plugins=plugins))
