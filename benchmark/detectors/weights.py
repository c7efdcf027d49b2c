"""Loading pretrained weights from a local file: nothing is ever downloaded, and a missing file is an
error, never a silent random initialisation. A file that does not fit the network is an error naming the
first tensor that differs and both shapes, not torch's list of every mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..errors import ConfigError


NULL_WEIGHTS = "pass weights=null for a random initialisation"

Named = tuple[str, torch.Tensor]


def existing_weights_file(path: str | Path, alternative: str = NULL_WEIGHTS) -> Path:
    """The path of a weights file that exists (checked before a large network is built for it), or the error
    naming it and ``alternative`` to downloading."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained weights file {path} not found. dfcl-bench never downloads weights: "
                          f"download them yourself and pass their local path (e.g. --detector-param "
                          f"weights=/path/to/file.pth), or {alternative}.")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (or the one a checkpoint holds under ``state_dict`` / ``model``), without
    the ``module.`` prefix DataParallel adds; tensors only (``weights_only``), so no code in the file runs."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise ConfigError(f"cannot read weights file {path}: {error}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def first_mismatch(pairs: Iterable[tuple[Named, Named]]) -> str | None:
    """The first (file tensor, network tensor) pair that differs in shape or in kind (a ``weight`` where the
    network has a ``bias``), described with both keys and shapes; None when every pair fits."""
    for (file_key, stored), (key, expected) in pairs:
        named = file_key if file_key == key else f"{file_key} (the network's {key})"
        if stored.shape != expected.shape:
            return f"{named} has shape {tuple(stored.shape)} in the file but {tuple(expected.shape)} in the network"
        kind, expected_kind = file_key.rpartition(".")[2], key.rpartition(".")[2]
        if kind != expected_kind:
            return f"{named} is a {kind!r} where the network has a {expected_kind!r} (both {tuple(stored.shape)})"
    return None


def load_local_weights(module: nn.Module, path: str | Path, *, skip_prefixes: tuple[str, ...] = ()) -> None:
    """Load a state dict (or a checkpoint holding one under ``state_dict`` / ``model``) into ``module``.

    Keys starting with ``skip_prefixes`` (e.g. an ImageNet classifier replaced by our two-logit head)
    are ignored; any other missing or unexpected key, or a tensor of another shape, is an error that names
    the file.
    """
    path = existing_weights_file(path)
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(skip_prefixes)}
    expected = {k: v for k, v in module.state_dict().items() if not k.startswith(skip_prefixes)}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConfigError(f"weights file {path} does not fit this network: missing {missing[:5]}"
                          f"{'…' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                          f"{'…' if len(unexpected) > 5 else ''}")
    mismatch = first_mismatch(((k, state[k]), (k, v)) for k, v in expected.items())
    if mismatch:
        raise ConfigError(f"weights file {path} does not fit this network: {mismatch}")
    module.load_state_dict(state, strict=False)


def load_by_position(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Load ``state`` into ``module`` pairing tensors by their order, for weights saved by another
    implementation of the same network under other key names; every pair must have the same shape and kind."""
    expected = module.state_dict()
    if len(state) != len(expected):
        raise ConfigError(f"weights {source} do not fit this network: {len(state)} tensors in the file, "
                          f"{len(expected)} in the network")
    mismatch = first_mismatch(zip(state.items(), expected.items()))
    if mismatch:
        raise ConfigError(f"weights {source} do not fit this network: {mismatch}")
    module.load_state_dict(dict(zip(expected, state.values())))


def local_file_source(params: Mapping[str, Any]) -> str:
    """Where a detector's weights come from when its only source is the ``weights`` parameter (``dfcl list``)."""
    if params.get("weights") is not None:
        return f"local file {params['weights']}"
    return "random init (weights=PATH loads a local file)" if "weights" in params else "random init"
