"""Images per second of the two EfficientNet-Lite0 detectors on the CPU, to choose the resolution of runs:
``efficientnet_lite0`` fine-tuned whole (forward + backward of the cross-entropy, train mode) and the frozen
encoder of ``linear-probe`` / ``clip-mlp encoder=efficientnet_lite0`` (forward only, computed once per image
by the feature cache). Batch 32 by default; each cell is timed after a warm-up batch for at least
``--seconds`` and two batches. Timings on a shared machine are noisy; run it with ``nice``, compare cells of
one invocation, and read the images per CPU-second of the one-thread rows as the free-core estimate.

    python benchmarks/efficientnet_lite_throughput.py --sizes 64 96 128 224 --threads 1 2
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
from torch import nn

from benchmark import detectors


def images_per_second(step: Callable[[], None], batch: int, seconds: float) -> tuple[float, float]:
    """Images per wall-clock second, and per second of this process's CPU time: on a machine shared with
    other jobs the second is the steadier estimate of what one free core does (with one thread)."""
    step()  # warm-up: allocations and oneDNN kernel choice
    start, cpu_start, batches = time.perf_counter(), time.process_time(), 0
    while batches < 2 or time.perf_counter() - start < seconds:
        step()
        batches += 1
    return batch * batches / (time.perf_counter() - start), batch * batches / (time.process_time() - cpu_start)


def fine_tuning_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    loss = nn.CrossEntropyLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss(model(images), labels).backward()
    return step


def encoding_step(encoder: nn.Module, images: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            encoder(images)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 224])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()

    torch.manual_seed(0)
    fine_tuned = detectors.create("efficientnet_lite0").train()
    encoder = detectors.create("linear-probe").input_encoder()
    print(f"parameters: efficientnet_lite0 {sum(p.numel() for p in fine_tuned.parameters()):,} (all trained); "
          f"linear-probe head {sum(p.numel() for p in detectors.create('linear-probe').classifier.parameters()):,}")
    print("| px | threads | fine-tune fwd+bwd img/s (per CPU-s) | encoder fwd img/s (per CPU-s) |\n|---|---|---|---|")
    for size in args.sizes:
        images = torch.rand(args.batch, 3, size, size)
        labels = torch.randint(0, 2, (args.batch,))
        for threads in args.threads:
            torch.set_num_threads(threads)
            train = images_per_second(fine_tuning_step(fine_tuned, images, labels), args.batch, args.seconds)
            encode = images_per_second(encoding_step(encoder, images), args.batch, args.seconds)
            print(f"| {size} | {threads} | {train[0]:.1f} ({train[1]:.1f}) | {encode[0]:.1f} ({encode[1]:.1f}) |",
                  flush=True)


if __name__ == "__main__":
    main()
