"""How much faster a continual clip-mlp run is over cached encodings than re-encoding every image every epoch.

Both arms are the same ``runner.run`` (same scenario, detector, strategy, seed, epochs, threads), back to
back in one process; the only difference is that the re-encoding arm replaces the runner's caching step
(``runner.cached_inputs``) with the identity, so the detector encodes each batch in its forward (in training,
in SAM's second pass, and in every evaluation). The cached arm's time includes encoding every image once.
The re-encoding arm encodes each training image 2 × epochs times and each test image (tasks + 1) times,
so the encoder-bound speed-up grows with the epochs: the defaults are the paper's 32 epochs on a tiny
synthetic scenario (4 / 1 / 1 images per class and task) so that the slow arm fits in minutes on a CPU.

    python benchmarks/clip_feature_cache.py                        # CLIP ViT-B/32-sized tower (see --encoder)
    python benchmarks/clip_feature_cache.py --encoder tiny-random  # the tiny tower of the offline results

Speed depends on the tower's architecture, not on its weights' values, so ``vit-b-32`` is a randomly
initialised vision transformer with CLIP ViT-B/32's image-tower shape (224 px, 32 px patches, 12 layers of
width 768): no weights are needed. Timings on a shared machine are noisy; compare arms of one invocation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

import scenarios
from benchmark import detectors, runner
from benchmark.detectors.clip_mlp import CLIPMLP, RobustLoss
from benchmark.detectors.image_encoders import FrozenImageEncoder, vit_tower
from benchmark.runner import RunRequest

ENCODERS = {"vit-b-32": "clip-mlp-vit-b-32-random", "tiny-random": "clip-mlp"}


@detectors.register("clip-mlp-vit-b-32-random")
def clip_mlp_vit_b_32_random() -> CLIPMLP:
    """clip-mlp on a randomly initialised tower of CLIP ViT-B/32's shape (for timing only)."""
    tower = vit_tower(image_size=224, patch_size=32, layers=12, heads=12, width=768)
    return CLIPMLP(tower, RobustLoss(gamma=0.5, alpha=0.8, margin=0.6, power=2.0), sam_rho=0.05)


def timed_run(request: RunRequest, scenario, cache: bool) -> tuple[float, int]:
    """Seconds for the whole run, and how many images went through the encoder."""
    encoded = []
    forward = FrozenImageEncoder.forward
    count = lambda self, x: encoded.append(len(x)) or forward(self, x)  # noqa: E731
    identity = lambda scenario, *args: scenario  # noqa: E731
    with mock.patch.object(FrozenImageEncoder, "forward", count), \
            mock.patch.object(runner, "cached_inputs", runner.cached_inputs if cache else identity):
        start = time.perf_counter()
        runner.run(request, scenario=scenario)
        return time.perf_counter() - start, sum(encoded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="vit-b-32")
    parser.add_argument("--strategy", default="naive")
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=4, help="synthetic images per class and task")
    parser.add_argument("--n-val", type=int, default=1)
    parser.add_argument("--n-test", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test}
    scenario = scenarios.load("synthetic", params=params)
    detector = ENCODERS[args.encoder]
    small = {"encoder": "tiny-random"} if args.encoder == "tiny-random" else {}
    train = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01, "epochs": args.epochs}
    print(f"scenario synthetic {params}: {len(scenario.tasks)} tasks; detector {detector} {small}; strategy "
          f"{args.strategy}; train {train}; threads {args.threads}; torch {torch.__version__}")
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        for arm, cache in (("cached", True), ("re-encoding", False)):
            request = RunRequest(scenario="synthetic", strategy=args.strategy, detector=detector, seeds=[0],
                                 detector_params=small, train=train, threads=args.threads,
                                 results_dir=Path(folder) / arm, save_scores=False)
            times[arm], images = timed_run(request, scenario, cache)
            print(f"{arm:>12}: {times[arm]:8.1f} s, {images} images through the encoder")
    print(f"speed-up of the cached run: {times['re-encoding'] / times['cached']:.1f}x")


if __name__ == "__main__":
    main()
