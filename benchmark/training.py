"""What every strategy shares: the training configuration, the optimiser, the per-task learning-rate
schedule, the progress bar, the seeded loader and the numeric precision, handed to Avalanche's
``SupervisedTemplate``.

The shared plugins run on every iteration, so they keep off the critical path: no host–device
synchronisation of their own (the progress bar shows the loss the divergence check already fetched), and an
evaluator without callbacks (Avalanche's copies the experience on each of its eight per-iteration events).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import torch
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from tqdm.auto import tqdm

from . import precision as precisions
from . import rng
from .checkpoints import NoStateAcrossTasks
from .errors import ConfigError, DfclError
from .loader import LoaderSettings, training_loader

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
        if not isinstance(values, dict):
            raise ConfigError(f"{where} must be a mapping of training settings (e.g. {{epochs: 5, lr: 0.001}}), "
                              f"got {type(values).__name__} {values!r}")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown training setting(s) {unknown}; known: {sorted(known)}")
        defaults = cls()
        converted = {}
        for name, value in values.items():
            kind = type(getattr(defaults, name))
            try:
                converted[name] = _convert(value, kind)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}.{name}: expected {'an integer' if kind is int else kind.__name__}, "
                                  f"got {value!r}") from None
        config = cls(**converted)
        if config.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{where}.optimizer: {config.optimizer!r} is not one of {sorted(OPTIMIZERS)}")
        if config.lr_schedule not in SCHEDULES:
            raise ConfigError(f"{where}.lr_schedule: {config.lr_schedule!r} is not one of {list(SCHEDULES)}")
        for name, low in (("epochs", 1), ("batch_size", 1), ("eval_batch_size", 1), ("num_workers", 0)):
            if getattr(config, name) < low:
                raise ConfigError(f"{where}.{name} must be ≥ {low}, got {getattr(config, name)}")
        if not (math.isfinite(config.lr) and config.lr > 0):
            raise ConfigError(f"{where}.lr must be a finite number > 0, got {config.lr}")
        if not (math.isfinite(config.weight_decay) and config.weight_decay >= 0):
            raise ConfigError(f"{where}.weight_decay must be a finite number ≥ 0, got {config.weight_decay}")
        if not 0 <= config.momentum < 1:
            raise ConfigError(f"{where}.momentum must lie in [0, 1), got {config.momentum}")
        return config


def _convert(value: Any, kind: type) -> Any:
    """``value`` as ``kind``; an integer setting refuses fractions (epochs=1.7 is an error, not 1)."""
    if kind is bool:
        return _as_bool(value)
    if kind is int:
        if isinstance(value, bool):
            raise TypeError(value)
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind is float and isinstance(value, bool):
        raise TypeError(value)
    return kind(value)


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


class CosinePerTask(NoStateAcrossTasks, SupervisedPlugin):
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


class ProgressBar(NoStateAcrossTasks, SupervisedPlugin):
    """One tqdm bar per task over all its iterations, showing the mean loss of the last iterations the
    ``monitor`` checked (silent off a terminal). It reads no loss itself: that would wait for the device."""

    def __init__(self, label: str, monitor: "LossMonitor"):
        super().__init__()
        self.label, self.monitor, self.bar = label, monitor, None

    def before_training_epoch(self, strategy, **kwargs):
        if strategy.clock.train_exp_epochs == 0:
            total = strategy.train_epochs * len(strategy.dataloader)
            task = strategy.experience.current_experience
            self.bar = tqdm(total=total, desc=f"{self.label} task {task + 1}", leave=False, disable=None,
                            unit="batch")

    def after_training_iteration(self, strategy, **kwargs):
        if self.bar is not None and not self.bar.disable:
            self.bar.update()
            if self.monitor.recent is not None:
                self.bar.set_postfix(loss=f"{self.monitor.recent:.3f}", refresh=False)

    def after_training_exp(self, strategy, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DivergenceError(DfclError):
    """Training produced a non-finite loss: the seed stops, no result is written, and the checkpoint of the
    last finished task stays, so the task can be rerun with other settings."""


class LossMonitor(NoStateAcrossTasks, SupervisedPlugin):
    """The mean training loss of every epoch, recorded for the result file, and a loud stop on a non-finite
    loss. Losses stay on the device and are checked every ``check_every`` iterations and at each epoch's
    end, so the check costs one synchronisation per ``check_every`` steps, not one per step."""

    def __init__(self, label: str, check_every: int = 50):
        super().__init__()
        self.label, self.check_every = label, check_every
        self.epoch_losses: list[torch.Tensor] = []
        self.epochs: list[float] = []  # mean loss of each epoch of the current task
        self.recent: float | None = None  # mean loss of the last iterations checked

    def before_training_exp(self, strategy, **kwargs):
        self.epochs = []

    def before_training_epoch(self, strategy, **kwargs):
        self.epoch_losses = []

    def after_training_iteration(self, strategy, **kwargs):
        self.epoch_losses.append(strategy.loss.detach())
        if len(self.epoch_losses) % self.check_every == 0:
            self._check(strategy, torch.stack(self.epoch_losses[-self.check_every:]), len(self.epoch_losses) - self.check_every)

    def after_training_epoch(self, strategy, **kwargs):
        losses = torch.stack(self.epoch_losses) if self.epoch_losses else torch.zeros(0)
        self._check(strategy, losses, 0)
        self.epochs.append(float(losses.float().mean()) if len(losses) else math.nan)

    def _check(self, strategy, losses: torch.Tensor, first: int) -> None:
        losses = losses.detach().float().cpu()  # the one wait for the device per check
        if len(losses):
            self.recent = float(losses.mean())
        finite = torch.isfinite(losses.reshape(len(losses), -1)).all(dim=1)
        if not bool(finite.all()):
            at = int((~finite).nonzero()[0, 0])
            raise DivergenceError(
                f"{self.label}: the training loss became {losses[at].reshape(-1)[0].item()} at task "
                f"{strategy.clock.train_exp_counter + 1}, epoch {strategy.clock.train_exp_epochs + 1}, iteration "
                f"{first + at + 1}: training diverged. Lower the learning rate (--lr), or train in full precision "
                f"(--precision fp32). No result was written; the checkpoints of the tasks already finished are kept.")


class SeededTrainLoader(NoStateAcrossTasks, SupervisedPlugin):
    """Each task's training batches drawn with the run's own stream for that task (``rng``), not the global
    generator that Avalanche's loader shuffles with: then no strategy's other draws (a Fisher pass, a memory
    sample) can change which batches it trains on, and two strategies pair batch for batch.

    It replaces the template's loader (one task label in a domain-incremental stream: Avalanche's
    task-balanced loader is a plain shuffled loader there) and runs before every other plugin, so a plugin
    that builds its own loader (replay) still has the last word."""

    def __init__(self, setup: "TrainSetup"):
        super().__init__()
        self.setup = setup

    def before_training_exp(self, strategy, num_workers: int = 0, **kwargs):
        task, dataset = strategy.clock.train_exp_counter, strategy.adapted_dataset
        # A last batch of one image breaks BatchNorm in training (one value per channel): drop it, and only it.
        lone_last = len(dataset) % strategy.train_mb_size == 1
        strategy.dataloader = training_loader(dataset, strategy.train_mb_size, self.setup.train_generator(task),
                                              num_workers, self.setup.loader, self.setup.device,
                                              self.setup.generator("train-crops", task), drop_last=lone_last)


class MixedPrecision(SupervisedPlugin):
    """Autocast and, for fp16, loss scaling for the strategy it is attached to (``precision.attach``); it
    keeps the scaler's state (its current scale) across tasks. Only in runs that are not fp32."""

    def __init__(self, precision: precisions.Precision):
        super().__init__()
        self.precision, self.scaler = precision, precision.grad_scaler()

    def before_training(self, strategy, **kwargs):
        precisions.attach(strategy, self.precision, self.scaler)

    def checkpoint_state(self) -> dict:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else {}}

    def restore_state(self, state: dict, context) -> None:
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])


class SilentEvaluator(NoStateAcrossTasks, EvaluationPlugin):
    """Avalanche's evaluator without metrics or loggers: dfcl-bench scores every task itself (AUC, AP, EER are
    not in Avalanche). Its callbacks would have nothing to do, so it answers none: Avalanche's forwards every
    ``before_*``/``after_*`` event to its metrics through an AttributeError and a copy of the experience."""

    def __getattribute__(self, name: str):
        return object.__getattribute__(self, name)


def silent_evaluator() -> EvaluationPlugin:
    """Avalanche warns whenever an evaluator has no logger; that warning is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        return SilentEvaluator(loggers=[])


@dataclass
class TrainSetup:
    """Everything a strategy factory needs besides the model and its own hyper-parameters."""

    config: TrainConfig
    device: torch.device
    label: str = "train"
    seed: int = 0  # the run's seed: strategies derive their own random streams from it (benchmark.rng)
    precision: precisions.Precision | None = None  # None: fp32
    loader: LoaderSettings = LoaderSettings()

    def __post_init__(self):
        self.loss_monitor = LossMonitor(self.label)
        self.precision = self.precision or precisions.Precision("fp32", self.device.type)

    def generator(self, *keys: object) -> torch.Generator:
        """A random stream of this run for ``keys`` (e.g. ``("replay-memory", task)``), independent of the
        global generators and of every other stream (``benchmark.rng``)."""
        return rng.generator(self.seed, *keys)

    def train_generator(self, task: int) -> torch.Generator:
        """The stream that shuffles task ``task``'s (0-based) training batches, for every strategy alike."""
        return self.generator("train", task)

    def template_kwargs(self, model: torch.nn.Module, plugins: list | tuple = ()) -> dict[str, Any]:
        """Keyword arguments for any Avalanche ``SupervisedTemplate`` subclass: the seeded training loader
        first, then the strategy's plugins, the detector's own (``Detector.training_plugins``), then the
        shared ones (mixed precision last, only when the run is not fp32)."""
        shared = [ProgressBar(self.label, self.loss_monitor), self.loss_monitor]
        if self.config.lr_schedule == "cosine":
            shared.append(CosinePerTask(self.config.lr))
        if self.precision.mixed:
            shared.append(MixedPrecision(self.precision))
        criterion = model.criterion() if hasattr(model, "criterion") else torch.nn.CrossEntropyLoss()
        detector_plugins = model.training_plugins() if hasattr(model, "training_plugins") else []
        return dict(model=model, optimizer=make_optimizer(model.parameters(), self.config), criterion=criterion,
                    train_mb_size=self.config.batch_size, train_epochs=self.config.epochs,
                    eval_mb_size=self.config.eval_batch_size, device=self.device,
                    plugins=[SeededTrainLoader(self), *plugins, *detector_plugins, *shared], evaluator=silent_evaluator())
