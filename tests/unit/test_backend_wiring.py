"""Pure parts of the backends: wiring, environment, start order, cpusets, settings, registry."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.backends import BACKENDS, choose_backend, deploy_settings, get_backend
from harness.backends._local_infra import nats_argv, traversable
from harness.backends._process import tail
from harness.backends.base import (
    DeploySettings,
    Wiring,
    resolve_infra,
    resolve_service,
    service_environment,
)
from harness.backends.local import LocalBackend
from harness.config import parse_config
from harness.cpus import check_cpu_list, parse_cpu_list
from harness.errors import BenchError, ConfigError
from harness.registry import TARGETS
from harness.topology import InfraSpec, ServiceSpec, Topology

SETTINGS = DeploySettings(run_id="t", workdir=Path("/nonexistent"), token_secret="tok",
                          internal_secret="int", admin_password="adm", db_password="dbpw")


def _minimal_config(extra: dict | None = None):  # type: ignore[no-untyped-def]
    data = {"profiles": {"quick": {}}, "run": {"profile": "quick"}}
    data.update(extra or {})
    return parse_config(data)


def test_allocate_gives_every_service_and_infra_a_distinct_port() -> None:
    topology = TARGETS["event-driven"]
    wiring = Wiring.allocate(topology, SETTINGS)
    names = {"postgres", "nats", "api", "inventory", "projector"}
    assert set(wiring.ports) == names
    assert len(set(wiring.ports.values())) == len(names)
    assert all(1024 <= port <= 65535 for port in wiring.ports.values())


def test_wiring_references_resolve_to_loopback_urls() -> None:
    wiring = Wiring(ports={"postgres": 5000, "nats": 5001, "catalog": 5002}, db_user="bench",
                    db_password="pw")
    assert wiring.url("postgres:shop") == "postgresql://bench:pw@127.0.0.1:5000/shop"
    assert wiring.url("nats") == "nats://127.0.0.1:5001"
    assert wiring.url("service:catalog") == "http://127.0.0.1:5002"
    with pytest.raises(ValueError, match="bogus"):
        wiring.url("bogus:thing")


def test_service_environment_carries_secrets_wiring_and_static_env() -> None:
    topology = TARGETS["microservices"]
    wiring = Wiring.allocate(topology, SETTINGS)
    spec = topology.service("orders")
    env = service_environment(spec, wiring, SETTINGS, workers=3)
    assert env["HOST"] == "127.0.0.1"
    assert env["PORT"] == str(wiring.ports["orders"])
    assert env["WORKERS"] == "3"
    assert env["TOKEN_SECRET"] == "tok" and env["INTERNAL_SECRET"] == "int"
    assert env["ADMIN_PASSWORD"] == "adm"
    assert env["DATABASE_URL"].endswith(f"127.0.0.1:{wiring.ports['orders-db']}/orders")  # its own server
    assert env["CATALOG_URL"] == f"http://127.0.0.1:{wiring.ports['catalog']}"
    assert env["SERVICE_NAME"] == "orders"


@pytest.mark.parametrize("target", list(TARGETS))
def test_start_order_puts_dependencies_first(target: str) -> None:
    topology = TARGETS[target]
    order = [spec.name for spec in topology.start_order()]
    assert sorted(order) == sorted(spec.name for spec in topology.services)
    for spec in topology.services:
        for dependency in spec.depends_on:
            assert order.index(dependency) < order.index(spec.name)


def test_dependency_cycle_is_named() -> None:
    topology = Topology(
        target="loop", description="", entry="a", infra=(),
        services=(ServiceSpec("a", "m", depends_on=("b",)), ServiceSpec("b", "m", depends_on=("a",))),
    )
    with pytest.raises(ValueError, match="cycle among a, b"):
        topology.start_order()


def test_overrides_beat_topology_defaults() -> None:
    spec = ServiceSpec("app", "m", cpus=1.0, memory_mb=512, workers=1)
    settings = DeploySettings(run_id="t", workdir=Path("."), workers=2,
                              overrides={"app": {"cpus": 2.5, "memory_mb": None, "workers": 4},
                                         "postgres": {"memory_mb": 2048}})
    assert resolve_service(spec, settings) == (2.5, 512, 4)
    assert resolve_infra(InfraSpec("postgres"), settings) == (1.0, 2048)


def test_deploy_settings_maps_config() -> None:
    config = _minimal_config({
        "cpu": {"target_cpus": "0-1"},
        "run": {"profile": "quick", "health_timeout": "7s"},
        "targets": {"monolith": {"workers": 3, "services": {"app": {"cpus": 2, "memory": "1GB"}}}},
    })
    settings = deploy_settings(config, "monolith", "r1", Path("/w"))
    assert settings.target_cpus == "0-1"
    assert settings.health_timeout == pytest.approx(7.0)
    assert settings.workers == 3
    assert settings.overrides["app"] == {"cpus": 2.0, "memory_mb": 1024, "workers": None}
    assert resolve_service(TARGETS["monolith"].service("app"), settings) == (2.0, 1024, 3)


def test_deploy_settings_rejects_an_unknown_service_naming_the_choices() -> None:
    config = _minimal_config({"targets": {"microservices": {"services": {"billing": {"cpus": 1}}}}})
    with pytest.raises(ConfigError) as error:
        deploy_settings(config, "microservices", "r1", Path("/w"))
    message = str(error.value)
    assert "'billing'" in message and "gateway" in message and "catalog" in message


def test_unknown_target_is_named_with_choices() -> None:
    with pytest.raises(ConfigError, match="'serverless'.*monolith, microservices, event-driven"):
        deploy_settings(_minimal_config(), "serverless", "r1", Path("/w"))


@pytest.mark.parametrize(("text", "cpus"), [("", set()), ("1", {1}), ("0-2", {0, 1, 2}),
                                            ("0,2-3", {0, 2, 3}), (" 1 , 3", {1, 3})])
def test_parse_cpuset(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == frozenset(cpus)


@pytest.mark.parametrize("text", ["a", "3-1", "1-x", "-1"])
def test_bad_cpuset_is_a_bench_error(text: str) -> None:
    with pytest.raises(BenchError, match="cpu set"):
        parse_cpu_list(text)


def test_cpuset_beyond_this_machine_names_the_available_cpus() -> None:
    with pytest.raises(BenchError, match=r"CPU\(s\) \[5\].*available: 0,1.*target_cpus"):
        check_cpu_list("1,5", "cpu.target_cpus", available=frozenset({0, 1}))
    assert check_cpu_list("1", "cpu.target_cpus", available=frozenset({0, 1})) == frozenset({1})


def test_traversable_follows_every_parent(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(outer, 0o700)
    stranger = (65534, 65534)
    owner = os.stat(outer)
    if owner.st_uid == stranger[0]:
        pytest.fail("tests must not run as nobody")
    parents_open = all(os.stat(p).st_mode & stat.S_IXOTH for p in tmp_path.parents)
    assert not traversable(inner, *stranger)
    os.chmod(outer, 0o711)
    assert traversable(inner, *stranger) == parents_open
    assert traversable(inner, owner.st_uid, owner.st_gid)


def test_tail_returns_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99\n"
    assert tail(tmp_path / "missing.log") == ""


def test_nats_binds_loopback_with_jetstream() -> None:
    argv = nats_argv(Path("/bin/nats-server"), 4222, 8222, Path("/s"))
    assert argv[argv.index("-a") + 1] == "127.0.0.1"
    assert "-js" in argv and argv[argv.index("-m") + 1] == "8222"


def test_registry_is_explicit_and_names_choices() -> None:
    assert BACKENDS["local"] is LocalBackend
    assert get_backend("local").name == "local"
    with pytest.raises(ConfigError, match="'kubernetes'.*local"):
        get_backend("kubernetes")
    with pytest.raises(ConfigError, match="'kubernetes'.*auto, local, docker"):
        choose_backend("kubernetes")


def test_choose_local_says_where_the_binaries_come_from() -> None:
    backend, reason = choose_backend("local", _minimal_config())
    assert backend.name == "local"
    assert "PostgreSQL" in reason and "nats-server" in reason


class _Stub:
    """A backend whose availability the test decides (registry logic only, nothing starts)."""

    name = "stub"
    ok = True
    why = "stub ready"

    def available(self) -> tuple[bool, str]:
        return self.ok, self.why


class _DockerDown(_Stub):
    name = "docker"
    ok = False
    why = "engine not answering at /var/run/docker.sock"


class _DockerUp(_Stub):
    name = "docker"
    why = "engine 27.0"


class _LocalUp(_Stub):
    name = "local"
    why = "PostgreSQL from /usr/lib/postgresql/16/bin"


class _LocalDown(_Stub):
    name = "local"
    ok = False
    why = "initdb not found"


def test_auto_prefers_docker_when_it_answers() -> None:
    backend, reason = choose_backend("auto", None, {"local": _LocalUp, "docker": _DockerUp})
    assert backend.name == "docker" and "engine 27.0" in reason


def test_auto_falls_back_to_local_saying_why() -> None:
    backend, reason = choose_backend("auto", None, {"local": _LocalUp, "docker": _DockerDown})
    assert backend.name == "local"
    assert "docker unavailable" in reason and "not answering" in reason


def test_requested_backend_that_cannot_run_is_an_error_with_its_reason() -> None:
    with pytest.raises(BenchError, match="'docker' cannot run here: engine not answering"):
        choose_backend("docker", None, {"local": _LocalUp, "docker": _DockerDown})
    with pytest.raises(BenchError, match="docker: engine not answering.*local: initdb not found"):
        choose_backend("auto", None, {"local": _LocalDown, "docker": _DockerDown})


def test_the_config_accepts_exactly_the_registered_backends() -> None:
    from harness.config import BACKEND_NAMES
    from harness.config import BACKENDS as CHOICES

    assert tuple(BACKENDS) == BACKEND_NAMES and CHOICES == ("auto", *BACKEND_NAMES)
