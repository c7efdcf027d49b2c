"""``dfcl new-strategy NAME``: the three files a new strategy needs (the strategy, its test, a run config),
inside this checkout or as a small installable plugin package, so that a submission starts from the
benchmark's contract instead of from a copy of someone else's code.

The new strategy *builds on* an existing one (``--from``, default ``naive``) through ``strategies.create``
rather than copying its source: its hyper-parameters are the base's (keyword-only, with their defaults,
passed through) plus its own, and its own step is an Avalanche plugin to fill in.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import strategies

from . import strategy_templates as templates
from .errors import ConfigError

NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def _signature(base: str) -> tuple[str, str]:
    """The base's hyper-parameters as keyword-only parameters (``alpha: float = 10.0, ``) and the call that
    passes them through (``, alpha=alpha``)."""
    parameters = [p for p in inspect.signature(strategies.REGISTRY.get(base)).parameters.values()
                  if p.kind is p.KEYWORD_ONLY]
    declared = []
    for p in parameters:
        if p.annotation is p.empty:
            shown = p.name
        else:
            shown = f"{p.name}: {p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)}"
        declared.append(f"{shown} = {p.default!r}, ")
    return "".join(declared), "".join(f", {p.name}={p.name}" for p in parameters)


def _fields(name: str, base: str, package: str | None, config: str) -> dict[str, str]:
    module = name.replace("-", "_")
    signature, passthrough = _signature(base)
    return {"name": name, "base": base, "module": module, "function": module,
            "plugin": "".join(part.capitalize() for part in re.split(r"[-_]", name)) + "Step",
            "title": name.replace("-", " ").replace("_", " ").capitalize(), "signature": signature,
            "passthrough": passthrough, "package": package or "", "distribution": f"dfcl-{name.replace('_', '-')}",
            "config": config}


def _checkout() -> Path:
    """The root of this checkout, where strategies/, tests/ and configs/ live side by side."""
    root = Path(strategies.__file__).resolve().parent.parent
    if not (root / "tests").is_dir() or not (root / "configs").is_dir():
        raise ConfigError(f"{root} is not a dfcl-bench checkout (no tests/ or configs/ beside strategies/): "
                          f"write a plugin package instead, with --package DIR")
    return root


def new_strategy(name: str, *, base: str = "naive", package: Path | None = None) -> list[Path]:
    """Write the strategy ``name`` built on ``base``; returns the files written (none is ever overwritten)."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"strategy name {name!r}: use lower-case letters and digits, words joined by '-' or '_' "
                          f"(e.g. my-lwf)")
    if name in strategies.REGISTRY.available():
        raise ConfigError(f"strategy {name!r} already exists (from {strategies.REGISTRY.source(name)}): choose "
                          f"another name")
    strategies.REGISTRY.get(base)  # an unknown base names the known ones
    module = name.replace("-", "_")
    if package is None:
        root = _checkout()
        config = f"configs/synthetic-{name}.yaml"
        files = {root / "strategies" / f"{module}.py": templates.STRATEGY,
                 root / "tests" / f"test_{module}_strategy.py": templates.TEST, root / config: templates.RUN_CONFIG}
        fields = _fields(name, base, None, config)
    else:
        package_name = f"dfcl_{module}"
        config = f"configs/synthetic-{name}.yaml"
        fields = _fields(name, base, package_name, config)
        files = {package / "pyproject.toml": templates.PYPROJECT,
                 package / package_name / "__init__.py": templates.PACKAGE_INIT,
                 package / package_name / f"{module}.py": templates.STRATEGY,
                 package / "tests" / f"test_{module}.py": templates.TEST, package / config: templates.RUN_CONFIG}
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise ConfigError(f"not overwriting {', '.join(existing)}: move them away or choose another name")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(fields))
    return list(files)
