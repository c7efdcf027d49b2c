"""Strategies and detectors from other installed packages: found through entry points, attributed to their
package and version, and a clash or a broken import is an error naming the packages, raised only when that
name is used. Each test installs throw-away distributions (a ``.dist-info`` with ``entry_points.txt``) on a
temporary ``sys.path`` entry, into a registry of its own, so the real registries never see them."""

import sys
import types

import pytest

import strategies
from benchmark import plugins
from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.registry import BUILT_IN, Registry, Source


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Install fake distributions: ``install(dist, version, {entry: module source})``; each module registers
    into ``fake_registry.REGISTRY``, a fresh strategy registry holding one built-in, ``naive``."""
    registry = Registry("strategy", facts=("memory", "extra_data"))
    registry.register("naive")(lambda model, setup: None)
    monkeypatch.setitem(sys.modules, "fake_registry", types.SimpleNamespace(REGISTRY=registry))
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = []

    def install(dist: str, version: str, modules: dict[str, str]) -> None:
        package = dist.replace("-", "_")
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        lines = ["[dfcl.strategies]"]
        for index, (entry, source) in enumerate(modules.items()):
            (tmp_path / package / f"m{index}.py").write_text("from fake_registry import REGISTRY\n" + source)
            lines.append(f"{entry} = {package}.m{index}")
        info = tmp_path / f"{package}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        installed.append(package)

    install.registry = registry
    yield install
    for name in [m for m in sys.modules if m.split(".")[0] in installed]:
        del sys.modules[name]


def registering(name: str) -> str:
    return f"@REGISTRY.register({name!r}, memory='{{mem_size}} images')\ndef f(model, setup, *, mem_size: int = 5):\n    pass\n"


def test_a_plugin_is_registered_with_its_package_and_version(site):
    site("dfcl-fake", "1.2.3", {"fake-method": registering("fake-method")})
    plugins.load(site.registry)
    assert site.registry.available() == ["fake-method", "naive"]
    assert site.registry.source("fake-method") == Source("dfcl-fake", "1.2.3")
    assert site.registry.source("naive") == BUILT_IN
    assert site.registry.plugins() == {"fake-method": Source("dfcl-fake", "1.2.3")}
    assert site.registry.facts("fake-method", {"mem_size": 7}) == {"memory": "7 images", "extra_data": None}


def test_a_name_taken_by_a_built_in_is_an_error_naming_both_packages(site):
    site("dfcl-fake", "1.2.3", {"naive": registering("naive")})
    plugins.load(site.registry)
    with pytest.raises(ConfigError) as refused:
        site.registry.get("naive")
    assert "registered twice: by dfcl-bench" in str(refused.value) and "by dfcl-fake 1.2.3" in str(refused.value)
    assert "naive" in site.registry.refusals() and "naive" not in site.registry.available()


def test_two_plugins_with_one_name_are_an_error_naming_both(site):
    site("dfcl-one", "1.0", {"shared": registering("shared")})
    site("dfcl-two", "2.0", {"shared": registering("shared")})
    plugins.load(site.registry)
    with pytest.raises(ConfigError, match=r"'shared' is registered twice: by dfcl-\w+ \d\.0 .* by dfcl-\w+ \d\.0"):
        site.registry.get("shared")


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_still_load(site):
    site("dfcl-broken", "0.1", {"broken": "import missing_dependency_of_a_plugin\n"})
    site("dfcl-fine", "0.2", {"fine": registering("fine")})
    plugins.load(site.registry)
    assert site.registry.available() == ["fine", "naive"]
    with pytest.raises(ConfigError) as refused:
        site.registry.get("broken")
    message = str(refused.value)
    assert "dfcl-broken 0.1 failed to import" in message
    assert message.endswith("ModuleNotFoundError: No module named 'missing_dependency_of_a_plugin'")


def test_an_entry_point_must_register_its_own_name(site):
    site("dfcl-fake", "1.0", {"announced": registering("something-else")})
    plugins.load(site.registry)
    with pytest.raises(ConfigError, match="registers no strategy named 'announced'"):
        site.registry.get("announced")


def test_list_shows_plugins_with_their_package_and_what_did_not_load(site, monkeypatch, capsys):
    monkeypatch.setattr(strategies, "REGISTRY", site.registry)
    site("dfcl-fake", "1.2.3", {"fake-method": registering("fake-method"), "broken": "raise RuntimeError('boom')\n"})
    plugins.load(site.registry)
    assert main(["list", "strategies"]) == 0
    out = capsys.readouterr().out
    assert "fake-method          [dfcl-fake 1.2.3]" in out
    assert "broken               NOT LOADED: strategy plugin 'broken' of dfcl-fake 1.2.3 failed to import" in out
    assert "RuntimeError: boom" in out
    assert main(["-q", "validate", "broken"]) == 2  # using the broken name: the same message, exit 2
    assert "RuntimeError: boom" in capsys.readouterr().err
