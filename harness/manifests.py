"""Kubernetes manifests from a target's topology (pure: dicts in, YAML text out; no cluster).

``render_manifests(topology, options, secrets)`` returns the resources for one target as
plain dicts, in apply order: one Secret (token, internal and admin secrets, one password
per PostgreSQL server: generated at render time by ``generate_secrets``, never
committed), then per PostgreSQL server a StatefulSet with a volume claim and a Service,
NATS (JetStream, with a volume claim) where the target needs it, then one Deployment per
service (replicas, resource requests = limits from the topology, readiness and liveness
probes on the health path) with its Service. ``dump_yaml`` formats them (PyYAML,
``safe_dump_all``) and ``manifest_files`` splits them into files for ``bench manifests``.

Plain manifests rather than a Helm chart: they are generated from the topology anyway
(the chart's templating would be a second source of truth), ``kubectl apply -f DIR`` needs
nothing installed, and ``podman kube play`` and ``kubernetes-validate`` read them as they
are. Values that differ per cluster are render options (``--image``, the namespace).

Wiring inside the cluster uses Service DNS names (``http://catalog:8080``,
``postgresql://archbench:$(DB_PASSWORD_USERS_DB)@users-db:5432/users``; passwords reach
URLs through ``$(VAR)`` expansion of env vars taken from the Secret). What differs under
``podman kube play`` (no Services: host networking and distinct ports) is the one overlay
``podman_overlay`` applies to these resources; the files users take to a cluster never
contain it.
"""

from __future__ import annotations

import json
import re
import secrets as _secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from harness.errors import BenchError
from harness.topology import InfraSpec, ServiceSpec, Topology

Resource = dict[str, Any]
SERVICE_PORT = 8080  # every service listens here inside its pod
POSTGRES_PORT, NATS_PORT, NATS_MONITOR_PORT = 5432, 4222, 8222
DB_USER = "archbench"
KNOWN_INFRA = ("postgres", "nats")


@dataclass(frozen=True)
class ManifestOptions:
    """What a cluster may need changed: images, storage, the admin's name."""

    image: str = "archbench/targets:latest"  # the targets image (docker/Dockerfile), pushed to a registry
    postgres_image: str = "postgres:16"
    nats_image: str = "nats:2.10"
    storage: str = "1Gi"  # each volume claim
    admin_username: str = "admin"


@dataclass(frozen=True)
class ManifestSecrets:
    """The generated secrets of one rendering (values never written anywhere but the Secret)."""

    token_secret: str
    internal_secret: str
    admin_password: str
    db_passwords: Mapping[str, str]  # PostgreSQL server name -> password


def generate_secrets(topology: Topology) -> ManifestSecrets:
    """Fresh random secrets for ``topology`` (URL-safe, so they can sit inside database URLs)."""
    return ManifestSecrets(
        token_secret=_secrets.token_urlsafe(32), internal_secret=_secrets.token_urlsafe(32),
        admin_password=_secrets.token_urlsafe(18),
        db_passwords={spec.name: _secrets.token_urlsafe(18) for spec in topology.infra
                      if spec.kind == "postgres"},
    )


def _dns(name: str) -> str:
    """``name`` as a DNS-1123 label (Kubernetes object names)."""
    label = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    return label[:63] or "x"


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _labels(topology: Topology, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": _dns(component), "app.kubernetes.io/part-of": "archbench",
            "archbench/target": _dns(topology.target)}


def _secret_name(topology: Topology) -> str:
    return f"{_dns(topology.target)}-secrets"


def _resources(cpus: float, memory_mb: int) -> dict[str, dict[str, str]]:
    """Requests = limits (a guaranteed pod: the topology's budget is what it gets)."""
    amount = {"cpu": f"{round(cpus * 1000)}m", "memory": f"{memory_mb}Mi"}
    return {"requests": dict(amount), "limits": dict(amount)}


def _secret_env(topology: Topology, variable: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": _secret_name(topology), "key": key}}}


def _service(topology: Topology, name: str, ports: Sequence[tuple[str, int]]) -> Resource:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": _dns(name), "labels": _labels(topology, name)},
            "spec": {"selector": _labels(topology, name),
                     "ports": [{"name": port_name, "port": port, "targetPort": port}
                               for port_name, port in ports]}}


def _claim(storage: str) -> dict[str, Any]:
    return {"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


def _stateful_set(topology: Topology, name: str, container: dict[str, Any], storage: str) -> Resource:
    labels = _labels(topology, name)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": _dns(name), "labels": labels},
            "spec": {"serviceName": _dns(name), "replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                     "volumeClaimTemplates": [_claim(storage)]}}


def _postgres(topology: Topology, spec: InfraSpec, options: ManifestOptions) -> list[Resource]:
    databases = spec.databases or (DB_USER,)
    env = [{"name": "POSTGRES_USER", "value": DB_USER},
           _secret_env(topology, "POSTGRES_PASSWORD", f"db-password-{_dns(spec.name)}"),
           {"name": "POSTGRES_DB", "value": databases[0]},
           {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}]
    if len(databases) > 1:  # the stand-in image's extension; an upstream image needs an init script
        env.append({"name": "POSTGRES_MULTIPLE_DATABASES", "value": ",".join(databases[1:])})
    ready = {"exec": {"command": ["pg_isready", "-U", DB_USER, "-h", "127.0.0.1", "-p", str(POSTGRES_PORT)]},
             "periodSeconds": 5, "failureThreshold": 30}
    container = {"name": "postgres", "image": options.postgres_image,
                 "args": ["-p", str(POSTGRES_PORT), "-c", "max_connections=300"],
                 "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}], "env": env,
                 "resources": _resources(spec.cpus, spec.memory_mb),
                 "readinessProbe": ready, "livenessProbe": {**ready, "initialDelaySeconds": 30},
                 "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}
    return [_stateful_set(topology, spec.name, container, options.storage),
            _service(topology, spec.name, [("postgres", POSTGRES_PORT)])]


def _nats(topology: Topology, spec: InfraSpec, options: ManifestOptions) -> list[Resource]:
    health = {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": NATS_MONITOR_PORT},
              "periodSeconds": 5, "failureThreshold": 30}
    container = {"name": "nats", "image": options.nats_image,
                 "args": ["-js", "-p", str(NATS_PORT), "-m", str(NATS_MONITOR_PORT), "-sd", "/data"],
                 "ports": [{"name": "client", "containerPort": NATS_PORT},
                           {"name": "monitor", "containerPort": NATS_MONITOR_PORT}],
                 "resources": _resources(spec.cpus, spec.memory_mb),
                 "readinessProbe": health, "livenessProbe": {**health, "initialDelaySeconds": 10},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    return [_stateful_set(topology, spec.name, container, options.storage),
            _service(topology, spec.name, [("client", NATS_PORT), ("monitor", NATS_MONITOR_PORT)])]


INFRA_RENDERERS = {"postgres": _postgres, "nats": _nats}


def _server_of(topology: Topology, database: str) -> InfraSpec:
    for spec in topology.infra:
        if spec.kind == "postgres" and database in spec.databases:
            return spec
    raise BenchError(f"{topology.target}: no postgres server declares database {database!r}")


def _wired_env(topology: Topology, spec: ServiceSpec) -> list[dict[str, Any]]:
    """The service's wiring as env vars with cluster DNS names; passwords via ``$(VAR)``."""
    env: list[dict[str, Any]] = []
    for variable, reference in spec.wiring.items():
        kind, _, name = reference.partition(":")
        if kind == "postgres":
            server = _server_of(topology, name)
            secret_var = f"DB_PASSWORD_{_env_name(server.name)}"
            if not any(item["name"] == secret_var for item in env):
                env.append(_secret_env(topology, secret_var, f"db-password-{_dns(server.name)}"))
            value = f"postgresql://{DB_USER}:$({secret_var})@{_dns(server.name)}:{POSTGRES_PORT}/{name}"
        elif kind == "nats":
            nats = next((s for s in topology.infra if s.kind == "nats"), None)
            if nats is None:
                raise BenchError(f"{topology.target}: service {spec.name!r} is wired to nats but none is declared")
            value = f"nats://{_dns(nats.name)}:{NATS_PORT}"
        elif kind == "service":
            value = f"http://{_dns(name)}:{SERVICE_PORT}"
        else:
            raise BenchError(f"{topology.target}: service {spec.name!r} wiring {variable}={reference!r}: "
                             f"no Kubernetes rendering for {kind!r} (known: postgres, nats, service)")
        env.append({"name": variable, "value": value})
    return env


def _deployment(topology: Topology, spec: ServiceSpec, options: ManifestOptions) -> Resource:
    labels = _labels(topology, spec.name)
    env = [{"name": "HOST", "value": "0.0.0.0"}, {"name": "PORT", "value": str(SERVICE_PORT)},
           {"name": "WORKERS", "value": str(spec.workers)}, {"name": "SERVICE_NAME", "value": spec.name},
           {"name": "ADMIN_USERNAME", "value": options.admin_username},
           _secret_env(topology, "TOKEN_SECRET", "token-secret"),
           _secret_env(topology, "INTERNAL_SECRET", "internal-secret"),
           _secret_env(topology, "ADMIN_PASSWORD", "admin-password"),
           *({"name": key, "value": value} for key, value in spec.env.items()),
           *_wired_env(topology, spec)]
    probe = {"httpGet": {"path": spec.health_path, "port": SERVICE_PORT}, "periodSeconds": 5}
    container = {"name": _dns(spec.name), "image": options.image, "command": spec.argv("python"),
                 "ports": [{"name": "http", "containerPort": SERVICE_PORT}], "env": env,
                 "resources": _resources(spec.cpus, spec.memory_mb),
                 "readinessProbe": {**probe, "failureThreshold": 3},
                 "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": _dns(spec.name), "labels": labels},
            "spec": {"replicas": spec.replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def render_manifests(topology: Topology, options: ManifestOptions, secrets: ManifestSecrets) -> list[Resource]:
    """Every resource of ``topology`` in apply order (pure). BenchError for an infra kind
    without a rendering, naming it and the kinds that have one."""
    unknown = sorted({spec.kind for spec in topology.infra} - set(INFRA_RENDERERS))
    if unknown:
        raise BenchError(f"{topology.target}: no Kubernetes manifests for infrastructure kind(s) "
                         f"{', '.join(unknown)} (known: {', '.join(KNOWN_INFRA)})")
    secret_data = {"token-secret": secrets.token_secret, "internal-secret": secrets.internal_secret,
                   "admin-password": secrets.admin_password,
                   **{f"db-password-{_dns(name)}": value for name, value in secrets.db_passwords.items()}}
    resources: list[Resource] = [{
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": _secret_name(topology), "labels": _labels(topology, "secrets")},
        "stringData": secret_data}]
    for spec in topology.infra:
        resources += INFRA_RENDERERS[spec.kind](topology, spec, options)
    for service in topology.start_order():
        resources += [_deployment(topology, service, options),
                      _service(topology, service.name, [("http", SERVICE_PORT)])]
    return resources


def manifest_files(topology: Topology, resources: Sequence[Resource]) -> dict[str, str]:
    """File name -> YAML text: ``00-secrets.yaml`` (git-ignore it), ``10-infra.yaml``, ``20-services.yaml``."""
    infra_names = {_dns(spec.name) for spec in topology.infra}
    groups: dict[str, list[Resource]] = {"00-secrets.yaml": [], "10-infra.yaml": [], "20-services.yaml": []}
    for resource in resources:
        if resource["kind"] == "Secret":
            groups["00-secrets.yaml"].append(resource)
        elif resource["metadata"]["name"] in infra_names:
            groups["10-infra.yaml"].append(resource)
        else:
            groups["20-services.yaml"].append(resource)
    return {name: dump_yaml(docs) for name, docs in groups.items() if docs}


def dump_yaml(resources: Sequence[Resource]) -> str:
    """``resources`` as one multi-document YAML text (keys in the order written)."""
    return yaml.dump_all(list(resources), Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


class _PlainDumper(yaml.SafeDumper):
    """Safe YAML without anchors and aliases (shared sub-dicts are written out in full)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def entry_service(topology: Topology) -> str:
    """The Service name to port-forward for load (the topology's entry service)."""
    return _dns(topology.entry)


# -- podman kube play: the one overlay -------------------------------------------------------------


def podman_overlay(resources: Sequence[Resource], ports: Mapping[str, int],
                   images: Mapping[str, str] | None = None) -> list[Resource]:
    """The cluster ``resources`` rewritten for ``podman kube play`` on host networking (pure).

    Podman runs no Services (no cluster DNS) and 4.x no StatefulSets, so: Services are
    dropped; each StatefulSet becomes a Deployment with a PersistentVolumeClaim of its own;
    every pod uses the host network (declared container ports are dropped: podman would map
    them), and each Service name gets a host port from ``ports`` (name -> port on
    127.0.0.1): its containers listen there, and every ``NAME:PORT`` in an
    env value or argument becomes ``127.0.0.1:HOSTPORT``. The Secret's values are put into
    the env vars that reference them (and ``$(VAR)`` expanded), as podman 4 resolves
    ``secretKeyRef`` only from its own secret store. ``images`` replaces image references
    (e.g. stand-ins podman has locally).
    """
    secret_values = {key: value for r in resources if r["kind"] == "Secret"
                     for key, value in r["stringData"].items()}
    originals = {r["metadata"]["name"]: [p["port"] for p in r["spec"]["ports"]]
                 for r in resources if r["kind"] == "Service"}
    moves: dict[str, str] = {}
    for name, container_ports in originals.items():
        if name not in ports:
            raise BenchError(f"podman overlay: no host port for service {name!r}")
        for index, port in enumerate(container_ports):
            moves[f"{name}:{port}"] = f"127.0.0.1:{ports[name] + index}"
    result: list[Resource] = []
    for original in resources:
        if original["kind"] in ("Service", "Secret"):
            continue
        resource = json.loads(json.dumps(original))  # a copy that shares no sub-dict (unlike deepcopy)
        if resource["kind"] == "StatefulSet":
            result.append(_claim_resource(resource))
            resource = _as_deployment(resource)
        if resource["kind"] == "Deployment":
            _host_network(resource, ports[resource["metadata"]["name"]], moves, images or {})
            _inline_secrets(resource, secret_values)
        result.append(resource)
    return result


def _claim_resource(stateful: Resource) -> Resource:
    template = stateful["spec"]["volumeClaimTemplates"][0]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{stateful['metadata']['name']}-{template['metadata']['name']}"},
            "spec": template["spec"]}


def _as_deployment(stateful: Resource) -> Resource:
    spec = stateful["spec"]
    template = spec["template"]
    claim = spec["volumeClaimTemplates"][0]["metadata"]["name"]
    template["spec"]["volumes"] = [{"name": claim, "persistentVolumeClaim": {
        "claimName": f"{stateful['metadata']['name']}-{claim}"}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": stateful["metadata"],
            "spec": {"replicas": 1, "selector": spec["selector"], "template": template}}


def _host_network(deployment: Resource, host_port: int, moves: Mapping[str, str],
                  images: Mapping[str, str]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    own = {port: host_port + index for index, port in enumerate(
        p["containerPort"] for c in pod["containers"] for p in c.get("ports", []))}

    def move(text: str) -> str:
        for old, new in moves.items():
            text = text.replace(f"//{old}", f"//{new}").replace(f"@{old}", f"@{new}")
        return text

    for container in pod["containers"]:
        container["image"] = images.get(container["image"], container["image"])
        for item in container.get("env", []):
            if "value" in item:
                item["value"] = move(item["value"])
                if item["name"] == "PORT":
                    item["value"] = str(own[int(item["value"])])
                elif item["name"] == "HOST":
                    item["value"] = "127.0.0.1"
        if "args" in container:
            container["args"] = [str(own.get(int(a), a)) if a.isdigit() else a for a in container["args"]]
            if container["name"] == "postgres":
                container["args"] += ["-c", "listen_addresses=127.0.0.1"]
            if container["name"] == "nats":
                container["args"] += ["-a", "127.0.0.1"]
        container.pop("ports", None)  # podman maps declared ports, which host networking refuses
        for probe_key in ("readinessProbe", "livenessProbe"):
            probe = container.get(probe_key, {})
            if "httpGet" in probe:
                probe["httpGet"]["port"] = own[probe["httpGet"]["port"]]
            if "exec" in probe:
                probe["exec"]["command"] = [str(own.get(int(a), a)) if a.isdigit() else a
                                            for a in probe["exec"]["command"]]


def _inline_secrets(deployment: Resource, values: Mapping[str, str]) -> None:
    """Env vars from ``secretKeyRef`` get their value; ``$(VAR)`` references are expanded."""
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        known: dict[str, str] = {}
        for item in container.get("env", []):
            reference = item.get("valueFrom", {}).get("secretKeyRef")
            if reference is not None:
                item.pop("valueFrom")
                item["value"] = values[reference["key"]]
            item["value"] = _expand(item["value"], known)
            known[item["name"]] = item["value"]


def _expand(text: str, known: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of ``text`` against the env vars defined before it."""
    return re.sub(r"\$\((\w+)\)", lambda match: known.get(match.group(1), match.group(0)), text)


def podman_containers_conf(nofile: int = 4096, nproc: int = 4096) -> str:
    """A ``containers.conf`` (pass it as ``CONTAINERS_CONF``) with ulimits podman may set.

    Podman's defaults (nofile and nproc of about a million) fail in a container without
    CAP_SYS_RESOURCE ("error setting rlimit ... operation not permitted"); limits at or
    below the caller's own always work.
    """
    return f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
