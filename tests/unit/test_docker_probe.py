"""The docker backend asks the engine's socket before the SDK, so a machine without one leaks nothing."""

from __future__ import annotations

import gc
import warnings

import pytest

from harness.backends.docker import DockerBackend


def test_no_engine_is_a_clear_no_and_leaks_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok, reason = DockerBackend().available()
        gc.collect()
    assert not ok and "no Docker engine answers" in reason
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]
