"""What every strategy shares: the training configuration, the optimiser, the per-task learning-rate
schedule and the progress bar, handed to Avalanche's ``SupervisedTemplate``."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import torch
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from tqdm.auto import tqdm

from .errors import ConfigError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings common to every strategy. Scenario YAMLs recommend values; the CLI overrides."""

    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"  # decays to zero within each task, restarting at the next one
    reset_optimizer: bool = True  # fresh optimiser state (e.g. Adam moments) at each task, as FACIL/Mammoth
    eval_batch_size: int = 256
    num_workers: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "train") -> "TrainConfig":
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown training setting(s) {unknown}; known: {sorted(known)}")
        defaults = cls()
        converted = {}
        for name, value in values.items():
            kind = type(getattr(defaults, name))
            try:
                converted[name] = kind(value) if kind is not bool else _as_bool(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}.{name}: expected {kind.__name__}, got {value!r}") from None
        config = cls(**converted)
        if config.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{where}.optimizer: {config.optimizer!r} is not one of {sorted(OPTIMIZERS)}")
        if config.lr_schedule not in SCHEDULES:
            raise ConfigError(f"{where}.lr_schedule: {config.lr_schedule!r} is not one of {list(SCHEDULES)}")
        if config.epochs < 1 or config.batch_size < 1 or config.lr <= 0:
            raise ConfigError(f"{where}: epochs and batch_size must be ≥ 1 and lr > 0")
        return config


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ValueError(value)


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    extra = {"momentum": config.momentum} if config.optimizer == "sgd" else {}
    return OPTIMIZERS[config.optimizer](parameters, lr=config.lr, weight_decay=config.weight_decay, **extra)


class CosinePerTask(SupervisedPlugin):
    """Cosine decay of the learning rate from its base value to zero over each task's iterations.

    The iteration count is read from the task's data loader at its first epoch, so it also holds when
    a strategy (joint, replay) changes how much data a task trains on.
    """

    def __init__(self, base_lr: float):
        super().__init__()
        self.base_lr, self.step, self.total = base_lr, 0, 1

    def before_training_epoch(self, strategy, **kwargs):
        if strategy.clock.train_exp_epochs == 0:
            self.step, self.total = 0, max(1, strategy.train_epochs * len(strategy.dataloader))

    def before_training_iteration(self, strategy, **kwargs):
        factor = 0.5 * (1 + math.cos(math.pi * min(self.step, self.total) / self.total))
        for group in strategy.optimizer.param_groups:
            group["lr"] = self.base_lr * factor
        self.step += 1


class ProgressBar(SupervisedPlugin):
    """One tqdm bar per task over all its iterations, showing the running loss (silent off a terminal)."""

    def __init__(self, label: str):
        super().__init__()
        self.label, self.bar = label, None

    def before_training_epoch(self, strategy, **kwargs):
        if strategy.clock.train_exp_epochs == 0:
            total = strategy.train_epochs * len(strategy.dataloader)
            task = strategy.experience.current_experience
            self.bar = tqdm(total=total, desc=f"{self.label} task {task + 1}", leave=False, disable=None,
                            unit="batch")

    def after_training_iteration(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.update()
            if self.bar.n % 20 == 0:
                self.bar.set_postfix(loss=f"{strategy.loss.item():.3f}")

    def after_training_exp(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def silent_evaluator() -> EvaluationPlugin:
    """Avalanche's evaluator without metrics: dfcl-bench scores every task itself (AUC, AP, EER are not in
    Avalanche). Avalanche warns whenever an evaluator has no logger; that warning is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        return EvaluationPlugin(loggers=[])


@dataclass
class TrainSetup:
    """Everything a strategy factory needs besides the model and its own hyper-parameters."""

    config: TrainConfig
    device: torch.device
    label: str = "train"

    def template_kwargs(self, model: torch.nn.Module, plugins: list | tuple = ()) -> dict[str, Any]:
        """Keyword arguments for any Avalanche ``SupervisedTemplate`` subclass: the strategy's plugins come
        first, then the detector's own (``Detector.training_plugins``), then the shared ones."""
        shared = [ProgressBar(self.label)]
        if self.config.lr_schedule == "cosine":
            shared.append(CosinePerTask(self.config.lr))
        criterion = model.criterion() if hasattr(model, "criterion") else torch.nn.CrossEntropyLoss()
        detector_plugins = model.training_plugins() if hasattr(model, "training_plugins") else []
        return dict(model=model, optimizer=make_optimizer(model.parameters(), self.config), criterion=criterion,
                    train_mb_size=self.config.batch_size, train_epochs=self.config.epochs,
                    eval_mb_size=self.config.eval_batch_size, device=self.device,
                    plugins=[*plugins, *detector_plugins, *shared], evaluator=silent_evaluator())
