"""Choose a strategy's hyper-parameter on the validation split, never on the test split.

Each value of the grid runs the strategy over the scenario with every task's *validation* set in place of
its test set (the runner scores whatever the tasks' ``test`` holds), into a scratch results folder; the
value with the best mean final average AUC over the seeds is chosen. The benchmark's own results are then
run with the chosen value on the untouched test sets.

    python benchmarks/calibrate.py lwf alpha 1 3 10 30 --seeds 0 1 2
    python benchmarks/calibrate.py ewc ewc_lambda 1e3 1e4 1e5
    python benchmarks/calibrate.py naive train.lr 1e-4 3e-4 1e-3 --scenario gan-trio --data-root ../shared/data \
        --detector efficientnet_lite0 --scenario-param crop=64 --train epochs=4

A parameter ``train.NAME`` varies a training setting instead of a strategy hyper-parameter.

Why not ``data_seed=1``: a second draw of the synthetic scenario cuts its crops from the same regions of the
same photos as the benchmark's test split (8 % of its test reals lie within RMS 0.03 of a benchmark test
real), so tuning on it tunes on near-copies of the test data.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

import scenarios
from benchmark.cli import parse_assignments
from benchmark.runner import RunRequest, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("strategy")
    parser.add_argument("param")
    parser.add_argument("values", nargs="+", type=float)
    parser.add_argument("--scenario", default="synthetic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--detector", default="smallcnn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root")
    parser.add_argument("--scenario-param", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train", nargs="+", default=[], metavar="KEY=VALUE", help="fixed training settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scenario_params = parse_assignments(args.scenario_param, "--scenario-param")
    validation = scenarios.load(args.scenario, params=scenario_params, data_root=args.data_root).scored_on("val")
    print(f"{args.strategy} {args.param} on the validation split of {args.scenario}, seeds {args.seeds}")
    print("| value | average AUC (val) | forgetting (val) | diagonal (val) |\n|---:|---|---|---|")
    scores = {}
    with tempfile.TemporaryDirectory() as scratch:
        for value in args.values:
            train, strategy_params = parse_assignments(args.train, "--train"), {}
            if args.param.startswith("train."):
                train[args.param.removeprefix("train.")] = value
            else:
                strategy_params[args.param] = value
            outcomes = run(RunRequest(scenario=args.scenario, strategy=args.strategy, detector=args.detector,
                                      seeds=args.seeds, strategy_params=strategy_params, train=train,
                                      scenario_params=scenario_params, data_root=args.data_root, probe=False,
                                      results_dir=Path(scratch) / f"{value:g}", save_scores=False),
                           scenario=validation)
            average = [o.result["summary"]["auc"]["average"] for o in outcomes]
            forgetting = [o.result["summary"]["auc"]["forgetting"] for o in outcomes]
            diagonal = [np.mean(np.diag(o.result["matrices"]["auc"])) for o in outcomes]
            scores[value] = np.mean(average)
            spread = lambda values: f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""  # noqa: E731
            print(f"| {value:g} | {np.mean(average):.3f}{spread(average)} | {np.mean(forgetting):.3f}"
                  f"{spread(forgetting)} | {np.mean(diagonal):.3f} |", flush=True)
    print(f"chosen: {args.param} = {max(scores, key=scores.get):g} (best mean average AUC on validation)")


if __name__ == "__main__":
    main()
