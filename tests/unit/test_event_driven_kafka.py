"""Pure parts of the Kafka variant: offset bookkeeping, the derived topology, the broker
choice, the broker's configuration and the refusal without Java or jars."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import _kafka as kafka
from harness.backends.base import DeploySettings, Wiring
from harness.errors import BenchError
from harness.registry import get_topology
from targets.common.config import ServiceConfigError
from targets.event_driven.broker import BrokerSettings, required_env
from targets.event_driven.offsets import OffsetTracker
from targets.event_driven.topology import TOPOLOGY, with_kafka


def test_commits_only_up_to_the_oldest_event_in_flight() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in (0, 1, 2):
        tracker.started("p0", offset)
    tracker.finished("p0", 2)
    tracker.finished("p0", 1)
    assert tracker.committable() == {"p0": 0}  # 0 still running: committing 3 would lose it
    tracker.finished("p0", 0)
    assert tracker.committable() == {"p0": 3}
    tracker.committed({"p0": 3})
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0


def test_partitions_are_independent_and_forgotten_on_revocation() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("a", 5)
    tracker.started("b", 7)
    tracker.finished("b", 7)
    assert tracker.committable() == {"a": 5, "b": 8}
    tracker.forget(["b"])
    assert tracker.committable() == {"a": 5}


def test_kafka_variant_replaces_only_the_broker() -> None:
    variant = get_topology("event-driven-kafka")
    assert variant == with_kafka(TOPOLOGY)
    assert [s.kind for s in variant.infra] == ["postgres", "kafka"]
    assert [s.name for s in variant.services] == [s.name for s in TOPOLOGY.services]
    for base, spec in zip(TOPOLOGY.services, variant.services, strict=True):
        assert spec.env["BROKER"] == "kafka"
        assert spec.wiring == {"DATABASE_URL": "postgres:shop", "KAFKA_BOOTSTRAP": "kafka"}
        assert (spec.module, spec.depends_on, spec.cpus) == (base.module, base.depends_on, base.cpus)
    assert "BROKER" not in TOPOLOGY.services[0].env  # the default stays on NATS


def test_with_kafka_needs_a_nats_piece() -> None:
    with pytest.raises(ValueError, match="no nats"):
        with_kafka(with_kafka(TOPOLOGY))


def test_wiring_gives_kafka_a_bootstrap_address_and_a_controller_port(tmp_path: Path) -> None:
    topology = get_topology("event-driven-kafka")
    wiring = Wiring.allocate(topology, DeploySettings(run_id="t", workdir=tmp_path))
    assert wiring.url("kafka") == f"127.0.0.1:{wiring.ports['kafka']}"
    assert wiring.monitor_ports["kafka"] not in wiring.ports.values()


def test_broker_settings_from_env() -> None:
    assert BrokerSettings.from_env({"NATS_URL": "nats://x"}) == BrokerSettings("nats", "nats://x")
    kafka_env = {"BROKER": "kafka", "KAFKA_BOOTSTRAP": "127.0.0.1:9092"}
    assert BrokerSettings.from_env(kafka_env) == BrokerSettings("kafka", "127.0.0.1:9092")
    assert required_env(kafka_env) == ("KAFKA_BOOTSTRAP",)
    with pytest.raises(ServiceConfigError, match="KAFKA_BOOTSTRAP is required"):
        BrokerSettings.from_env({"BROKER": "kafka", "NATS_URL": "nats://x"})
    with pytest.raises(ServiceConfigError, match="valid choices: nats, kafka"):
        BrokerSettings.from_env({"BROKER": "rabbit"})


def test_server_properties_listen_on_loopback_only(tmp_path: Path) -> None:
    text = kafka.server_properties(9092, 9093, tmp_path)
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in text
    assert "controller.quorum.voters=1@127.0.0.1:9093" in text
    assert f"log.dirs={tmp_path}" in text
    assert kafka.heap_mb(768) == 384 and kafka.heap_mb(4096) == 512 and kafka.heap_mb(64) == 128


def test_missing_jars_are_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kafka.JARS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(BenchError, match="make install"):
        kafka.find_kafka_jars()


def test_missing_java_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BenchError, match="openjdk-17"):
        kafka.find_java()


def test_pom_pins_a_kafka_4_broker() -> None:
    assert kafka.kafka_version().startswith("4.")


def test_doctor_reports_java_and_jars_blocking_only_when_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from harness.config import load_config
    from harness.doctor import kafka_checks

    monkeypatch.setenv(kafka.JARS_ENV, str(tmp_path / "nowhere"))
    config = load_config(None)
    unselected = {f.name: f for f in kafka_checks(config)}
    assert unselected["kafka jars"].status == "warn" and not unselected["kafka jars"].blocking
    assert "make install" in unselected["kafka jars"].fix
    run = dataclasses.replace(config.run, targets=("event-driven-kafka",))
    selected = {f.name: f for f in kafka_checks(dataclasses.replace(config, run=run))}
    assert selected["kafka jars"].status == "missing" and selected["kafka jars"].blocking


def test_local_backend_refuses_kafka_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.backends.local import LocalBackend

    monkeypatch.setenv(kafka.JARS_ENV, str(tmp_path / "nowhere"))
    LocalBackend().prepare(TOPOLOGY)  # NATS: nothing Kafka needed
    with pytest.raises(BenchError, match="make install"):
        LocalBackend().prepare(get_topology("event-driven-kafka"))


def test_docker_gets_the_same_configuration_as_the_official_image_takes_it() -> None:
    from harness.backends.docker import _infra_images
    from harness.config import DockerConfig

    env = kafka.container_environment(9092, 9093, 384)
    assert env["KAFKA_LISTENERS"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_HEAP_OPTS"] == "-Xmx384m -Xms128m" and len(env["CLUSTER_ID"]) == 22
    image = f"apache/kafka:{kafka.kafka_version()}"  # the tag follows the pom: one version
    assert image in _infra_images(get_topology("event-driven-kafka"), DockerConfig())
    assert image not in _infra_images(TOPOLOGY, DockerConfig())
