"""Detectors: ``nn.Module``s mapping images in [0, 1] to two logits (real, fake).

``create("smallcnn")`` builds one by name; every module in this package registers itself on import, so a
new detector is one new file. See ``base.Detector`` for the contract.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from ..registry import Registry
from ..results import jsonable
from .base import Detector
from .weights import local_file_source

REGISTRY = Registry("detector")
available = REGISTRY.available
WeightsSource = Callable[[dict[str, Any]], str]
_WEIGHTS_SOURCES: dict[str, WeightsSource] = {}


def register(name: str, *, small: dict[str, Any] | None = None, weights: WeightsSource = local_file_source):
    """Register a detector factory (``Registry.register``) with ``weights``: where its pretrained weights
    come from under given parameters (a local file by default), which ``dfcl list`` shows."""
    add = REGISTRY.register(name, small=small)

    def add_with_source(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        factory = add(factory)
        _WEIGHTS_SOURCES[name] = weights
        return factory
    return add_with_source


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


def weights_source(name: str, params: dict[str, Any] | None = None) -> str:
    """Where detector ``name``'s weights come from under ``params`` (defaults for the rest), e.g. "random
    init" or the package that ships them; nothing is built or read. A factory registered on ``REGISTRY``
    directly is taken to read only a ``weights`` file, as ``register``'s default."""
    resolved = REGISTRY.params(name, params)
    return _WEIGHTS_SOURCES.get(name, local_file_source)(resolved)


for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
