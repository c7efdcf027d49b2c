"""Numeric precision of a run and the backend choices that go with it: autocast around the forward passes
and losses, a gradient scaler for fp16, cuDNN's autotuner on CUDA.

``bf16`` is the default on CUDA devices that support it (half the memory traffic of fp32, fp32's range, so
no loss scaling: Kalamkar et al., "A Study of BFLOAT16 for Deep Learning Training", 2019); ``fp16`` adds a
dynamic loss scale (Micikevicius et al., "Mixed Precision Training", ICLR 2018); ``fp32`` is the default
on CPU and what every result before mixed precision was trained in.

Autocast covers every strategy's and detector's forward and loss without leaving Avalanche's template:
``attach`` wraps the strategy instance's own ``forward``, ``criterion`` and ``_before_backward`` (where
plugins add their loss terms: LwF, EWC, SI), so a second pass that calls them (SAM) is covered too, and
``backward`` / ``optimizer_step`` go through the scaler. What strategies keep across steps stays in fp32:
parameters and their gradients always are; A-GEM's reference gradients, EWC's Fisher, DER's stored
logits and FReTAL's prototypes are computed outside the wrapped methods, in fp32.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import ConfigError

PRECISIONS = ("bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    device_type: str  # cuda | cpu

    @property
    def mixed(self) -> bool:
        return self.name != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region for a forward pass and its loss (nothing in fp32)."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=DTYPES[self.name])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None


def resolve(name: str | None, device: torch.device) -> Precision:
    """``auto`` (or None): bf16 on a CUDA device that supports it, fp32 elsewhere."""
    if name in (None, "auto"):
        name = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if name not in PRECISIONS:
        raise ConfigError(f"--precision must be auto or one of {list(PRECISIONS)}, got {name!r}")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16: {torch.cuda.get_device_name(device)} does not support bfloat16; "
                          f"use --precision fp16 or fp32")
    return Precision(name, device.type)


def configure_backends(device: torch.device) -> None:
    """cuDNN picks the fastest convolution algorithm for each input shape on CUDA (shapes repeat every batch)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def memory_format(model: nn.Module) -> str:
    """How the model's convolution weights are laid out: channels_last is what convolutions on tensor cores
    prefer, and every convolutional detector here is built so."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not weights:
        return "no convolutions"
    last = sum(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in weights)
    return "channels_last" if last == len(weights) else "contiguous" if last == 0 else "mixed"


def describe(precision: Precision, model: nn.Module) -> dict[str, Any]:
    """The choices in a result's provenance."""
    return {"precision": precision.name,
            "autocast_dtype": str(DTYPES[precision.name]).removeprefix("torch.") if precision.mixed else None,
            "grad_scaler": precision.name == "fp16", "memory_format": memory_format(model),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if precision.device_type == "cuda" else None}


def _in_autocast(method, precision: Precision):
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with precision.autocast():
            return method(*args, **kwargs)
    return wrapped


def attach(strategy, precision: Precision, scaler: torch.amp.GradScaler | None) -> None:
    """Run ``strategy``'s forward passes and losses under autocast and, with ``scaler``, its backward pass on
    the scaled loss and its optimiser step through the scaler. Idempotent."""
    if getattr(strategy, "_dfcl_precision", None) is not None:
        return
    strategy._dfcl_precision = precision
    for name in ("forward", "criterion", "_before_backward"):
        setattr(strategy, name, _in_autocast(getattr(strategy, name), precision))
    if scaler is None:
        return

    def backward():
        scaler.scale(strategy.loss).backward(retain_graph=strategy.retain_graph)

    def optimizer_step():
        scaler.step(strategy.optimizer)
        scaler.update()
        # A skipped step (an overflow) leaves non-finite gradients; a plugin reading gradients after the step
        # (SI's path integral, gradient × the step taken, zero here) must not turn them into NaN.
        for group in strategy.optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    parameter.grad.nan_to_num_(0.0, 0.0, 0.0)

    strategy.backward, strategy.optimizer_step = backward, optimizer_step
