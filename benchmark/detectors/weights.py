"""Loading pretrained weights from a local file: nothing is ever downloaded, and a missing file is an
error, never a silent random initialisation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError


NULL_WEIGHTS = "pass weights=null for a random initialisation"


def existing_weights_file(path: str | Path, alternative: str = NULL_WEIGHTS) -> Path:
    """The path of a weights file that exists (checked before a large network is built for it), or the error
    naming it and ``alternative`` to downloading."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained weights file {path} not found. dfcl-bench never downloads weights: "
                          f"download them yourself and pass their local path (e.g. --detector-param "
                          f"weights=/path/to/file.pth), or {alternative}.")
    return path


def load_local_weights(module: nn.Module, path: str | Path, *, skip_prefixes: tuple[str, ...] = ()) -> None:
    """Load a state dict (or a checkpoint holding one under ``state_dict`` / ``model``) into ``module``.

    Keys starting with ``skip_prefixes`` (e.g. an ImageNet classifier replaced by our two-logit head)
    are ignored; any other missing or unexpected key is an error that names the file.
    """
    path = existing_weights_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise ConfigError(f"cannot read weights file {path}: {error}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith(skip_prefixes)}
    expected = {k for k in module.state_dict() if not k.startswith(skip_prefixes)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ConfigError(f"weights file {path} does not fit this network: missing {missing[:5]}"
                          f"{'…' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                          f"{'…' if len(unexpected) > 5 else ''}")
    module.load_state_dict(state, strict=False)
