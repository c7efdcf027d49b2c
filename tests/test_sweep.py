"""`dfcl sweep`: a grid is validated whole before anything starts and expands into idempotent cells written
into the results tree of `dfcl run`; the local, Ray and Slurm (submitit) executors give the same result
files; a killed Ray worker's cell is retried and resumes from its checkpoint; failures are named with their
log file."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import strategies

from benchmark import checkpoints, results, sweep
from benchmark.cli import main
from benchmark.errors import ConfigError
from conftest import REPO
from conftest import three_task_yaml as write_three_task_yaml

COMPARED = ("scenario", "strategy", "detector", "seed", "matrices", "initial", "summary", "training", "config",
            "test_sizes", "warnings")


def write_grid(folder: Path, **keys) -> Path:
    path = folder / f"{keys.pop('file', 'grid')}.yaml"
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    return path


def small_grid(folder: Path, scenario_file: Path, **overrides) -> Path:
    """naive and lwf × two orders × seed 0: four cells of a few seconds each."""
    keys = {"scenario": str(scenario_file), "strategies": ["naive", "lwf"], "seeds": [0], "orders": 2, "threads": 1,
            **overrides}
    return write_grid(folder, **keys)


def assert_same_results(paths_a: list[Path], paths_b: list[Path]) -> None:
    assert len(paths_a) == len(paths_b) > 0
    for a, b in zip(paths_a, paths_b):
        first, second = results.load(a), results.load(b)
        for key in COMPARED:
            assert first[key] == second[key], f"{a} and {b} differ in {key}"
        assert first["provenance"]["config_hash"] == second["provenance"]["config_hash"]


# --- validation and expansion --------------------------------------------------------------------------

@pytest.mark.parametrize("keys,message", [
    ({"strategis": ["naive"]}, r"unknown key\(s\) \['strategis'\]"),
    ({"strategies": ["nope"]}, r"strategies: unknown strategy 'nope'; available: .*naive"),
    ({"strategies": {"lwf": {"alpah": [1, 10]}}}, r"strategies.lwf: strategy 'lwf' has no parameter 'alpah'"),
    ({"strategies": {"lwf": {"alpha": []}}}, r"strategies.lwf.alpha lists no value"),
    ({"strategies": {"lwf": {"alpha": [10, 10.0]}}}, r"the same cell twice"),
    ({"strategies": {"lwf": {"alpha": [3, 3.0]}}}, r"the same cell twice"),  # equal values, here also the default
    ({"scenario": "nope"}, r"scenarios: unknown scenario 'nope'"),
    ({"detectors": {"smallcnn": {"depth": 3}}}, r"detectors.smallcnn: detector 'smallcnn' has no parameter 'depth'"),
    ({"detectors": ["nope"]}, r"detectors: unknown detector 'nope'"),
    ({"train": {"epochz": 1}}, r"train: unknown training setting\(s\) \['epochz'\]"),
    ({"orders": 3}, r"orders: order 2 does not exist for 2 tasks"),
    ({"orders": 0}, r"orders: K must be ≥ 1"),
    ({"seeds": ["a"]}, r"seeds must be a non-empty list of integers"),
    ({"resources": {"resnet50": {"num_gpus": 1}}}, r"resources names \['resnet50'\]"),
    ({"resources": {"default": {"gpus": 1}}}, r"resources.default takes \['num_cpus', 'num_gpus'\]"),
    ({"retries": -1}, r"retries must be an integer ≥ 0"),
])
def test_a_bad_grid_is_rejected_naming_the_key(keys, message, two_task_yaml, tmp_path):
    grid = small_grid(tmp_path, two_task_yaml, **keys)
    with pytest.raises(ConfigError, match=message) as error:
        sweep.read(grid, results_dir=tmp_path / "results")
    assert str(grid) in str(error.value)


@pytest.mark.parametrize("argv,message", [
    (["sweep", "missing.yaml"], "grid file missing.yaml not found"),
    (["sweep", "{grid}", "--leaderboard", "{folder}"], "is a folder; name the file to write"),
    (["sweep", "{grid}", "--retries", "-1"], "argument --retries: expected an integer ≥ 0"),
    (["sweep", "{grid}", "--executor", "dask"], "argument --executor: invalid choice"),
])
def test_bad_sweep_arguments_exit_2_naming_the_flag(argv, message, two_task_yaml, tmp_path, capsys):
    grid = small_grid(tmp_path, two_task_yaml)
    argv = [a.format(grid=grid, folder=tmp_path) for a in argv]
    try:
        status = main([*argv, "--results-dir", str(tmp_path / "results")])
    except SystemExit as exit_info:  # argparse
        status = exit_info.code
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "results" / "tiny").exists()


def test_a_bad_scenario_parameter_is_rejected_before_any_cell_starts(two_task_yaml, tmp_path, capsys):
    grid = small_grid(tmp_path, two_task_yaml, scenario_params={"n_trian": 10})
    assert main(["sweep", str(grid), "--results-dir", str(tmp_path / "results")]) == 2
    assert "unknown synthetic parameter(s) ['n_trian']" in capsys.readouterr().err
    assert not (tmp_path / "results" / "tiny").exists()


def test_the_grid_expands_into_one_cell_per_combination_with_distinct_labels(two_task_yaml, tmp_path):
    default_alpha = strategies.REGISTRY.defaults("lwf")["alpha"]
    grid = sweep.read(small_grid(tmp_path, two_task_yaml, strategies={"naive": {}, "lwf": {"alpha": [1, default_alpha],
                                                                                        "temperature": [2.0, 4]}},
                                seeds=[0, 1]), results_dir=tmp_path / "results")
    names = [cell.name for cell in grid.cells]
    assert len(names) == len(set(names)) == 2 * (1 + 2 * 2) * 2  # orders × (naive + lwf's 4) × seeds
    assert names[:2] == ["tiny/naive--smallcnn/seed0", "tiny/naive--smallcnn/seed1"]
    labels = sorted({cell.label for cell in grid.cells})
    assert labels == ["lwf", "lwf+alpha1", "lwf+alpha1_temperature4", "lwf+temperature4", "naive"]
    default = next(cell for cell in grid.cells if cell.label == "lwf")
    assert default.strategy_params == {}  # the defaults' run is the plain one, shared with `dfcl run`
    assert {cell.order for cell in grid.cells} == {0, 1}
    assert all(cell.path == results.result_path(tmp_path / "results", "tiny", cell.label, "smallcnn", cell.seed,
                                                cell.order) for cell in grid.cells)
    assert Path(grid.cells[0].log) == tmp_path / "results" / ".sweep" / "grid" / "tiny__naive--smallcnn__seed0.log"


def test_a_tag_is_readable_where_it_can_be_and_a_digest_otherwise():
    assert sweep.tag({}) is None
    assert sweep.tag({"temperature": 4, "alpha": 1}) == "alpha1_temperature4"
    assert sweep.tag({"kd_form": "code", "batchnorm_eval": True}) == "batchnorm_evaltrue_kd_formcode"
    odd = sweep.tag({"path": "/models/a b.pt"})
    assert re.fullmatch(r"p[0-9a-f]{10}", odd) and odd == sweep.tag({"path": "/models/a b.pt"})
    assert "--" not in sweep.tag({"lr": -0.5, "x": -1})


# --- the local executor ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_task_yaml(tmp_path_factory) -> Path:
    """Three tasks of about a second each: long enough to kill a worker between two task checkpoints."""
    return write_three_task_yaml(tmp_path_factory.mktemp("scenario"), n_train=64, n_test=32, epochs=4, batch_size=16)


@pytest.fixture(scope="module")
def local_run(three_task_yaml, tmp_path_factory):
    """The four-cell grid through the local executor: the reference the engines must reproduce."""
    folder = tmp_path_factory.mktemp("local")
    grid = small_grid(folder, three_task_yaml)
    code = main(["-q", "sweep", str(grid), "--results-dir", str(folder / "results")])
    return folder, grid, code


def test_local_sweep_writes_the_run_layout_logs_and_the_leaderboard(local_run):
    folder, grid, code = local_run
    assert code == 0
    cells = sweep.read(grid, results_dir=folder / "results").cells
    for cell in cells:
        result = results.load(cell.path)
        assert results.order_of(result) == cell.order and result["strategy"]["label"] == cell.label
        assert f"cell {cell.name}: done" in Path(cell.log).read_text()
    board = (folder / "leaderboard.md").read_text()
    assert "### Task-order sensitivity" in board and "| naive | smallcnn | 0, 1 |" in board


def test_a_finished_sweep_is_skipped_and_dry_run_lists_the_cells(local_run, capsys):
    folder, grid, _ = local_run
    before = {p: p.stat().st_mtime_ns for p in results.find(folder / "results")}
    assert main(["sweep", str(grid), "--results-dir", str(folder / "results"), "--no-leaderboard"]) == 0
    assert "0 run, 4 finished before (skipped)" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in results.find(folder / "results")} == before
    assert main(["sweep", str(grid), "--results-dir", str(folder / "results"), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "three+order1/lwf--smallcnn/seed0" in listed and listed.count("result exists") == 4
    assert "4 cells in grid grid" in listed


def test_failed_cells_are_named_with_their_log_and_the_others_still_run(local_run, tmp_path, capsys):
    folder, grid, _ = local_run
    results_dir = tmp_path / "results"
    shutil.copytree(folder / "results" / "three", results_dir / "three")  # order 0 done with 4 epochs
    changed = small_grid(tmp_path, Path(yaml.safe_load(grid.read_text())["scenario"]), train={"epochs": 1})
    assert main(["sweep", str(changed), "--results-dir", str(results_dir), "--no-leaderboard"]) == 1
    err = capsys.readouterr().err
    failed = re.findall(r"FAILED (\S+): ResultError: .*another configuration", err)
    assert sorted(failed) == ["three/lwf--smallcnn/seed0", "three/naive--smallcnn/seed0"]
    assert f"log: {results_dir}/.sweep/grid/three__naive--smallcnn__seed0.log" in err
    assert "2 run, 0 finished before (skipped), 0 left to another process, 2 failed" in err
    assert "Traceback" in (results_dir / ".sweep" / "grid" / "three__naive--smallcnn__seed0.log").read_text()


# --- Ray ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance of 2 CPUs for the module (Ray starts slowly)."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def fresh_clone(target: Path) -> Path:
    """The project's packages as a clone holds them (tracked and new files, nothing ignored), elsewhere."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "benchmark", "strategies", "scenarios"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


def kill_after_first_checkpoint(cell: sweep.Cell, killed: list[int]) -> None:
    """SIGKILL the worker running ``cell`` (its pid is in the cell's log) once its first task is saved."""
    marker = cell.path.with_suffix(".ckpt") / "task1.pt.sha256"
    deadline = time.monotonic() + 400
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if marker.exists():
        pid = int(re.search(r"pid (\d+)", Path(cell.log).read_text()).group(1))
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


def test_a_ray_sweep_from_a_fresh_clone_with_a_killed_worker_equals_the_local_one(ray_address, local_run, tmp_path):
    """The grid of the local executor through Ray, driven from a copy of the project elsewhere, joining the
    running instance (whose workers would import this checkout: they must import the copy), while one cell's
    worker is killed after its first task: Ray retries the cell, it resumes from its checkpoint, and every
    result file equals the local executor's."""
    folder, grid, _ = local_run
    clone = fresh_clone(tmp_path / "clone")
    cells = sweep.read(grid, results_dir=tmp_path / "ray").cells
    killed = []
    killer = threading.Thread(target=kill_after_first_checkpoint, args=(cells[0], killed), daemon=True)
    killer.start()
    environment = {**os.environ, "PYTHONPATH": str(clone)}  # run from elsewhere, the clone on the path
    done = subprocess.run([sys.executable, "-m", "benchmark.cli", "sweep", str(grid), "--executor", "ray",
                           "--ray-address", ray_address, "--results-dir", str(tmp_path / "ray"), "--no-leaderboard"],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    killer.join(timeout=5)
    assert done.returncode == 0, done.stderr[-3000:]
    assert killed, "the worker was never killed"
    assert "4 run, 0 finished before" in done.stderr
    local_cells = sweep.read(grid, results_dir=folder / "results").cells
    assert_same_results([c.path for c in local_cells], [c.path for c in cells])
    for cell in cells:  # the workers imported the clone's code, not this checkout's
        assert f"from {clone.resolve()}/benchmark" in Path(cell.log).read_text()
    log = Path(cells[0].log).read_text()
    assert log.count("attempt at") == 2 and f"pid {killed[0]}" in log
    assert f"resuming {cells[0].label}--smallcnn seed 0 from task" in log
    assert results.load(cells[0].path)["provenance"]["resumed_from_task"][0] >= 1


# --- Slurm through submitit --------------------------------------------------------------------------

def test_slurm_job_arrays_through_submitits_local_executor_equal_the_local_sweep(local_run, tmp_path):
    pytest.importorskip("submitit")
    folder, grid, _ = local_run
    naive = small_grid(tmp_path, Path(yaml.safe_load(grid.read_text())["scenario"]), strategies=["naive"],
                      file="naive")
    assert main(["-q", "sweep", str(naive), "--executor", "slurm", "--slurm-cluster", "local", "--time", "10",
                 "--results-dir", str(tmp_path / "slurm"), "--no-leaderboard"]) == 0
    cells = sweep.read(naive, results_dir=tmp_path / "slurm").cells
    reference = {c.name: c.path for c in sweep.read(grid, results_dir=folder / "results").cells}
    assert_same_results([reference[c.name] for c in cells], [c.path for c in cells])
    assert list((tmp_path / "slurm" / ".sweep" / "naive" / "submitit").glob("*_submitted.pkl"))


def test_slurm_options_come_from_the_grid_and_flags_and_bad_ones_are_refused(two_task_yaml, tmp_path):
    pytest.importorskip("submitit")
    grid = sweep.read(small_grid(tmp_path, two_task_yaml, slurm={"slurm_partition": "cpu", "timeout_min": 30,
                                                                "slurm_array_parallelism": 8}),
                      results_dir=tmp_path / "results")
    assert sweep.slurm_parameters(grid) == {"slurm_partition": "cpu", "timeout_min": 30, "slurm_array_parallelism": 8}
    assert sweep.slurm_parameters(grid, partition="gpu", time_min=120, gpus=1) == {
        "slurm_partition": "gpu", "timeout_min": 120, "slurm_array_parallelism": 8, "gpus_per_node": 1}
    bad = sweep.read(small_grid(tmp_path, two_task_yaml, slurm={"slurm_partiton": "cpu"}, file="bad"),
                     results_dir=tmp_path / "results")
    with pytest.raises(ConfigError, match=r"slurm: .*slurm_partiton"):
        sweep.run_slurm(bad, None, parameters=sweep.slurm_parameters(bad), cluster="local")


def test_force_is_applied_once_so_an_engines_retry_resumes_instead_of_starting_over(two_task_yaml, tmp_path):
    """`--force` removes each cell's result, scores and checkpoints before the sweep starts and hands the cells
    on unforced: a retried attempt (a killed worker, a requeued job) then resumes from its checkpoints."""
    grid = sweep.read(small_grid(tmp_path, two_task_yaml, seeds=[0]), results_dir=tmp_path / "results", force=True)
    cell = grid.cells[0]
    folder = checkpoints.directory(cell.path)
    folder.mkdir(parents=True)
    for path in (cell.path, results.scores_path(cell.path), folder / "task1.pt"):
        path.write_text("old")
    assert all(c.force for c in grid.cells) and sweep.on_disk(cell) == "result exists"
    sweep.start_over(grid)
    assert not cell.path.exists() and not results.scores_path(cell.path).exists() and not folder.exists()
    assert not any(c.force or c.request().force for c in grid.cells) and sweep.on_disk(cell) == "new"
