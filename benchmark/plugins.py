"""Strategies and detectors from other installed packages, found through entry points, so a method can live
in its own package and still be listed, run, validated and recorded like a built-in.

A package declares ``[project.entry-points."dfcl.strategies"]`` (or ``"dfcl.detectors"``) with one line per
entry, ``my-method = "my_package.my_method"``: the module that registers it with ``@register("my-method")``,
exactly as a file in ``strategies/`` does. Importing it is attributed to the package's distribution (name and
version, from ``importlib.metadata``), which ``dfcl list`` shows and every result's provenance records.

A plugin that fails to import, registers nothing under its entry point's name, or takes a name already
registered (a built-in or another plugin) is not loaded: the registry keeps its problem (``refusals``), which
``dfcl list`` shows and which is raised when the name is used, so every other command keeps working.
"""

from __future__ import annotations

import traceback
from importlib import metadata

from .registry import Registry, RegistryClash, Source

GROUPS = {"strategy": "dfcl.strategies", "detector": "dfcl.detectors"}


def _source(entry: metadata.EntryPoint) -> Source:
    dist = getattr(entry, "dist", None)
    return Source(dist.name, dist.version) if dist is not None else Source(entry.module)


def _last_line(error: BaseException) -> str:
    return traceback.format_exception_only(error)[-1].strip()


def load(registry: Registry) -> None:
    """Import every installed entry point of the registry's group (``dfcl.strategies`` for the strategy
    registry) into it, attributing what each registers to its package."""
    kind = registry.kind
    for entry in sorted(metadata.entry_points(group=GROUPS[kind]), key=lambda e: (e.name, e.value)):
        source = _source(entry)
        with registry.registering_as(source):
            try:
                entry.load()
            except RegistryClash as clash:
                registry.refuse(clash.name, str(clash))
                continue
            except Exception as error:  # any failure inside someone else's module: report it, carry on
                registry.refuse(entry.name, f"{kind} plugin {entry.name!r} of {source} failed to import "
                                            f"({entry.value}): {_last_line(error)}")
                continue
        if registry.source(entry.name) != source:
            registry.refuse(entry.name, f"{kind} plugin {entry.name!r} of {source}: its module {entry.value} "
                                        f"registers no {kind} named {entry.name!r}; the entry point's name and "
                                        f"the @register(...) name must be the same")
