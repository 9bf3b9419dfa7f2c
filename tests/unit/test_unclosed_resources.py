"""No socket left for the garbage collector (issue 10.1: an unclosed AF_UNIX socket failed `make test`).

The culprit was the Docker SDK: asked for the engine's version on a machine without one,
its unix transport leaves the socket it could not connect open. Under pytest's
warnings-as-errors that ResourceWarning failed whichever test the collector ran in.
"""

from __future__ import annotations

import gc
import socket
import time
import warnings
from pathlib import Path

import pytest

from harness.hostinfo import docker_socket_reachable, docker_version
from harness.integrity import OrderTracker


def _resource_warnings(action: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()  # type: ignore[operator]
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.fixture
def refused_socket(tmp_path: Path) -> str:
    """A unix socket path that exists but where nobody listens (connect: ECONNREFUSED)."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(path))
    return str(path)


@pytest.mark.parametrize("which", ["missing", "refused"])
def test_asking_for_docker_without_an_engine_leaves_no_socket(
    which: str, tmp_path: Path, refused_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "absent.sock") if which == "missing" else refused_socket
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    assert docker_socket_reachable() is False
    results: list[str | None] = []
    assert _resource_warnings(lambda: results.append(docker_version(timeout_s=1.0))) == []
    assert results == [None]


def test_non_unix_docker_hosts_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert docker_socket_reachable() is True


def test_the_order_tracker_closes_its_socket_and_loop() -> None:
    def track() -> None:
        tracker = OrderTracker("http://127.0.0.1:9").start()
        host, _, port = tracker.address.rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as announcer:
            announcer.sendto(f"1\tuser\t{time.time()}\ttoken".encode(), (host, int(port)))
        time.sleep(0.2)
        tracker.finish(0.5)
        assert tracker.announced == 1

    assert _resource_warnings(track) == []
