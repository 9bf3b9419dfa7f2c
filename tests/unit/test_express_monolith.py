"""The Express monolith's Python side: registration, schema parity, missing-runtime messages.

Its HTTP behaviour is the contract suite's (tests/contract runs every check against it).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.config import load_config
from harness.doctor import express_check
from harness.registry import TARGETS, get_topology
from targets.common.accounts import USERS_DDL
from targets.common.catalog import PRODUCTS_DDL
from targets.express_monolith import topology as express

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "targets" / "express_monolith" / "start.sh"


def _statements(sql: str) -> list[str]:
    """SQL without comments, one whitespace-normalised string per statement."""
    text = re.sub(r"--[^\n]*", "", sql)
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


def test_it_is_registered_but_not_in_the_default_targets() -> None:
    topology = get_topology("express-monolith")
    assert topology is TARGETS["express-monolith"]
    assert topology.service("app").argv("python") == list(express.START)
    assert "express-monolith" not in load_config().run.targets


def test_its_schema_is_the_python_monoliths() -> None:
    users_and_products = (ROOT / "targets" / "express_monolith" / "schema.sql").read_text()
    assert _statements(users_and_products) == _statements(USERS_DDL + PRODUCTS_DDL)
    # the orders tables are read from the Python monolith's own file at start
    assert (ROOT / "targets" / "monolith" / "schema.sql").is_file()
    db_js = (ROOT / "targets" / "express_monolith" / "lib" / "db.js").read_text()
    assert "../../monolith/schema.sql" in db_js


def test_no_node_on_path_names_the_install_and_the_npm_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(express.shutil, "which", lambda name: None)
    problem = express.runtime_problem()
    assert problem is not None
    detail, fix = problem
    assert "node" in detail
    assert "Node.js 20" in fix and "npm ci --prefix targets/express_monolith" in fix


def test_missing_node_modules_names_npm_ci(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the node-missing case is tested above")
    problem = express.runtime_problem(tmp_path)
    assert problem is not None
    assert "node_modules" in problem[0]
    assert problem[1].startswith("npm ci --prefix targets/express_monolith")


def test_doctor_blocks_only_when_the_target_is_selected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(express, "runtime_problem", lambda: ("node missing", "install it"))
    config = load_config()
    unselected = express_check(config)
    assert (unselected.status, unselected.blocking) == ("warn", False)
    run = dataclasses.replace(config.run, targets=("express-monolith", "monolith"))
    selected = express_check(dataclasses.replace(config, run=run))
    assert (selected.status, selected.blocking) == ("missing", True)
    assert selected.detail == "node missing" and selected.fix.startswith("install it")
    monkeypatch.setattr(express, "runtime_problem", lambda: None)
    assert express_check(config).status == "ok"


def test_the_command_is_start_sh_from_the_project_root_on_both_backends() -> None:
    """Both backends start it from the project root (docker: working_dir, see test_docker_backend)."""
    argv = get_topology("express-monolith").service("app").argv("python")
    assert argv == ["sh", "targets/express_monolith/start.sh"]
    assert (Path(express.__file__).resolve().parents[2] / argv[1]).is_file()


def test_start_without_node_exits_2_naming_the_fix() -> None:
    result = subprocess.run(
        ["/bin/sh", str(START)],
        env={"PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Node.js (node) is not on PATH" in result.stderr
    assert "npm ci --prefix targets/express_monolith" in result.stderr


def test_start_without_node_modules_exits_2_naming_npm_ci(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the node-missing case is tested above")
    script = tmp_path / "start.sh"
    shutil.copy(START, script)
    result = subprocess.run(
        ["/bin/sh", str(script)],
        env={"PATH": str(Path(node).parent) + ":/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "npm dependencies are not installed" in result.stderr
    assert "npm ci --prefix targets/express_monolith" in result.stderr


def test_its_npm_packages_stay_out_of_the_docker_context(tmp_path: Path) -> None:
    from harness.backends._docker_image import context_files

    target = tmp_path / "targets" / "express_monolith"
    (target / "node_modules" / "express").mkdir(parents=True)
    (target / "node_modules" / "express" / "index.js").write_text("module.exports = 1;\n")
    (target / "server.js").write_text("// server\n")
    files = {str(path) for path in context_files(tmp_path)}
    assert "targets/express_monolith/server.js" in files
    assert not any("node_modules" in name for name in files)
