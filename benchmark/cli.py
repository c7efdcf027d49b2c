"""The ``dfcl`` command line: run benchmarks, list what exists, inspect scenarios, build the leaderboard."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .errors import ConfigError, DfclError
from .registry import first_paragraph

RUN_CONFIG_KEYS = {"scenario", "strategies", "detector", "detector_params", "scenario_params", "seeds", "device",
                   "threads", "train", "data_root", "results_dir", "tag", "save_scores", "probe", "order_seed",
                   "precision"}


def _number_type(kind: type, test, description: str):
    """An argparse type: ``kind`` parsed and checked, so a bad value is argparse's exit-2 error naming the flag."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value
    return parse


POSITIVE_INT = _number_type(int, lambda v: v >= 1, "an integer ≥ 1")
NON_NEGATIVE_INT = _number_type(int, lambda v: v >= 0, "an integer ≥ 0")
POSITIVE_FLOAT = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
PROBABILITY = _number_type(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1")


def parse_assignments(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["lr=1e-3", "widths=[8,16]"]`` → ``{"lr": 0.001, "widths": [8, 16]}`` (values read as YAML)."""
    parsed = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        value = yaml.safe_load(text) if text else None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        parsed[key.strip()] = value
    return parsed


def _run_config(path: str | None) -> dict[str, Any]:
    """The run config file's mapping, its keys and their types checked (each error names the file and key)."""
    if not path:
        return {}
    from scenarios import read_yaml
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"--config {path}: no such file")
    config = read_yaml(file)
    unknown = sorted(set(config) - RUN_CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; known: {sorted(RUN_CONFIG_KEYS)}")
    for key in ("train", "scenario_params", "detector_params"):
        if not isinstance(config.get(key, {}), dict):
            raise ConfigError(f"{path}: '{key}' must be a mapping (KEY: VALUE lines), got {config[key]!r}")
    if "strategies" in config and not isinstance(config["strategies"], (str, list, dict)):
        raise ConfigError(f"{path}: 'strategies' must be a name, a list of names or a mapping name → parameters")
    return config


def _strategies(config_value: Any, cli: list[str] | None, cli_params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Strategy name → its parameter overrides, from the config file and/or the command line."""
    if isinstance(config_value, str):
        config_value = [config_value]
    from_file = dict(config_value) if isinstance(config_value, dict) else {n: {} for n in config_value or []}
    chosen = {name: dict(from_file.get(name) or {}) for name in cli} if cli else from_file
    if not chosen:
        raise ConfigError("no strategy given: pass --strategy NAME (see `dfcl list strategies`)")
    return {name: {**params, **cli_params} for name, params in chosen.items()}


def command_run(args: argparse.Namespace) -> int:
    import scenarios
    import strategies
    from . import detectors, leaderboard, results
    from .runner import RunRequest, run
    from .training import TrainConfig

    config = _run_config(args.config)
    pick = lambda flag, key, default=None: flag if flag is not None else config.get(key, default)  # noqa: E731
    scenario_params = {**config.get("scenario_params", {}), **parse_assignments(args.scenario_param, "--scenario-param")}
    if args.skip_unreadable:
        scenario_params["skip_unreadable"] = True
    train = {**config.get("train", {}), **parse_assignments(args.train, "--train")}
    for flag, key in ((args.epochs, "epochs"), (args.batch_size, "batch_size"), (args.lr, "lr"),
                      (args.workers, "num_workers")):
        if flag is not None:
            train[key] = flag
    TrainConfig.from_dict(train)  # every bad training value is an error before anything loads
    strategy_params = parse_assignments(args.strategy_param, "--strategy-param")
    chosen = _strategies(config.get("strategies"), args.strategy, strategy_params)
    detector = pick(args.detector, "detector", "smallcnn")
    detector_params = {**config.get("detector_params", {}), **parse_assignments(args.detector_param, "--detector-param")}
    detectors.REGISTRY.params(detector, detector_params)
    for strategy, params in chosen.items():
        strategies.REGISTRY.params(strategy, params)
    seeds = results.checked_seeds(args.seeds if args.seeds is not None else config.get("seeds", [0]),
                                  "--seeds" if args.seeds is not None else f"{args.config}")
    threads = pick(args.threads, "threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be an integer ≥ 1, got {threads!r}")
    order_seed = pick(args.order_seed, "order_seed", 0)
    if isinstance(order_seed, bool) or not isinstance(order_seed, int) or order_seed < 0:
        raise ConfigError(f"{args.config}: order_seed must be an integer ≥ 0 (0 = the scenario's own order), got "
                          f"{order_seed!r}")
    results_dir = results.checked_dir(pick(args.results_dir, "results_dir", "results"), "--results-dir")
    board = results.checked_output(args.leaderboard, "--leaderboard") if args.leaderboard else None
    scenario_name = pick(args.scenario, "scenario", "synthetic")
    data_root = pick(args.data_root, "data_root")
    started = time.perf_counter()
    logging.getLogger("dfcl").info("loading scenario %s …", scenario_name)
    scenario = scenarios.load(scenario_name, params=scenario_params, data_root=data_root)
    logging.getLogger("dfcl").info("scenario %s ready in %.1f s: %s", scenario.name, time.perf_counter() - started,
                                   " → ".join(scenario.task_names))
    for strategy, params in chosen.items():
        request = RunRequest(
            scenario=scenario_name, strategy=strategy, detector=detector, seeds=seeds, scenario_params=scenario_params,
            strategy_params=params, detector_params=detector_params, train=train,
            device=pick(args.device, "device", "auto"), threads=threads, data_root=data_root, results_dir=results_dir,
            tag=pick(args.tag, "tag"), force=args.force, keep_checkpoints=args.keep_checkpoints,
            save_scores=not args.no_scores and config.get("save_scores", True),
            probe=pick(args.probe, "probe", True), order_seed=order_seed,
            precision=pick(args.precision, "precision", "auto"), pin_memory=args.pin_memory,
            persistent_workers=args.persistent_workers, augment_on_device=args.augment_on_device)
        run(request, scenario=scenario)
    logging.getLogger("dfcl").info("all runs finished in %.0f s", time.perf_counter() - started)
    if board:
        leaderboard.write(results_dir, board)
        logging.getLogger("dfcl").info("regenerated %s", board)
    return 0


def command_cache(args: argparse.Namespace) -> int:
    from . import data_cache

    root = data_cache.cache_root()
    if args.action == "clear":
        kinds = data_cache.KINDS if args.all else ("decoded",)
        removed, freed = data_cache.clear(kinds)
        print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} ({freed / 2**20:.1f} MB) of "
              f"{' and '.join(kinds)} data from {root}" + ("" if args.all else "; synthetic arrays kept (--all)"))
        return 0
    found = data_cache.entries()
    print(f"cache: {root} (DFCL_CACHE){'' if data_cache.enabled() else '; decoded-image cache off (DFCL_DECODE_CACHE)'}")
    for kind in data_cache.KINDS:
        mine = [e for e in found if e.kind == kind]
        print(f"  {kind}: {len(mine)} entr{'y' if len(mine) == 1 else 'ies'}, {sum(e.bytes for e in mine) / 2**20:.1f} MB")
        for entry in mine:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used)) if entry.last_used else "?"
            what = (f"{entry.images} images, resize {entry.resize}, from {entry.source}" if kind == "decoded"
                    else entry.path.name)
            print(f"    {entry.path.name[:12]:<12} {entry.bytes / 2**20:9.1f} MB  last used {used}  {what}")
    return 0


def command_bench(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from . import bench

    size = bench.FULL if args.full else bench.DEFAULT
    overrides = {key: value for key, value in (("tasks", args.tasks), ("epochs", args.epochs),
                                                 ("train_images", args.images), ("repeats", args.repeats))
                 if value is not None}
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = bench.bench(scenario_name=args.scenario, detector=args.detector, device_name=args.device,
                         precision_name=args.precision, size=dataclasses.replace(size, **overrides),
                         scenario_params=parse_assignments(args.scenario_param, "--scenario-param"),
                         detector_params=parse_assignments(args.detector_param, "--detector-param"),
                         data_root=args.data_root, batch_size=args.batch_size, workers=args.workers,
                         threads=args.threads, log=log)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(bench.render(result))
    return 0


def command_list(args: argparse.Namespace) -> int:
    import scenarios
    import strategies
    from scenarios.synthetic import FAMILIES
    from . import detectors

    what = args.what
    if what in ("all", "scenarios"):
        print("scenarios:")
        for name in scenarios.available():
            spec = scenarios.read_yaml(scenarios.SCENARIO_DIR / f"{name}.yaml")
            print(f"  {name:<20} {spec['source']:<9} {len(spec['tasks'])} tasks: {' → '.join(spec['tasks'])}")
    from .registry import BUILT_IN

    for title, registry in (("strategies", strategies.REGISTRY), ("detectors", detectors.REGISTRY)):
        if what in ("all", title):
            print(f"{title} (built in: {BUILT_IN}; a plugin's package and version in brackets):")
            for name in registry.available():
                params = ", ".join(f"{k}={v!r}" for k, v in registry.defaults(name).items())
                source = registry.source(name)
                origin = "" if source == BUILT_IN else f"[{source}] "
                print(f"  {name:<20} {origin}{registry.summary(name)}" +
                      (f"\n  {'':<20} params: {params}" if params else ""))
                if registry is detectors.REGISTRY:
                    print(f"  {'':<20} weights: {detectors.weights_source(name)}")
            for name, message in sorted(registry.refusals().items()):
                print(f"  {name:<20} NOT LOADED: {message}")
    if what in ("all", "families"):
        print("synthetic generator families:")
        for name, fn in FAMILIES.items():
            print(f"  {name:<20} {first_paragraph(fn.__doc__).split(' (')[0]}")
    return 0


def _audit_flags(scenario) -> list[dict] | None:
    """The shortcut audit's file-level flags (format, size, metadata differences between classes), or None
    where this installation has no ``benchmark.audit``."""
    try:
        from .audit import file_level_flags
    except ImportError:  # the audit is its own module; a checkout without it still checks layouts
        return None
    return file_level_flags(scenario)


def _short(value: Any) -> str:
    """A flag's value for one line: floats to three significant digits, also inside lists."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_short, value)) + "]"
    return str(value)


def _check_layout(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """``--check``: what a folder scenario's layout holds and lacks, per task, split and class, before any
    training; exit status 2 when something is missing. Nothing is decoded, and a task with missing data is
    not built."""
    import scenarios
    from scenarios.folder import LABEL_NAMES

    found = scenarios.inventory(args.name, params=params, data_root=args.data_root)
    if found is None:
        print(f"{args.name}: its source reads nothing from disk; nothing to check")
        return 0
    base, report = found
    print(f"{args.name}: {len(report)} task(s) under {base} (file listing only; no image is decoded)")
    for index, task in enumerate(report, start=1):
        print(f"  {index:>2}. {task.name:<18} {'complete' if task.complete else 'INCOMPLETE'}  {task.folder}")
        print(f"      {task.how}")
        for split, by_label in task.counts.items():
            cells = "  ".join(f"{LABEL_NAMES[label]} {n:>6}{' (MISSING)' if not n else ''}"
                              for label, n in by_label.items())
            print(f"      {split:<6} {cells}")
        for line in task.missing:
            print(f"      missing: {line}")
    incomplete = [task.name for task in report if not task.complete]
    if incomplete:
        print(f"layout incomplete: {len(incomplete)} of {len(report)} task(s) lack data ({', '.join(incomplete)}); "
              f"the audit's file-level flags need the complete layout", file=sys.stderr)
        return 2
    scenario = scenarios.load(args.name, params={**params, "verify": False}, data_root=args.data_root)
    flags = _audit_flags(scenario)
    if flags is None:
        print("audit: benchmark.audit is not installed here; no file-level flags")
    else:
        print(f"audit file-level flags: {len(flags) or 'none'}")
        for flag in flags:
            print("  " + ", ".join(f"{key}={_short(value)}" for key, value in flag.items() if value is not None))
    print("layout complete")
    return 0


def command_scenario(args: argparse.Namespace) -> int:
    import scenarios

    params = parse_assignments(args.scenario_param, "--scenario-param")
    if args.check:
        return _check_layout(args, params)
    started = time.perf_counter()
    scenario = scenarios.load(args.name, params=params, data_root=args.data_root)
    print(f"{scenario.name} (version {scenario.version}, source {scenario.source}) ready in "
          f"{time.perf_counter() - started:.1f} s")
    print(f"fingerprint: {scenario.fingerprint}")
    for note in scenario.notes:
        print(f"note: {note}")
    for index, task in enumerate(scenario.tasks, start=1):
        sizes = ", ".join(f"{split} {n}" for split, n in task.sizes().items())
        print(f"  {index:>2}. {task.name:<18} {sizes}")
    return 0


def command_audit(args: argparse.Namespace) -> int:
    import json

    import scenarios
    from . import audit

    scenario = scenarios.load(args.scenario, params=parse_assignments(args.scenario_param, "--scenario-param"),
                              data_root=args.data_root)
    rows = audit.audit(scenario, splits=tuple(args.splits), pixels=not args.file_only, resamples=args.resamples,
                       seed=args.seed)
    if args.format == "json":
        print(json.dumps(audit.report(rows, scenario, resamples=args.resamples, seed=args.seed), indent=1))
    else:
        print(audit.render(rows, scenario.name, args.resamples), end="")
    return 1 if args.strict and any(row.flagged for row in rows) else 0


def command_leaderboard(args: argparse.Namespace) -> int:
    from . import leaderboard

    from .results import checked_dir, checked_output

    results_dir = checked_dir(args.results_dir, "--results-dir", must_exist=True)
    output = checked_output(args.output, "--output")
    if args.check:
        if leaderboard.is_fresh(results_dir, output):
            print(f"{output} is up to date with {results_dir}/")
            return 0
        print(f"{output} is stale: it is not what {results_dir}/ generates. Run `dfcl leaderboard` and commit it.",
              file=sys.stderr)
        return 1
    leaderboard.write(results_dir, output)
    print(f"wrote {output} from {results_dir}/")
    return 0


def command_validate(args: argparse.Namespace) -> int:
    from . import validate

    report = validate.validate(args.name, args.kind)
    print(report.render(), end="")
    return 0 if report.passed else 1


def command_verify(args: argparse.Namespace) -> int:
    from . import results, verify

    paths = []
    for given in args.results or ["results"]:
        path = Path(given)
        if path.is_dir():
            paths += results.find(path)
        elif path.is_file():
            paths.append(path)
        else:
            raise DfclError(f"{given}: no such result file or folder")
    if not paths:
        raise DfclError(f"no result files under {', '.join(args.results or ['results'])}")
    reports = verify.check_all(paths, verify.published_scenarios([Path(p) for p in args.scenario or []]))
    print(verify.render(reports), end="")
    return 0 if all(report.verified for report in reports) else 1


def command_new_strategy(args: argparse.Namespace) -> int:
    from . import scaffold

    written = scaffold.new_strategy(args.name, base=args.base, package=Path(args.package) if args.package else None)
    for path in written:
        print(f"wrote {path}")
    print(f"next: fill in the TODOs, then `dfcl validate {args.name}`"
          + (f" (after `pip install -e {args.package}`)" if args.package else ""))
    return 0


def _selection(args: argparse.Namespace, scenario: str):
    from .results import checked_dir
    from .selection import select
    return select(checked_dir(args.results_dir, "--results-dir", must_exist=True), scenario, args.runs,
                  order=args.order)


def command_plot(args: argparse.Namespace) -> int:
    from . import plots

    output = Path(args.output or Path("figures") / args.scenario).expanduser()
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output}: is a file; name the folder for the figures")
    written = plots.write_all(_selection(args, args.scenario), output, metric=args.metric, formats=args.formats,
                              seed_matrices=not args.no_seed_matrices)
    print(f"wrote {len(written)} files to {output}/")
    return 0


def command_table(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import leaderboard, tables

    from .results import checked_dir, checked_output, write_atomic

    output = checked_output(args.output, "--output") if args.output else None
    scenarios = args.scenario or sorted(set(leaderboard.collect(checked_dir(args.results_dir, "--results-dir",
                                                                            must_exist=True)).get("scenario", [])))
    if not scenarios:
        raise DfclError(f"no result files under {args.results_dir}/: run `dfcl run …` first or pass --results-dir")
    parts, by_order = [], []
    for scenario in scenarios:
        selection = _selection(args, scenario)
        parts.append((tables.summary_frame(selection, metric=args.metric, resamples=args.resamples, seed=args.seed),
                      selection.tasks))
        orders = tables.order_frame(selection, metric=args.metric)
        if not orders.empty:
            by_order.append((orders, selection))
    if args.format == "csv":
        text = tables.csv(pd.concat([frame for frame, _ in parts] + [frame for frame, _ in by_order],
                                    ignore_index=True))
    else:
        text = "\n".join([tables.RENDERERS[args.format](frame, tasks) for frame, tasks in parts] +
                         [tables.ORDER_RENDERERS[args.format](frame, selection) for frame, selection in by_order])
    if output:
        write_atomic(output, text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    from . import leaderboard, results, sweep

    grid = sweep.read(Path(args.grid).expanduser(), results_dir=args.results_dir, force=args.force,
                      scenario_params=parse_assignments(args.scenario_param, "--scenario-param"),
                      train=parse_assignments(args.train, "--train"))
    results_dir = Path(grid.cells[0].results_dir)
    board = results.checked_output(args.leaderboard or results_dir.parent / "leaderboard.md", "--leaderboard")
    if args.dry_run:
        sweep.prepare(grid)
        for cell in grid.cells:
            asks = ", ".join(f"{key}={value:g}" for key, value in cell.resources.items())
            print(f"{cell.name:<60} {sweep.on_disk(cell):<24} {asks}")
        print(f"{len(grid.cells)} cells in grid {grid.name}; logs in {Path(grid.cells[0].log).parent}/")
        return 0
    options = {"local": {},
               "ray": {"address": args.ray_address, "num_cpus": args.ray_cpus},
               "slurm": {"cluster": args.slurm_cluster, "parameters": sweep.slurm_parameters(
                   grid, partition=args.partition, time_min=args.time, gpus=args.gpus)}}[args.executor]
    if args.retries is not None:
        grid.retries = args.retries
    progress = sweep.sweep(grid, args.executor, **options)
    print(progress.summary(), file=sys.stderr)
    if not args.no_leaderboard:
        leaderboard.write(results_dir, board)
        print(f"regenerated {board}", file=sys.stderr)
    return 1 if progress.failed else 0


def command_compare(args: argparse.Namespace) -> int:
    from . import compare
    from .selection import select

    from .results import checked_dir

    results_dir, runs = checked_dir(args.results_dir, "--results-dir", must_exist=True), []
    for name in (args.a, args.b):
        matched = select(results_dir, args.scenario, [name], order=args.order).runs
        if len(matched) != 1:
            raise DfclError(f"'{name}' names {len(matched)} runs ({', '.join(matched)}); name each as "
                            f"<strategy>--<detector>")
        runs += matched
    frame = compare.compare(select(results_dir, args.scenario, runs, order=args.order), *runs, metric=args.metric,
                            resamples=args.resamples, seed=args.seed, alpha=args.alpha)
    print(frame.to_csv(index=False) if args.format == "csv" else compare.render(frame), end="")
    return 0


def _add_selection_flags(parser: argparse.ArgumentParser, *, runs: bool = True, resamples: int | None = None) -> None:
    """Flags shared by plot, table and compare: which results, which metric, and the bootstrap's size."""
    parser.add_argument("--results-dir", default="results", help="where result files are (default results)")
    if resamples is not None:
        parser.add_argument("--resamples", type=NON_NEGATIVE_INT, default=resamples,
                            help=f"bootstrap resamples of the test sets (default {resamples}; 0 to skip)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--metric", default="auc", choices=["auc", "acc"], help="score behind the summaries (default auc)")
    parser.add_argument("--order", type=NON_NEGATIVE_INT, default=0, metavar="K",
                        help="task order of the per-run results (default 0: the scenario's own); runs also trained "
                             "in other orders get the order-sensitivity table / figures in any case")
    if runs:
        parser.add_argument("--runs", nargs="+", metavar="RUN",
                            help="runs to include, each <strategy>, <strategy>--<detector> or a pattern such as "
                                 "'*--smallcnn' (default: all), in this order")


def _add_speed_flags(parser: argparse.ArgumentParser, *, loader: bool = True) -> None:
    """Precision and data-loader flags shared by run and bench."""
    parser.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"],
                        help="numeric precision of training and scoring (default auto: bf16 on CUDA devices that "
                             "support it, fp32 on CPU); recorded in the result")
    parser.add_argument("--workers", type=NON_NEGATIVE_INT, help="data-loader processes (default: 0 on CPU, 4 on CUDA)")
    if not loader:
        return
    parser.add_argument("--pin-memory", action=argparse.BooleanOptionalAction,
                        help="pinned host memory for batches (default: on with CUDA)")
    parser.add_argument("--persistent-workers", action=argparse.BooleanOptionalAction,
                        help="keep loader processes across epochs (default: on with CUDA)")
    parser.add_argument("--augment-on-device", action=argparse.BooleanOptionalAction,
                        help="crop and flip folder images a batch at a time on the training device (default: on "
                             "with CUDA; on CPU the per-image loader view)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfcl", description="Continual-learning benchmark for deepfake detection.")
    parser.add_argument("--version", action="version", version=f"dfcl-bench {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="train strategies over a scenario and write result files",
                              description="Train each strategy over the scenario's tasks in order, score every task "
                                          "after each, and write results/<scenario>/<strategy>--<detector>/seed<N>.json. "
                                          "Values come from the scenario YAML, then --config, then these flags.")
    run.add_argument("--config", help="YAML run config (keys: " + ", ".join(sorted(RUN_CONFIG_KEYS)) + ")")
    run.add_argument("--scenario", help="scenario name or path to a scenario YAML (default synthetic)")
    run.add_argument("--strategy", nargs="+", metavar="NAME", help="one or more strategies (dfcl list strategies)")
    run.add_argument("--detector", help="detector name (default smallcnn)")
    run.add_argument("--seeds", nargs="+", type=NON_NEGATIVE_INT, metavar="N", help="seeds to run (default 0)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto: cuda when available")
    _add_speed_flags(run)
    run.add_argument("--threads", type=POSITIVE_INT, help="CPU threads for torch (default: torch's choice)")
    run.add_argument("--epochs", type=POSITIVE_INT, help="epochs per task")
    run.add_argument("--batch-size", type=POSITIVE_INT, help="training batch size")
    run.add_argument("--lr", type=POSITIVE_FLOAT, help="learning rate")
    run.add_argument("--train", nargs="+", metavar="KEY=VALUE", help="other training settings, e.g. optimizer=sgd")
    run.add_argument("--strategy-param", nargs="+", metavar="KEY=VALUE", help="strategy hyper-parameters")
    run.add_argument("--detector-param", nargs="+", metavar="KEY=VALUE", help="detector parameters, e.g. weights=PATH")
    run.add_argument("--scenario-param", nargs="+", metavar="KEY=VALUE", help="override scenario params, e.g. n_train=500")
    run.add_argument("--data-root", help="folder holding real datasets (default: $DFCL_DATA)")
    run.add_argument("--skip-unreadable", action="store_true", help="leave unreadable images out (counted) instead of stopping")
    run.add_argument("--results-dir", help="where result files go (default results)")
    run.add_argument("--tag", help="run variant name: results go to <strategy>+<tag>--<detector>")
    run.add_argument("--force", action="store_true", help="replace finished results instead of skipping them")
    run.add_argument("--no-scores", action="store_true", help="do not save raw per-sample scores beside results")
    run.add_argument("--keep-checkpoints", action="store_true",
                     help="keep each seed's per-task checkpoints (seed<N>.ckpt/) after its result is written")
    run.add_argument("--probe", action=argparse.BooleanOptionalAction, default=None,
                     help="fit linear probes on the frozen features of every task after each task, to tell "
                          "forgetting in the features from forgetting in the head (default on)")
    run.add_argument("--leaderboard", metavar="FILE", help="regenerate this leaderboard file after the runs")
    run.add_argument("--order-seed", type=NON_NEGATIVE_INT, metavar="K",
                     help="train the tasks in order K: 0 (default) = the scenario's own, K ≥ 1 = its K-th seeded "
                          "permutation; results go to <scenario>+order<K>/")
    run.set_defaults(handler=command_run)

    grid = commands.add_parser(
        "sweep", help="run a grid of runs (strategies × parameters × detectors × seeds × task orders)",
        description="Expand a grid file into cells, one run of one seed in one task order each, and hand them to "
                    "an executor: local (one after another here), ray (tasks on a local instance or the cluster at "
                    "--ray-address; a killed worker is retried and resumes from its checkpoint) or slurm (job "
                    "arrays through submitit). A finished cell is skipped and an interrupted one resumes, so the "
                    "same command continues a sweep. Each cell logs to <results>/.sweep/<grid>/<cell>.log; the "
                    "leaderboard is regenerated at the end. The grid's keys: README, 'Sweeps'; an example: "
                    "configs/sweep-orders.yaml.")
    grid.add_argument("grid", help="the grid YAML file")
    grid.add_argument("--executor", default="local", choices=["local", "ray", "slurm"], help="default local")
    grid.add_argument("--results-dir", help="where result files go (default: the grid's results_dir, else results)")
    grid.add_argument("--dry-run", action="store_true", help="validate the grid and list its cells; run nothing")
    grid.add_argument("--scenario-param", nargs="+", metavar="KEY=VALUE",
                      help="override the grid's scenario params, e.g. n_train=200 (a small trial)")
    grid.add_argument("--train", nargs="+", metavar="KEY=VALUE", help="override the grid's training settings")
    grid.add_argument("--force", action="store_true", help="rerun finished cells instead of skipping them")
    grid.add_argument("--retries", type=NON_NEGATIVE_INT, help="times a cell whose worker died is run again (default: the "
                                                  "grid's retries, else 2)")
    grid.add_argument("--leaderboard", metavar="FILE", help="leaderboard to regenerate (default: leaderboard.md "
                                                            "beside the results folder)")
    grid.add_argument("--no-leaderboard", action="store_true", help="do not regenerate the leaderboard")
    grid.add_argument("--ray-address", help="join this Ray cluster (e.g. ray://head:10001 or auto); default: start "
                                            "a local instance for the sweep")
    grid.add_argument("--ray-cpus", type=POSITIVE_INT, help="CPUs of the local Ray instance (default: all)")
    grid.add_argument("--slurm-cluster", default="slurm", choices=["slurm", "local"],
                      help="submitit cluster: slurm (default), or local processes to try a grid without Slurm")
    grid.add_argument("--partition", help="Slurm partition (over the grid's slurm.slurm_partition)")
    grid.add_argument("--time", type=POSITIVE_INT, metavar="MINUTES", help="time limit per job (over slurm.timeout_min; "
                                                                  "a job that reaches it is requeued and resumes)")
    grid.add_argument("--gpus", type=NON_NEGATIVE_INT, help="GPUs per job (over each detector's resources.num_gpus)")
    grid.set_defaults(handler=command_sweep)

    cache = commands.add_parser("cache", help="the on-disk cache: decoded folder images and synthetic arrays",
                                description="Folder scenarios' images are decoded once into memory-mapped uint8 "
                                            "shards, one entry per task file list and decode settings; synthetic "
                                            "scenarios' arrays are cached too. Location: $DFCL_CACHE (default "
                                            "~/.cache/dfcl-bench).")
    cache.add_argument("action", choices=["info", "clear"], help="info: list entries and sizes; clear: remove them")
    cache.add_argument("--all", action="store_true", help="with clear: the synthetic arrays too")
    cache.set_defaults(handler=command_cache)

    speed = commands.add_parser(
        "bench", help="training and scoring images/s of the suite against a bare PyTorch loop; loader images/s",
        description="In one process, repeats interleaved (images/s: the best repeat; ratios: the median over "
                    "repeats of each side-by-side pair): images/s of naive training and of scoring as the suite "
                    "does them, against a plain PyTorch loop on the same model, initial weights, "
                    "batches, optimiser, schedule, precision and device (their ratios), and of the training "
                    "loader alone per core (folder scenarios: cold cache, warm cache, PIL decoding). The default "
                    "size takes under a minute on 2 CPU cores; --full is 3 tasks × 3 epochs on all the data.")
    speed.add_argument("--scenario", default="synthetic", help="scenario name or YAML (default synthetic)")
    speed.add_argument("--detector", default="smallcnn", help="detector name (default smallcnn)")
    speed.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _add_speed_flags(speed, loader=False)
    speed.add_argument("--full", action="store_true", help="the long version: 3 tasks × 3 epochs, all images, 2 repeats")
    speed.add_argument("--tasks", type=POSITIVE_INT, help="tasks to train (default 2; --full 3)")
    speed.add_argument("--epochs", type=POSITIVE_INT, help="epochs per task (default 1; --full 3)")
    speed.add_argument("--images", type=POSITIVE_INT, help="training images per task of in-memory scenarios (default 1024; --full all)")
    speed.add_argument("--repeats", type=POSITIVE_INT, help="interleaved repeats (default 3; --full 2)")
    speed.add_argument("--batch-size", type=POSITIVE_INT, help="training batch size (default: the scenario's)")
    speed.add_argument("--threads", type=POSITIVE_INT,
                       help="CPU threads for torch (default: 1 on CPU, a ratio per core that holds on a shared "
                            "machine; torch's choice on CUDA)")
    speed.add_argument("--scenario-param", nargs="+", metavar="KEY=VALUE", help="override scenario params")
    speed.add_argument("--detector-param", nargs="+", metavar="KEY=VALUE", help="detector parameters")
    speed.add_argument("--data-root", help="folder holding real datasets (default: $DFCL_DATA)")
    speed.add_argument("--json", action="store_true", help="print the measurements as JSON (progress to stderr)")
    speed.set_defaults(handler=command_bench)

    listing = commands.add_parser("list", help="list scenarios, strategies, detectors and synthetic families")
    listing.add_argument("what", nargs="?", default="all", choices=["all", "scenarios", "strategies", "detectors", "families"])
    listing.set_defaults(handler=command_list)

    scenario = commands.add_parser("scenario", help="build (or load from cache) a scenario and describe it")
    scenario.add_argument("name", help="scenario name or path to a scenario YAML")
    scenario.add_argument("--data-root", help="folder holding real datasets (default: $DFCL_DATA)")
    scenario.add_argument("--scenario-param", nargs="+", metavar="KEY=VALUE", help="override scenario params")
    scenario.add_argument("--check", action="store_true",
                          help="only list what the data layout holds and lacks per task, split and class (no "
                               "decoding, no training) and the audit's file-level flags; exit 2 if incomplete")
    scenario.set_defaults(handler=command_scenario)

    shortcut = commands.add_parser(
        "audit", help="shortcut audit: how well cues no generator should leave (format, size, grey …) tell fakes",
        description="Per task and split, the ROC AUC (fake = positive) of each cue alone: file format, width, "
                    "height, aspect, bytes per pixel, estimated JPEG quality, metadata (folder scenarios), and the "
                    "share of exactly-grey images and pixels, brightness, saturation and contrast (every scenario), "
                    "with a stratified bootstrap interval. A cue outside [0.4, 0.6] is flagged with the fix to try. "
                    "Definitions: benchmark/audit.py.")
    shortcut.add_argument("scenario", help="scenario name or path to a scenario YAML")
    shortcut.add_argument("--data-root", help="folder holding real datasets (default: $DFCL_DATA)")
    shortcut.add_argument("--scenario-param", nargs="+", metavar="KEY=VALUE", help="override scenario params")
    shortcut.add_argument("--splits", nargs="+", default=["train", "val", "test"],
                          choices=["train", "val", "test", "all"],
                          help="splits to audit; 'all' is a task's splits together (default train val test)")
    shortcut.add_argument("--file-only", action="store_true",
                          help="only the file-level cues (header reads, no decoding), as `dfcl run` checks them")
    shortcut.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (default 200; 0 to skip)")
    shortcut.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    shortcut.add_argument("--format", default="table", choices=["table", "json"])
    shortcut.add_argument("--strict", action="store_true", help="exit 1 when a cue is flagged (for CI)")
    shortcut.set_defaults(handler=command_audit)

    check = commands.add_parser(
        "validate", help="the submission contract for a strategy (or detector): a checklist, exit 1 on any ✗",
        description="Run NAME on a tiny two-task scenario and check, one line each: it runs; two runs give "
                    "identical matrices and weights; its state survives a checkpoint round trip; its "
                    "hyper-parameters are keyword-only, JSON-able and recorded; it never reads a test split "
                    "while training; its weights do not depend on the test data; with every detector (for a "
                    "detector: every strategy) it trains or refuses with a clear message. Exit 1 on any ✗.")
    check.add_argument("name", help="a strategy or detector name (dfcl list), built in or from a plugin package")
    check.add_argument("--kind", choices=["strategy", "detector"], help="when NAME is both (default strategy)")
    check.set_defaults(handler=command_validate)

    audit_results = commands.add_parser(
        "verify", help="check submitted result files without rerunning them; exit 1 unless all verify",
        description="For each result file: its schema, its summaries recomputed from its matrices, every matrix "
                    "cell recomputed from the raw scores saved beside it, its config hash recomputed from its "
                    "config, its data fingerprint against the one its scenario's YAML publishes, and its "
                    "provenance complete. Every problem is listed with its file and field.")
    audit_results.add_argument("results", nargs="*", metavar="RESULTS",
                               help="result files or folders of them (default results/)")
    audit_results.add_argument("--scenario", nargs="+", metavar="YAML",
                               help="scenario YAMLs (beyond the bundled ones) whose recorded fingerprints count as "
                                    "published, for results on a scenario of your own")
    audit_results.set_defaults(handler=command_verify)

    scaffold = commands.add_parser(
        "new-strategy", help="write a new strategy file, its test and a run config (or a plugin package)",
        description="Write a strategy NAME built on an existing one (its hyper-parameters as keyword-only "
                    "arguments with their defaults, plus a plugin to fill in, and a docstring with the citation "
                    "to fill), a test that runs `dfcl validate NAME`, and a run config: into this checkout "
                    "(strategies/, tests/, configs/), or with --package as a small installable package that "
                    "declares its entry point.")
    scaffold.add_argument("name", help="the new strategy's registered name, e.g. my-lwf")
    scaffold.add_argument("--from", dest="base", default="naive", metavar="STRATEGY",
                          help="the strategy it varies (default naive; any name of `dfcl list strategies`)")
    scaffold.add_argument("--package", metavar="DIR", help="write an installable plugin package into DIR instead")
    scaffold.set_defaults(handler=command_new_strategy)

    board = commands.add_parser("leaderboard", help="regenerate leaderboard.md from result files")
    board.add_argument("--results-dir", default="results", help="default results")
    board.add_argument("--output", default="leaderboard.md", help="default leaderboard.md")
    board.add_argument("--check", action="store_true", help="exit 1 if the file is not what the results generate")
    board.set_defaults(handler=command_leaderboard)

    plot = commands.add_parser("plot", help="paper figures (PDF, PNG, SVG) from result files",
                               description="Draw, for one scenario, each run's score matrix (per seed and mean over "
                                           "seeds), per-task curves over the training sequence, the stability–"
                                           "plasticity scatter and grouped bars of average / forgetting / BWT. "
                                           "Spread is ± 1 s.d. over seeds. Reads result files only.")
    plot.add_argument("--scenario", default="synthetic", help="scenario name as in results/ (default synthetic)")
    plot.add_argument("--output", help="folder for the figures (default figures/<scenario>)")
    plot.add_argument("--formats", nargs="+", default=["pdf", "png", "svg"], choices=["pdf", "png", "svg"])
    plot.add_argument("--no-seed-matrices", action="store_true",
                      help="leave out the per-seed heatmaps (keep the mean over seeds), e.g. for many runs")
    _add_selection_flags(plot)
    plot.set_defaults(handler=command_plot)

    table = commands.add_parser("table", help="mean ± s.d. and 95%% confidence intervals per scenario",
                                description="One table per scenario: each summary as mean ± sample s.d. over seeds "
                                            "with a 95%% confidence interval (Student t over seeds, combined with a "
                                            "stratified bootstrap over test samples when raw scores were saved), "
                                            "best value per column marked. The caption states the method.")
    table.add_argument("--format", default="markdown", choices=["markdown", "latex", "csv"])
    table.add_argument("--scenario", nargs="+", help="scenarios (default: every scenario with results)")
    table.add_argument("--output", help="write to this file instead of standard output")
    _add_selection_flags(table, resamples=200)
    table.set_defaults(handler=command_table)

    versus = commands.add_parser("compare", help="is run A better than run B? paired tests with effect sizes",
                                 description="Compare two runs of one scenario, paired over their common seeds: "
                                             "paired t-test and exact sign-flip test over seeds, effect size d_z, "
                                             "and a stratified bootstrap over test samples when raw scores exist. "
                                             "Refuses runs on different data or without common seeds.")
    versus.add_argument("a", help="run A: <strategy> or <strategy>--<detector>")
    versus.add_argument("b", help="run B: <strategy> or <strategy>--<detector>")
    versus.add_argument("--scenario", default="synthetic", help="default synthetic")
    versus.add_argument("--alpha", type=PROBABILITY, default=0.05, help="significance level of the verdict (default 0.05)")
    versus.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    _add_selection_flags(versus, runs=False, resamples=1000)
    versus.set_defaults(handler=command_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.handler(args)
    except DfclError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerunning the same command resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
