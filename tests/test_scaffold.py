"""`dfcl new-strategy`: the files it writes make a strategy that passes the contract as written, built on its
base with the base's hyper-parameters passed through, in this checkout or as an installable package."""

import inspect

import pytest
import yaml

import strategies
from benchmark import scaffold, validate
from benchmark.cli import RUN_CONFIG_KEYS, main
from benchmark.errors import ConfigError
from conftest import import_unregistered


def test_a_package_from_lwf_declares_its_entry_point_and_passes_the_contract(tmp_path, contract_registries, capsys):
    package = tmp_path / "mine"
    assert main(["new-strategy", "my-lwf", "--from", "lwf", "--package", str(package)]) == 0
    assert "next: fill in the TODOs, then `dfcl validate my-lwf`" in capsys.readouterr().out
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "configs/synthetic-my-lwf.yaml", "dfcl_my_lwf/__init__.py", "dfcl_my_lwf/my_lwf.py", "pyproject.toml",
        "tests/test_my_lwf.py"]
    assert '[project.entry-points."dfcl.strategies"]\nmy-lwf = "dfcl_my_lwf.my_lwf"' in (package / "pyproject.toml").read_text()
    source = (package / "dfcl_my_lwf" / "my_lwf.py").read_text()
    assert "TODO: what it changes, and the paper it follows (Authors, Venue Year)" in source
    factory = import_unregistered(package, "dfcl_my_lwf.my_lwf").my_lwf
    parameters = inspect.signature(factory).parameters
    assert {name: (p.kind, p.default) for name, p in list(parameters.items())[2:]} == {
        "alpha": (inspect.Parameter.KEYWORD_ONLY, strategies.REGISTRY.defaults("lwf")["alpha"]),
        "temperature": (inspect.Parameter.KEYWORD_ONLY, 2.0),
        "l2_weight": (inspect.Parameter.KEYWORD_ONLY, 0.0)}
    contract_registries({"lwf": strategies.REGISTRY.get("lwf"), "my-lwf": factory})
    report = validate.validate("my-lwf")
    assert report.passed and all(line.status == validate.PASS for line in report.lines), report.render()


def test_in_a_checkout_it_writes_the_strategy_its_test_and_a_run_config(tmp_path, monkeypatch):
    for folder in ("strategies", "tests", "configs"):
        (tmp_path / folder).mkdir()
    monkeypatch.setattr(scaffold, "_checkout", lambda: tmp_path)
    written = scaffold.new_strategy("my-replay", base="replay")
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "strategies/my_replay.py", "tests/test_my_replay_strategy.py", "configs/synthetic-my-replay.yaml"]
    assert 'validate.validate("my-replay")' in written[1].read_text()
    config = yaml.safe_load(written[2].read_text())
    assert set(config) <= RUN_CONFIG_KEYS and config["strategies"] == ["my-replay"]
    assert "def my_replay(model, setup, *, mem_size: int = 500, l2_weight: float = 0.0):" in written[0].read_text()
    with pytest.raises(ConfigError, match="not overwriting .*my_replay.py"):
        scaffold.new_strategy("my-replay", base="naive")


@pytest.mark.parametrize("name,base,message", [
    ("naive", "naive", "strategy 'naive' already exists"),
    ("My Method", "naive", "use lower-case letters and digits"),
    ("mine", "nope", "unknown strategy 'nope'"),
])
def test_bad_names_are_refused(name, base, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        scaffold.new_strategy(name, base=base, package=tmp_path / "p")
    assert not (tmp_path / "p").exists()
