"""What a sweep engine costs: one 12-cell grid (naive, lwf, replay, fretal × seeds 0–2 on a small ``synthetic``)
through the ``local`` executor and through ``ray`` on a local instance, back to back in one process.

Every arm starts from an empty results folder, after the scenario's data cache is built, so no arm pays for
the data. Each cell times itself inside its worker (``CellOutcome.seconds``); the overhead of an arm is what
its CPU slots spent outside cells, per cell: (wall × parallel slots − Σ cell seconds) / cells. For ``ray``
that is worker start-up (each worker imports torch and Avalanche and loads the scenario once) and scheduling,
with Ray's own start timed apart; for ``local`` the driver's work between cells. Both arms give each cell 1
torch thread, so their result files must be equal (checked).

    nice -n 10 python benchmarks/sweep_overhead.py
    nice -n 10 python benchmarks/sweep_overhead.py --n-train 200 --epochs 1 --cpus 2

Timings on a shared machine are noisy; compare arms of one invocation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from benchmark import results, sweep

STRATEGIES = ["naive", "lwf", "replay", "fretal"]
COMPARED = ("matrices", "initial", "summary", "config")


def grid_file(folder: Path, args: argparse.Namespace) -> Path:
    path = folder / "overhead.yaml"
    path.write_text(yaml.safe_dump({
        "name": "overhead", "scenario": "synthetic", "strategies": STRATEGIES, "seeds": [0, 1, 2],
        "scenario_params": {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test},
        "train": {"epochs": args.epochs}, "threads": 1, "device": "cpu"}, sort_keys=False))
    return path


def timed(grid: sweep.Grid, executor: str, **options) -> tuple[float, list[sweep.CellOutcome]]:
    start = time.perf_counter()
    progress = sweep.sweep(grid, executor, **options)
    progress.summary()
    return time.perf_counter() - start, progress.outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=200, help="training images per class and task (default 200)")
    parser.add_argument("--n-val", type=int, default=50)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        grid_path = grid_file(folder, args)
        local, on_ray = (sweep.read(grid_path, results_dir=folder / name) for name in ("local", "ray"))
        sweep.prepare(local)  # the data cache, built before either arm is timed
        local_wall, local_cells = timed(local, "local")
        start = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        try:
            ray_wall, ray_cells = timed(on_ray, "ray")
        finally:
            ray.shutdown()
        for name, outcomes in (("local", local_cells), ("ray", ray_cells)):
            failed = [o for o in outcomes if o.status != "done"]
            if failed:
                raise SystemExit(f"{name}: {len(failed)} cell(s) did not run: {failed[0]}")
        same = all(all(results.load(a.path)[key] == results.load(b.path)[key] for key in COMPARED)
                   for a, b in zip(local.cells, on_ray.cells))
    rows = [("local (1 process, 1 thread)", 1, local_wall, local_cells),
            (f"ray ({args.cpus} CPUs, 1 thread per cell), after Ray's start", args.cpus, ray_wall, ray_cells),
            (f"ray, with Ray's start ({ray_start:.1f} s)", args.cpus, ray_wall + ray_start, ray_cells)]
    print(f"grid: {' '.join(STRATEGIES)} × seeds 0-2 on synthetic (n_train={args.n_train}, n_val={args.n_val}, "
          f"n_test={args.n_test}), {args.epochs} epoch(s), smallcnn, CPU")
    print("| arm | cells | wall (s) | Σ cell (s) | overhead per cell (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, slots, wall, outcomes in rows:
        inside = sum(o.seconds for o in outcomes)
        print(f"| {name} | {len(outcomes)} | {wall:.1f} | {inside:.1f} | {(wall * slots - inside) / len(outcomes):.2f} |")
    print(f"ray and local result files equal: {same}")


if __name__ == "__main__":
    main()
