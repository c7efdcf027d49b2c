"""Random streams of a run: one per purpose, derived from the run's seed, so that what one strategy draws
never moves what another sees.

Two strategies compared on one seed must train on exactly the same batches (``dfcl compare`` pairs them by
seed). A DataLoader that shuffles with the global torch generator breaks that as soon as a strategy draws
from it elsewhere (EWC's Fisher pass, A-GEM's memory sample, a replay buffer): every later batch shifts. So
the training loader of task k uses its own generator seeded by (seed, "train", k), each strategy's own
sampling its own generator, and nothing of ours touches the global generators. The global states are still
saved in checkpoints (``state``/``restore``): dropout and a detector's own randomness draw from them.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed for the stream ``keys`` of run seed ``seed``: stable across processes and versions
    (a hash of the text, not Python's salted ``hash``)."""
    text = "\x1f".join(str(part) for part in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(seed: int, *keys: object) -> torch.Generator:
    """A CPU torch generator for the stream ``keys`` of run seed ``seed``."""
    return torch.Generator().manual_seed(derive_seed(seed, *keys))


def state() -> dict[str, torch.Tensor]:
    """Every global random state (Python, NumPy, torch CPU and CUDA) as tensors, for a checkpoint that loads
    with ``torch.load(weights_only=True)``."""
    python_version, python_state, gauss_next = random.getstate()
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    saved = {"python": torch.tensor([python_version, *python_state], dtype=torch.int64),
             "python_gauss": torch.tensor([gauss_next is not None, gauss_next or 0.0], dtype=torch.float64),
             "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_rest": torch.tensor([position, has_gauss], dtype=torch.int64),
             "numpy_gauss": torch.tensor(gauss, dtype=torch.float64),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        saved["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    assert kind == "MT19937"
    return saved


def restore(saved: dict[str, torch.Tensor]) -> None:
    """Set every global random state from ``state()``'s output."""
    python = saved["python"].tolist()
    has_next, gauss_next = saved["python_gauss"].tolist()
    random.setstate((python[0], tuple(python[1:]), gauss_next if has_next else None))
    position, has_gauss = saved["numpy_rest"].tolist()
    np.random.set_state(("MT19937", saved["numpy_keys"].numpy().astype(np.uint32), position, has_gauss,
                         float(saved["numpy_gauss"])))
    torch.set_rng_state(saved["torch"])
    if "cuda" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(saved["cuda"]))
