"""Kubernetes manifests rendered from the topologies: valid against the schemas, faithful to them."""

from __future__ import annotations

import dataclasses

import kubernetes_validate
import pytest
import yaml

from harness.errors import BenchError
from harness.manifests import (
    ManifestOptions,
    dump_yaml,
    generate_secrets,
    manifest_files,
    podman_overlay,
    render_manifests,
)
from harness.registry import get_topology
from harness.topology import InfraSpec

KUBERNETES_VERSION = "1.34.0"  # a recent release kubernetes-validate ships strict schemas for
TARGETS = ("monolith", "microservices", "event-driven")


def _render(target: str, **options: str) -> list[dict]:
    topology = get_topology(target)
    return render_manifests(topology, ManifestOptions(**options), generate_secrets(topology))


def _kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.parametrize("target", TARGETS)
def test_every_resource_validates_strictly(target: str) -> None:
    topology = get_topology(target)
    files = manifest_files(topology, _render(target))
    assert set(files) == {"00-secrets.yaml", "10-infra.yaml", "20-services.yaml"}
    for text in files.values():
        for document in yaml.safe_load_all(text):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_one_deployment_per_service_with_the_topology_budget_and_health_probes(target: str) -> None:
    topology = get_topology(target)
    resources = _render(target, image="registry.example/archbench:1")
    deployments, services = _kind(resources, "Deployment"), _kind(resources, "Service")
    assert set(deployments) == {spec.name for spec in topology.services}
    for spec in topology.services:
        deployment = deployments[spec.name]
        assert deployment["spec"]["replicas"] == spec.replicas
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "registry.example/archbench:1"
        assert container["command"] == ["python", "-m", spec.module]
        expected = {"cpu": f"{round(spec.cpus * 1000)}m", "memory": f"{spec.memory_mb}Mi"}
        assert container["resources"] == {"requests": expected, "limits": expected}
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/health"
        assert spec.name in services


def test_microservices_get_one_postgres_statefulset_with_a_claim_per_database_server() -> None:
    resources = _render("microservices")
    stateful = _kind(resources, "StatefulSet")
    assert set(stateful) == {"users-db", "catalog-db", "orders-db"}
    for name, resource in stateful.items():
        assert resource["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        assert name in _kind(resources, "Service")
    env = {e["name"]: e for e in _kind(resources, "Deployment")["orders"]["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert env["DATABASE_URL"]["value"] == (
        "postgresql://archbench:$(DB_PASSWORD_ORDERS_DB)@orders-db:5432/orders")
    assert env["DB_PASSWORD_ORDERS_DB"]["valueFrom"]["secretKeyRef"]["key"] == "db-password-orders-db"
    assert env["CATALOG_URL"]["value"] == "http://catalog:8080"


def test_event_driven_gets_jetstream_and_monolith_does_not() -> None:
    nats = _kind(_render("event-driven"), "StatefulSet")["nats"]
    assert "-js" in nats["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "nats" not in _kind(_render("monolith"), "StatefulSet")


def test_secrets_are_generated_per_rendering_and_only_in_the_secret() -> None:
    first, second = _render("microservices"), _render("microservices")
    (secret,) = _kind(first, "Secret").values()
    values = secret["stringData"]
    assert set(values) == {"token-secret", "internal-secret", "admin-password", "db-password-users-db",
                           "db-password-catalog-db", "db-password-orders-db"}
    assert values != next(iter(_kind(second, "Secret").values()))["stringData"]
    rest = dump_yaml([r for r in first if r["kind"] != "Secret"])
    assert not any(value in rest for value in values.values())


def test_an_infra_kind_without_a_rendering_is_a_clear_error() -> None:
    topology = get_topology("event-driven")
    odd = dataclasses.replace(topology, infra=(*topology.infra, InfraSpec(kind="kafka")))
    with pytest.raises(BenchError, match=r"infrastructure kind\(s\) kafka \(known: postgres, nats\)"):
        render_manifests(odd, ManifestOptions(), generate_secrets(odd))


def test_podman_overlay_uses_host_ports_and_leaves_the_cluster_resources_alone() -> None:
    resources = _render("microservices")
    before = dump_yaml(resources)
    ports = {"users-db": 25001, "catalog-db": 25002, "orders-db": 25003, "users": 25010,
             "catalog": 25011, "orders": 25012, "gateway": 25013}
    podman = podman_overlay(resources, ports, images={"postgres:16": "localhost/postgres:16"})
    assert dump_yaml(resources) == before
    assert not _kind(podman, "Service") and not _kind(podman, "StatefulSet") and not _kind(podman, "Secret")
    assert set(_kind(podman, "PersistentVolumeClaim")) == {"users-db-data", "catalog-db-data", "orders-db-data"}
    deployments = _kind(podman, "Deployment")
    assert all(d["spec"]["template"]["spec"]["hostNetwork"] for d in deployments.values())
    orders = {e["name"]: e["value"] for e in deployments["orders"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert orders["PORT"] == "25012" and orders["HOST"] == "127.0.0.1"
    assert orders["CATALOG_URL"] == "http://127.0.0.1:25011"
    password = next(iter(_kind(resources, "Secret").values()))["stringData"]["db-password-orders-db"]
    assert orders["DATABASE_URL"] == f"postgresql://archbench:{password}@127.0.0.1:25003/orders"
    db = deployments["orders-db"]["spec"]["template"]["spec"]["containers"][0]
    assert db["image"] == "localhost/postgres:16" and db["args"][:2] == ["-p", "25003"]
    assert "25003" in db["readinessProbe"]["exec"]["command"]
