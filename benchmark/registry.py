"""Name → factory registries (as timm's ``register_model`` / ``create_model``).

A factory's keyword-only parameters, with their defaults, are its hyper-parameters: ``params`` resolves
user overrides against them, rejecting unknown names, so every run can record the full set it used.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .errors import ConfigError


class Registry:
    """Factories registered under unique names, for one kind of thing (strategy, detector…)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._small: dict[str, dict[str, Any]] = {}

    def register(self, name: str, *, small: dict[str, Any] | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a factory; ``small`` are parameters giving a CPU-sized instance (a tiny encoder, a
        small buffer) for tests and smoke runs, so registry-wide tests stay fast for heavy entries."""
        def add(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice "
                                 f"({self._factories[name].__module__} and {factory.__module__})")
            self._factories[name] = factory
            self._small[name] = dict(small or {})
            self.params(name, self._small[name])  # a typo in ``small`` fails at import, not in a test
            return factory
        return add

    def small_params(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._small[name])

    def available(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}") from None

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
