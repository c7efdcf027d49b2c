"""What linear probes add to a run's wall time: the same ``runner.run`` with and without ``probe``.

Naive fine-tuning of smallcnn over the offline ``synthetic`` scenario (its YAML's sizes and training
settings), one seed, arms interleaved (probe, no probe, probe, no probe …) so that a load change on a
shared machine hits both, and the best of ``--repeats`` per arm compared. Also prints the probe matrix P
beside the detector's own R from the last probed run, and the probe's own clock (the result's
``probe.seconds``) as a share of that run. Wall time on a shared machine is noisy (one arm's runs differed
by 47 % on a loaded 2-core machine); process CPU time, also printed, is steadier with one thread. Run it under
``nice`` and compare arms of one invocation only.

    nice -n 10 python benchmarks/probe_cost.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import scenarios
from benchmark import runner
from benchmark.runner import RunRequest


def matrix(title: str, rows, tasks: list[str]) -> str:
    lines = [f"{title:<14}" + " ".join(f"{t[:11]:>11}" for t in tasks)]
    lines += [f"after {tasks[i][:8]:<8}" + " ".join(f"{v:11.3f}" for v in row) for i, row in enumerate(rows)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", default="naive")
    parser.add_argument("--detector", default="smallcnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs per arm (default 2; the best counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's choice)")
    args = parser.parse_args()

    scenario = scenarios.load("synthetic")
    print(f"scenario synthetic {scenario.params}; {args.strategy}--{args.detector}, seed {args.seed}; "
          f"threads {args.threads or torch.get_num_threads()}; torch {torch.__version__}")
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for probing in (True, False):
                request = RunRequest(scenario="synthetic", strategy=args.strategy, detector=args.detector,
                                     seeds=[args.seed], threads=args.threads, save_scores=False, probe=probing,
                                     results_dir=Path(folder) / f"{probing}-{repeat}")
                start, start_cpu = time.perf_counter(), time.process_time()
                outcome, = runner.run(request, scenario=scenario)
                times[probing].append(time.perf_counter() - start)
                cpu[probing].append(time.process_time() - start_cpu)
                print(f"repeat {repeat}, probe {'on ' if probing else 'off'}: {times[probing][-1]:7.1f} s wall, "
                      f"{cpu[probing][-1]:7.1f} s CPU")
                if probing:
                    result = outcome.result
    for name, clock in (("wall", times), ("CPU", cpu)):
        best_on, best_off = min(clock[True]), min(clock[False])
        print(f"best of {args.repeats} ({name}): with probes {best_on:.1f} s, without {best_off:.1f} s, "
              f"ratio {best_on / best_off:.3f}")
    seconds = result["probe"]["seconds"]
    probing_seconds = seconds["initial"] + sum(seconds["rows"])
    wall = result["provenance"]["wall_seconds"]
    print(f"probe clock in the last probed run: {probing_seconds:.1f} s of its {wall:.1f} s over "
          f"{1 + len(seconds['rows'])} rows, so {wall / (wall - probing_seconds):.3f}× the run without them; "
          f"train subsample per task {result['probe']['settings']['train_sizes']}")
    tasks = result["scenario"]["tasks"]
    print(matrix("R (AUC)", result["matrices"]["auc"], tasks))
    print(matrix("P (AUC)", result["probe"]["matrices"]["auc"], tasks))
    print(matrix("P − R (AUC)", np.subtract(result["probe"]["matrices"]["auc"], result["matrices"]["auc"]), tasks))
    print("P of the untrained model (AUC):", [round(v, 3) for v in result["probe"]["initial"]["auc"]])
    print("chosen C:", result["probe"]["chosen_C"]["matrix"])
    print("summary (AUC):", {k: None if v is None else round(v, 4) for k, v in result["probe"]["summary"]["auc"].items()})
    print("detector summary (AUC):", {k: None if v is None else round(v, 4) for k, v in result["summary"]["auc"].items()})


if __name__ == "__main__":
    main()
