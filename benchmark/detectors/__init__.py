"""Detectors: ``nn.Module``s mapping images in [0, 1] to two logits (real, fake).

``create("smallcnn")`` builds one by name; every module in this package registers itself on import, so a
new detector is one new file; detectors of other installed packages are loaded after them (``plugins``). See
``base.Detector`` for the contract.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .. import plugins
from ..registry import Registry
from ..results import jsonable
from .base import Detector

REGISTRY = Registry("detector", facts=("pretraining", "extra_data"))
register = REGISTRY.register
available = REGISTRY.available


def create(name: str, **params: Any) -> Detector:
    """Build detector ``name`` with its hyper-parameters (unknown ones are an error)."""
    return REGISTRY.get(name)(**REGISTRY.params(name, params))


def describe(name: str, params: dict[str, Any]) -> str:
    """The detector's name and the parameters that differ from its defaults, e.g. ``cmfl encoder=small``:
    what leaderboard rows and figure legends show, so a CPU-sized variant is never read as the paper's."""
    defaults = jsonable(REGISTRY.params(name, {}))  # as a result file stores them: tuples become lists
    changed = [f"{key}={value}" for key, value in jsonable(params).items()
               if key in defaults and defaults[key] != value]
    return " ".join([name, *changed])


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
plugins.load(REGISTRY)
