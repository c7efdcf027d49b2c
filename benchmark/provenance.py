"""Where a result came from: code version, libraries, machine, time and memory; which package provided the
strategy and the detector (a plugin's name and version) and what they declare using beyond the scenario's
training data (``resources``: images kept from past tasks, pretrained weights, extra data), so a reader can
compare rows fairly."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

import strategies

from . import __version__, detectors

LIBRARIES = ("torch", "torchvision", "avalanche-lib", "numpy", "scikit-image", "pillow")
REPO_ROOT = Path(__file__).resolve().parent.parent


#: What the runs themselves write: regenerating committed results rewrites these tracked files, which says
#: nothing about the code that made them, so they do not make the tree dirty.
GENERATED_OUTPUTS = ("results", "figures", "leaderboard.md")


def git_state(root: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """(commit, whether the tree has uncommitted changes outside ``GENERATED_OUTPUTS``, new files not ignored
    by git included: a strategy file not yet committed is code the commit lacks), or (None, None) outside a
    git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        outside = [".", *(f":(exclude){path}" for path in GENERATED_OUTPUTS)]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal", "--", *outside], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip() != ""
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch on CUDA since its last reset; on CPU the process's peak resident
    set size, which also counts whatever the process loaded before this run."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def packages(config: dict) -> dict:
    """The packages behind a run's strategy and detector, and every plugin package loaded."""
    return {"strategy": strategies.REGISTRY.source(config["strategy"]["name"]).as_dict(),
            "detector": detectors.REGISTRY.source(config["detector"]["name"]).as_dict(),
            "plugins": plugin_packages()}


def plugin_packages() -> dict[str, dict]:
    """Every plugin package loaded: ``{package: {"version", "strategies": [...], "detectors": [...]}}``."""
    found: dict[str, dict] = {}
    for title, registry in (("strategies", strategies.REGISTRY), ("detectors", detectors.REGISTRY)):
        for name, source in registry.plugins().items():
            entry = found.setdefault(source.package, {"version": source.version, "strategies": [], "detectors": []})
            entry[title].append(name)
    return dict(sorted(found.items()))


def resources(config: dict) -> dict:
    """What the strategy and detector declare (``Registry.facts``): memory, pretraining, extra data."""
    strategy = strategies.REGISTRY.facts(config["strategy"]["name"], config["strategy"]["params"])
    detector = detectors.REGISTRY.facts(config["detector"]["name"], config["detector"]["params"])
    extra = [text for text in (strategy["extra_data"], detector["extra_data"]) if text]
    return {"memory": strategy["memory"], "pretraining": detector["pretraining"],
            "extra_data": "; ".join(extra) or None}


class MemoryMeter:
    """Peak memory of one seed and of each of its tasks (training and the evaluation after it).

    On CUDA, torch's peak of allocated memory, reset at each task's start. On CPU no per-task peak exists
    (the resident-set peak spans the process's whole life): tasks get None and the seed the process's peak."""

    def __init__(self, device: torch.device):
        self.device, self.cuda, self.seen = device, device.type == "cuda", 0.0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def start_task(self) -> None:
        if self.cuda:
            self.seen = max(self.seen, peak_memory_mb(self.device))
            torch.cuda.reset_peak_memory_stats(self.device)

    def task_peak_mb(self) -> float | None:
        return peak_memory_mb(self.device) if self.cuda else None

    def run_peak_mb(self, task_peaks: list[float | None]) -> float:
        """The seed's peak; ``task_peaks`` are those recorded so far, by earlier segments of a resumed seed too."""
        if not self.cuda:
            return peak_memory_mb(self.device)
        return max([self.seen, peak_memory_mb(self.device), *(p for p in task_peaks if p is not None)])


def collect(device: torch.device, config: dict) -> dict:
    """The provenance fields that do not depend on the run's timing, for a run's resolved ``config``."""
    commit, dirty = git_state()
    return {"packages": packages(config), "resources": resources(config),
            "dfcl_version": __version__, "git_commit": commit, "git_dirty": dirty,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "libraries": library_versions(), "torch": torch.__version__,
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            "device": device_description(device), "threads": torch.get_num_threads(),
            "peak_memory_kind": "cuda max allocated" if device.type == "cuda" else "process max RSS"}
