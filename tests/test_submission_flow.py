"""The whole flow of CONTRIBUTING.md on the example packages in examples/, as a new user follows it: install
the packages (here into a temporary folder, never into the project's environment), list, validate, run on the
tiny scenario, verify, rank. One subprocess runs every command, so the plugins never enter this process's
registries. (That the broken example fails `dfcl validate` on exactly the test-split line is checked in
tests/test_validate.py, beside the other broken strategies.)"""

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
import yaml

import scenarios
from benchmark import validate
from conftest import REPO

EXAMPLES = ("dfcl-example-strategy", "dfcl-example-broken")
DRIVER = """
import contextlib, io, json, sys
from benchmark.cli import main
done = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    done.append({"code": code, "out": out.getvalue()})
print(json.dumps(done))
"""


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flow")
    site = tmp / "site"
    for example in EXAMPLES:  # built from a copy: pip leaves build/ and *.egg-info beside the sources
        shutil.copytree(REPO / "examples" / example, tmp / "src" / example)
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                                "--no-build-isolation", "--target", str(site),
                                *(str(tmp / "src" / example) for example in EXAMPLES)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    tiny = tmp / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(validate.TINY))
    tiny.write_text(yaml.safe_dump({**validate.TINY, "fingerprint": scenarios.load(tiny).fingerprint}))
    results_dir, board = tmp / "results", tmp / "board.md"
    commands = [["list", "strategies"], ["validate", "naive-ls"],
                ["-q", "run", "--scenario", str(tiny), "--strategy", "naive-ls", "--results-dir", str(results_dir)],
                ["verify", str(results_dir), "--scenario", str(tiny)],
                ["leaderboard", "--results-dir", str(results_dir), "--output", str(board)]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = dict(zip(["list", "validate", "run", "verify", "leaderboard"],
                     json.loads(done.stdout.strip().splitlines()[-1])))
    return {**steps, "results": results_dir, "board": board}


def test_the_examples_are_never_installed_into_the_project_environment(flow):
    for example in EXAMPLES:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(example)


def test_the_plugins_are_listed_with_their_package_and_version(flow):
    assert "  naive-ls             [dfcl-example-strategy 0.1.0] Fine-tuning" in flow["list"]["out"]
    assert "  peeking-naive        [dfcl-example-broken 0.1.0]" in flow["list"]["out"]


def test_the_example_passes_every_line_of_the_contract(flow):
    out = flow["validate"]["out"]
    assert flow["validate"]["code"] == 0, out
    assert out.startswith("dfcl validate naive-ls: strategy from dfcl-example-strategy 0.1.0")
    assert out.count("\n✓ ") == 7 and "passed: 7 checks" in out
    assert "refuses cmfl: strategy 'naive-ls' trains with label-smoothed cross-entropy" in out


def test_its_result_records_the_package_verifies_and_is_ranked(flow):
    assert flow["run"]["code"] == 0
    result = json.loads((flow["results"] / "validate-tiny" / "naive-ls--smallcnn" / "seed0.json").read_text())
    packages = result["provenance"]["packages"]
    assert packages["strategy"] == {"package": "dfcl-example-strategy", "version": "0.1.0"}
    assert packages["plugins"] == {"dfcl-example-broken": {"version": "0.1.0", "strategies": ["peeking-naive"],
                                                           "detectors": []},
                                   "dfcl-example-strategy": {"version": "0.1.0", "strategies": ["naive-ls"],
                                                             "detectors": []}}
    assert result["strategy"]["params"] == {"smoothing": 0.1}
    assert flow["verify"]["code"] == 0 and "1 of 1 result file(s) verified" in flow["verify"]["out"]
    # ranked with its package; ✗ (data) since the leaderboard knows only the bundled scenarios' fingerprints
    assert "| none | none | none | dfcl-example-strategy 0.1.0 | ✗ (data) |" in flow["board"].read_text()
