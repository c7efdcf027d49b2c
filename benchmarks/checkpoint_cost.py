"""What a per-task checkpoint costs: its size on disk and the time to capture and write it, for the CPU default
(smallcnn) and a paper-sized backbone (ResNet-50, random init: the state's size does not depend on the
weights' values), under naive fine-tuning and under strategies that keep more (LwF's teacher, EWC's anchors
and Fisher information). The state is the one after a task: a few optimiser steps give Adam its moments,
and the strategy's own after-task step (teacher copy, Fisher pass) has run.

    python benchmarks/checkpoint_cost.py [--repeats 3]

Time is the best of ``--repeats`` writes to a temporary folder (best-of, so other work on the machine
inflates it least). The share of a run's wall time spent checkpointing is in every result file
(``timing.checkpoint_seconds`` against ``provenance.wall_seconds``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import strategies
from benchmark import checkpoints, detectors, rng
from benchmark.training import TrainConfig, TrainSetup

CASES = [("smallcnn", {}, 32), ("resnet50", {}, 64)]
STRATEGIES = ("naive", "lwf", "ewc")
CARRY = (False, True)  # the default resets the optimiser at every task (nothing to save); reset_optimizer=false


def trained_strategy(detector: str, params: dict, size: int, strategy: str):
    """A strategy after a few steps on one random batch and its after-task hooks, as after a real task."""
    model = detectors.create(detector, **params)
    setup = TrainSetup(TrainConfig(batch_size=8), torch.device("cpu"))
    built = strategies.create(strategy, model, setup)
    built.make_optimizer(reset_optimizer_state=True)
    x, y = torch.rand(8, 3, size, size), torch.tensor([0, 1] * 4)
    for _ in range(2):
        built.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(built.model(x), y).backward()
        built.optimizer.step()
    for plugin in built.plugins:
        if strategy == "lwf" and hasattr(plugin, "lwf"):
            plugin.lwf.prev_model = checkpoints.module_copy(built.model, built.model.state_dict())
        if strategy == "ewc" and hasattr(plugin, "importances"):
            plugin.saved_params[0] = {n: _data(p) for n, p in built.model.named_parameters()}
            plugin.importances[0] = {n: _data(p) for n, p in built.model.named_parameters()}
    return built


def _data(parameter):
    from avalanche.training.utils import ParamData
    return ParamData("x", init_tensor=parameter.detach().clone())


def measure(repeats: int) -> list[dict]:
    rows = []
    for detector, params, size in CASES:
        for strategy, carry in [(s, c) for s in STRATEGIES for c in CARRY if s == "naive" or not c]:
            built = trained_strategy(detector, params, size, strategy)
            times = []
            with tempfile.TemporaryDirectory() as folder:
                for _ in range(repeats):
                    tick = time.perf_counter()
                    path = checkpoints.save(Path(folder), 1, {"strategy": checkpoints.capture(built, optimizer=carry),
                                                              "rng": rng.state()})
                    times.append(time.perf_counter() - tick)
                size_mb = path.stat().st_size / 2**20
            parameters = sum(p.numel() for p in built.model.parameters())
            rows.append({"detector": detector, "strategy": strategy + (" (optimiser kept)" if carry else ""),
                         "parameters": parameters,
                         "size_mb": size_mb, "write_s": min(times)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| detector | parameters | strategy | checkpoint size | capture + write |")
    print("|---|---:|---|---:|---:|")
    for row in measure(args.repeats):
        print(f"| {row['detector']} | {row['parameters'] / 1e6:.2f} M | {row['strategy']} | {row['size_mb']:.1f} MB | "
              f"{row['write_s'] * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
