"""Print the requirement lines the targets image needs, taken from pyproject.toml.

The services import only a few of the project's dependencies (aiohttp, asyncpg, ...),
named in ``[tool.archbench] image-packages``; installing just those keeps the harness's
pandas/matplotlib/locust out of the image. Versions come from ``[project]
dependencies``, so they are written once. Usage: python target_requirements.py PYPROJECT
"""

from __future__ import annotations

import re
import sys
import tomllib


def distribution_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement line."""
    name = re.split(r"[\s<>=!~\[;(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def image_requirements(pyproject: dict) -> list[str]:
    """The ``dependencies`` entries named by ``[tool.archbench] image-packages``, in that order."""
    wanted = [distribution_name(n) for n in pyproject["tool"]["archbench"]["image-packages"]]
    by_name = {distribution_name(d): d for d in pyproject["project"]["dependencies"]}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise SystemExit(f"image-packages not in [project] dependencies: {', '.join(missing)}")
    return [by_name[name] for name in wanted]


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml", "rb") as handle:
        print("\n".join(image_requirements(tomllib.load(handle))))
