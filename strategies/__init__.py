"""Continual strategies: one file each, registered by name.

``create(name, model, setup, **params)`` builds an Avalanche ``SupervisedTemplate`` for ``model``; the
factory's keyword-only arguments are the strategy's hyper-parameters, with their paper defaults. Every
module in this package registers itself on import, so a new strategy is one new file; strategies of other
installed packages are loaded after them (``benchmark.plugins``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from benchmark import plugins
from benchmark.registry import Registry
from benchmark.training import TrainSetup

REGISTRY = Registry("strategy", facts=("memory", "extra_data"))
register = REGISTRY.register
available = REGISTRY.available


def create(name: str, model, setup: TrainSetup, **params: Any):
    """Build strategy ``name`` around ``model`` with its hyper-parameters (unknown ones are an error)."""
    return REGISTRY.get(name)(model, setup, **REGISTRY.params(name, params))


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
plugins.load(REGISTRY)
