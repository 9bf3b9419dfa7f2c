"""The targets image installs only what the services import, and nothing they import is missing."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))
from target_requirements import distribution_name, image_requirements  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _with_requirements(distributions: set[str]) -> set[str]:
    """``distributions`` and everything they require (transitively, without extras)."""
    seen: set[str] = set()
    pending = list(distributions)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(distribution_name(requirement.name))
    return seen


def test_image_requirements_come_from_dependencies_with_their_versions() -> None:
    lines = image_requirements(PYPROJECT)
    assert [distribution_name(line) for line in lines] == [
        distribution_name(n) for n in PYPROJECT["tool"]["archbench"]["image-packages"]
    ]
    assert all(line in PYPROJECT["project"]["dependencies"] for line in lines)
    assert not any(distribution_name(line) in {"pandas", "matplotlib", "locust"} for line in lines)


def test_unknown_image_package_is_refused() -> None:
    broken = {
        "project": {"dependencies": ["aiohttp>=3"]},
        "tool": {"archbench": {"image-packages": ["nope"]}},
    }
    with pytest.raises(SystemExit, match="nope"):
        image_requirements(broken)


def test_every_third_party_import_of_the_services_is_in_the_image() -> None:
    modules: set[str] = set()
    for path in [*(ROOT / "targets").rglob("*.py"), ROOT / "harness" / "topology.py"]:
        modules |= _top_level_imports(path)
    third_party = {
        m for m in modules
        if m not in sys.stdlib_module_names and m not in {"targets", "harness"}
    }
    providers = importlib.metadata.packages_distributions()
    installed = _with_requirements({distribution_name(line) for line in image_requirements(PYPROJECT)})
    missing = {
        module for module in third_party
        if not {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])} & installed
    }
    assert third_party, "no third-party import found: the scan is broken"
    assert not missing, f"imported by targets/ but not installed in the image: {sorted(missing)}"
    assert importlib.util.find_spec("aiohttp") is not None
