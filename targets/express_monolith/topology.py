"""Express monolith: the monolith's contract in Node.js (Express, pg) over one PostgreSQL database.

The article's own monolith stack, with PostgreSQL instead of MongoDB (not obtainable here) and the
same schema as ``targets.monolith``. Not in the default ``run.targets``; select it by name.
Needs Node.js 20+ and ``npm ci --prefix targets/express_monolith`` (``make install``): the
``start.sh`` command names that fix when either is missing (``runtime_problem`` tells ``bench doctor``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.topology import InfraSpec, ServiceSpec, Topology

DIRECTORY = Path(__file__).resolve().parent
INSTALL_HINT = "npm ci --prefix targets/express_monolith (or make install)"
NODE_MAJOR_MIN = 20
# Both backends run a service's command from the project root (docker: the targets image's
# source directory, which has Node.js); start.sh names the fix when node or the npm packages
# are missing, then execs node.
START = ("sh", "targets/express_monolith/start.sh")

TOPOLOGY = Topology(
    target="express-monolith",
    description="one Express (Node.js) service (N cluster workers) owning one PostgreSQL database",
    services=(
        ServiceSpec(
            name="app",
            command=START,
            wiring={"DATABASE_URL": "postgres:shop"},
            cpus=1.0,
            memory_mb=512,
        ),
    ),
    entry="app",
    infra=(InfraSpec(kind="postgres", databases=("shop",), cpus=1.0, memory_mb=1024),),
)


def runtime_problem(directory: Path = DIRECTORY) -> tuple[str, str] | None:
    """``(what is missing, the fix)`` when this target cannot start here (node or npm deps), else None."""
    node = shutil.which("node")
    node_fix = (
        f"install Node.js {NODE_MAJOR_MIN}+ (e.g. apt-get install nodejs npm), then {INSTALL_HINT}"
    )
    if node is None:
        return "Node.js (node) not on PATH", node_fix
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return f"{node} --version failed", node_fix
    if major < NODE_MAJOR_MIN:
        return f"node {version} is older than {NODE_MAJOR_MIN}", node_fix
    if not (directory / "node_modules" / "express").is_dir():
        return f"npm dependencies not installed in {directory / 'node_modules'}", INSTALL_HINT
    return None
