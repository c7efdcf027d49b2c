"""Name → factory registries (as timm's ``register_model`` / ``create_model``).

A factory's keyword-only parameters, with their defaults, are its hyper-parameters: ``params`` resolves
user overrides against them, rejecting unknown names, so every run can record the full set it used.

Every entry remembers who registered it (this project, or the installed package of a plugin: see
``plugins``), so a name registered twice is an error naming both packages, and what it declares a reader
needs to compare fairly (``facts``: the images it keeps from past tasks, pretrained weights, extra data).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Callable, Iterator

from . import __version__
from .errors import ConfigError

Fact = str | Callable[[dict[str, Any]], Any] | None


@dataclass(frozen=True)
class Source:
    """Who registered an entry: the package name and version of dfcl-bench itself or of a plugin."""

    package: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.package} {self.version}" if self.version else self.package

    def as_dict(self) -> dict[str, str | None]:
        return {"package": self.package, "version": self.version}


BUILT_IN = Source("dfcl-bench", __version__)


class RegistryClash(ConfigError, ValueError):
    """One name registered by two factories (two packages, or twice in one)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def conventional_facts(params: dict[str, Any]) -> dict[str, str | None]:
    """What a factory that declares nothing is taken to use, read from its parameters by a documented
    convention (CONTRIBUTING.md): ``mem_size`` images kept from past tasks in all, ``patterns_per_experience``
    per task, and ``weights``, a local file of pretrained weights."""
    facts: dict[str, str | None] = {}
    if params.get("mem_size") is not None:
        facts["memory"] = f"{params['mem_size']} images"
    elif params.get("patterns_per_experience") is not None:
        facts["memory"] = f"{params['patterns_per_experience']} images per task"
    if params.get("weights"):
        facts["pretraining"] = f"weights file {PurePath(str(params['weights'])).name}"
    return facts


class Registry:
    """Factories registered under unique names, for one kind of thing (strategy, detector…).

    ``facts`` names what an entry may declare at ``register`` (for strategies ``memory`` and ``extra_data``,
    for detectors ``pretraining`` and ``extra_data``): a string formatted with the resolved parameters
    (``"{mem_size} images"``), a function of them, or None for nothing."""

    def __init__(self, kind: str, facts: tuple[str, ...] = ()):
        self.kind = kind
        self.fact_names = tuple(facts)
        self._factories: dict[str, Callable[..., Any]] = {}
        self._small: dict[str, dict[str, Any]] = {}
        self._facts: dict[str, dict[str, Fact]] = {}
        self._sources: dict[str, Source] = {}
        self._refused: dict[str, str] = {}
        self._registering = BUILT_IN

    @contextmanager
    def registering_as(self, source: Source) -> Iterator[None]:
        """Attribute what is registered inside the block to ``source`` (a plugin's package)."""
        before, self._registering = self._registering, source
        try:
            yield
        finally:
            self._registering = before

    def register(self, name: str, *, small: dict[str, Any] | None = None, **facts: Fact
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a factory; ``small`` are parameters giving a CPU-sized instance (a tiny encoder, a
        small buffer) for tests and smoke runs, so registry-wide tests stay fast for heavy entries;
        ``facts`` are its declarations (see the class)."""
        unknown = sorted(set(facts) - set(self.fact_names))
        if unknown:
            raise ConfigError(f"{self.kind} {name!r} declares {unknown}; a {self.kind} may declare "
                              f"{list(self.fact_names) or 'nothing'}")

        def add(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._factories:
                first = self._factories[name]
                raise RegistryClash(name,
                    f"{self.kind} {name!r} is registered twice: by {self._sources[name]} ({first.__module__}) and "
                    f"by {self._registering} ({factory.__module__}). Rename one of them (a plugin's name is its "
                    f"entry point's and its @register's), or uninstall one of the packages")
            self._factories[name] = factory
            self._small[name] = dict(small or {})
            self._facts[name] = dict(facts)
            self._sources[name] = self._registering
            self.params(name, self._small[name])  # a typo in ``small`` fails at import, not in a test
            self.facts(name, self.params(name, {}))  # and so does a template naming an unknown parameter
            return factory
        return add

    def refuse(self, name: str, message: str) -> None:
        """Make ``name`` unusable with ``message``: a plugin that clashed with it or failed to import."""
        self._refused.setdefault(name, message)

    def refusals(self) -> dict[str, str]:
        """Names made unusable, and why (``refuse``)."""
        return dict(self._refused)

    def small_params(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._small[name])

    def available(self) -> list[str]:
        return sorted(set(self._factories) - set(self._refused))

    def get(self, name: str) -> Callable[..., Any]:
        if name in self._refused:
            raise ConfigError(self._refused[name])
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}") from None

    def plugins(self) -> dict[str, Source]:
        """Every usable entry registered by a package other than dfcl-bench, with that package."""
        return {name: self._sources[name] for name in self.available() if self._sources[name] != BUILT_IN}

    def source(self, name: str) -> Source | None:
        """The package that registered ``name`` (dfcl-bench for a built-in), None if nothing did."""
        return self._sources.get(name)

    def facts(self, name: str, params: dict[str, Any]) -> dict[str, str | None]:
        """What the entry uses beyond its training data, for resolved ``params``: every fact this registry
        knows, declared at ``register`` or else read by ``conventional_facts``, as text or None."""
        self.get(name)
        found = {fact: None for fact in self.fact_names}
        found.update({k: v for k, v in conventional_facts(params).items() if k in found})
        for fact, declared in self._facts[name].items():
            value = declared(params) if callable(declared) else declared.format(**params) if declared else None
            found[fact] = str(value) if value else None
        return found

    def defaults(self, name: str) -> dict[str, Any]:
        """The factory's hyper-parameters (its keyword-only arguments) and their defaults."""
        signature = inspect.signature(self.get(name))
        return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}

    def params(self, name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``overrides``; an unknown name is an error that lists the known ones."""
        resolved = self.defaults(name)
        unknown = sorted(set(overrides or {}) - set(resolved))
        if unknown:
            known = ", ".join(resolved) or "none"
            raise ConfigError(f"{self.kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                              f"its parameters: {known}")
        for key, value in (overrides or {}).items():
            resolved[key] = self._checked(name, key, resolved[key], value)
        return resolved

    def _checked(self, name: str, key: str, default: Any, value: Any) -> Any:
        """``value`` for a parameter whose default is a number or a flag must be one too (an int where the
        default is a float, and a whole float such as 5e2 where it is an int, are converted); other
        parameters are the factory's to check."""
        kind = type(default)
        ok = (kind is bool and isinstance(value, bool)) or (
            kind is int and isinstance(value, (int, float)) and not isinstance(value, bool)
            and float(value).is_integer()) or (
            kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        if kind in (bool, int, float) and not ok:
            expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
            raise ConfigError(f"{self.kind} {name}: parameter {key} expects {expected} (default {default!r}), "
                              f"got {value!r}")
        return float(value) if kind is float else int(value) if kind is int else value

    def summary(self, name: str) -> str:
        """The first paragraph of the factory's docstring, on one line."""
        return first_paragraph(inspect.getdoc(self.get(name)))


def first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())
