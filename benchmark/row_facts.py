"""What a leaderboard row shows beside its scores so that readers compare rows fairly: the images a strategy
keeps of past tasks, the weights a detector starts from, data beyond the scenario's training splits, the
plugin package (and version) behind a strategy or detector that is not built in, and whether ``verify``
checked every file of the row. All of it is read from the result files (``provenance.resources``,
``provenance.packages``, written by ``provenance.collect``), never from the registries, so the leaderboard
stays torch-free and shows what each run recorded.
"""

from __future__ import annotations

import pandas as pd

from .registry import BUILT_IN

COLUMNS = ("Memory", "Pretrained", "Extra data", "Package", "Verified")
EXPLAINED = ("Memory is what a strategy keeps of past tasks' images, Pretrained the weights a detector starts "
             "from, Extra data anything beyond the scenario's training splits, Package the plugin (and version) "
             "behind a strategy or detector that is not built in, as each result recorded them; Verified ✓ means "
             "`dfcl verify` checked every file of the row.")
NOT_RECORDED = "not recorded"
UNVERIFIED_MEANING = {"scores": "no raw scores to recompute the matrices from",
                      "data": "not the published data of the scenario, or no published fingerprint",
                      "provenance": "packages and resources not recorded"}


def _package(result: dict) -> str:
    """The plugin packages (name and version) behind a result's strategy and detector; "built in" for ours."""
    packages = result["provenance"].get("packages")
    if packages is None:
        return "built in"  # recorded since plugins exist; schema 1 files predate them
    plugins = [f"{p['package']} {p['version']}" if p.get("version") else p["package"]
               for p in (packages["strategy"], packages["detector"]) if p["package"] != BUILT_IN.package]
    return ", ".join(dict.fromkeys(plugins)) or "built in"


def of(result: dict) -> dict[str, str]:
    """One result's facts, as it recorded them ("not recorded" for files written before they were)."""
    resources = result["provenance"].get("resources")
    if resources is None:
        return {"memory": NOT_RECORDED, "pretraining": NOT_RECORDED, "extra_data": NOT_RECORDED,
                "package": _package(result)}
    return {"memory": resources.get("memory") or "none", "pretraining": resources.get("pretraining") or "none",
            "extra_data": resources.get("extra_data") or "none", "package": _package(result)}


def cells(group: pd.DataFrame) -> str:
    """A row's cells under ``COLUMNS``, from the rows ``of`` and ``verify`` gave its files."""
    shown = [", ".join(sorted(set(group[key]))) for key in ("memory", "pretraining", "extra_data", "package")]
    missing = sorted({check for checks in group["unverified"] for check in checks})
    return " | ".join(shown + ["✓" if not missing else f"✗ ({', '.join(missing)})"])


def note(frame: pd.DataFrame) -> str:
    """The footnote of a table with rows ✗ in *Verified*: what could not be checked, and the command."""
    missing = sorted({check for checks in frame["unverified"] for check in checks})
    if not missing:
        return ""
    return (f"Verified ✗: `dfcl verify` found nothing contradicting these files but could not check everything "
            f"({'; '.join(f'{check}: {UNVERIFIED_MEANING[check]}' for check in missing)}); `dfcl verify` lists "
            f"each file and field.\n\n")
