"""Fixtures and markers every test directory shares.

Markers (registered in pyproject.toml, ``--strict-markers``):

- ``needs_postgres``: starts a real deployment (PostgreSQL, often NATS and services);
- ``needs_docker``: needs a Docker engine; skipped only when no engine answers and
  ``BENCH_REQUIRE_DOCKER`` is unset (set, a missing engine is a failure). ``docker``
  is the old name and behaves the same;
- ``e2e``: end to end (``bench`` itself, a backend, a browser): slow.

Every test under ``tests/contract`` is ``needs_postgres`` and every test under
``tests/e2e`` is ``e2e`` even when its module forgets to say so, so
``pytest -m "not needs_postgres and not e2e"`` (``make unit``) starts no server.

Deployment scope: a fixture that starts a deployment is module-scoped when its tests
do not interfere (each creates its own users and products, and any service it stops
or kills is back before it ends); a test that needs a deployment started with other
settings, or leaves it broken, starts its own (function scope). Each such fixture
says which it is and why.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

TESTS = Path(__file__).resolve().parent
_DIRECTORY_MARKS = {"contract": "needs_postgres", "e2e": "e2e"}
_engine_problem: list[str | None] = []  # memo of docker_engine_problem(): one probe per session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its directory (see the module docstring)."""
    for item in items:
        try:
            directory = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        mark = _DIRECTORY_MARKS.get(directory)
        if mark is not None and item.get_closest_marker(mark) is None:
            item.add_marker(mark)


def docker_engine_problem() -> str | None:
    """Why no Docker engine answers (None: one does); probed once per session."""
    if not _engine_problem:
        from harness.backends.docker import ENGINE_ERRORS, _docker_client

        try:
            _docker_client(timeout=30).ping()
            _engine_problem.append(None)
        except ENGINE_ERRORS as error:
            _engine_problem.append(f"no Docker engine answers ({type(error).__name__}: {error})")
    return _engine_problem[0]


def require_docker() -> None:
    """Skip the test when no engine answers, or fail it when BENCH_REQUIRE_DOCKER is set."""
    reason = docker_engine_problem()
    if reason is None:
        return
    if os.environ.get("BENCH_REQUIRE_DOCKER"):
        pytest.fail(f"BENCH_REQUIRE_DOCKER is set but {reason}")
    pytest.skip(f"{reason}; set BENCH_REQUIRE_DOCKER=1 to make this a failure")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply the Docker rule to ``needs_docker`` (or ``docker``) tests before any fixture runs."""
    if item.get_closest_marker("needs_docker") or item.get_closest_marker("docker"):
        require_docker()


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A client of an engine that answers, or a skip (a failure with BENCH_REQUIRE_DOCKER)."""
    require_docker()
    from harness.backends.docker import _docker_client

    return _docker_client(timeout=30)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """One aiohttp session per test (30 s per request), for ``helpers.http.call``."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
