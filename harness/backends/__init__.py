"""Backends: how a topology's services start. An explicit registry, no discovery.

``BACKENDS`` maps a name to a ``LifecycleBackend`` subclass; each has a ``name``
attribute, an ``available()`` check, ``from_config(config)`` and the one ``up``
of ``lifecycle``.
"""

from __future__ import annotations

from pathlib import Path

from harness.backends.base import Backend, DeploySettings
from harness.backends.docker import DockerBackend
from harness.backends.lifecycle import LifecycleBackend
from harness.backends.local import LocalBackend
from harness.config import BACKENDS as BACKEND_CHOICES
from harness.config import Config
from harness.errors import BenchError, ConfigError
from harness.registry import get_topology

BACKENDS: dict[str, type[LifecycleBackend]] = {"local": LocalBackend, "docker": DockerBackend}


def get_backend(
    name: str, config: Config | None = None, registry: dict[str, type] | None = None
) -> Backend:
    """An instance of backend ``name`` (built from ``config`` when given)."""
    registry = BACKENDS if registry is None else registry
    try:
        cls = registry[name]
    except KeyError:
        choices = ", ".join(registry)
        raise ConfigError(f"unknown backend {name!r}; valid backends: {choices}") from None
    if config is not None and issubclass(cls, LifecycleBackend):
        return cls.from_config(config)
    backend: Backend = cls()
    return backend


def choose_backend(
    requested: str, config: Config | None = None, registry: dict[str, type] | None = None
) -> tuple[Backend, str]:
    """The backend to use and why: ``auto`` prefers docker when it answers, else local.

    An explicitly requested backend that cannot run here is a BenchError naming the reason.
    ``registry`` defaults to ``BACKENDS``.
    """
    registry = BACKENDS if registry is None else registry
    if requested not in BACKEND_CHOICES:
        choices = ", ".join(BACKEND_CHOICES)
        raise ConfigError(f"unknown backend {requested!r}; valid backends: {choices}")
    if requested == "auto":
        docker_reason = "no docker backend"
        if "docker" in registry:
            docker = get_backend("docker", config, registry)
            ok, docker_reason = docker.available()
            if ok:
                return docker, f"auto: docker ({docker_reason})"
        local = get_backend("local", config, registry)
        ok, local_reason = local.available()
        if not ok:
            raise BenchError(
                f"no backend can run here: docker: {docker_reason}; local: {local_reason}"
            )
        return local, f"auto: local (docker unavailable: {docker_reason})"
    backend = get_backend(requested, config, registry)
    ok, reason = backend.available()
    if not ok:
        raise BenchError(f"backend {requested!r} cannot run here: {reason}")
    return backend, f"{requested} (requested): {reason}"


def deploy_settings(config: Config, target: str, run_id: str, workdir: Path) -> DeploySettings:
    """DeploySettings for ``target`` from the validated config (CPU set, timeouts, overrides)."""
    topology = get_topology(target)
    target_config = config.target(target)
    known = [spec.name for spec in topology.services] + [spec.name for spec in topology.infra]
    for name in target_config.services:
        if name not in known:
            raise ConfigError(
                f"[targets.{target}.services.{name}]: unknown service {name!r} of {target}; "
                f"valid services: {', '.join(known)}"
            )
    overrides: dict[str, dict[str, float | int | None]] = {
        name: {"cpus": o.cpus, "memory_mb": o.memory, "workers": o.workers,
               **({"replicas": o.replicas} if o.replicas is not None else {})}
        for name, o in target_config.services.items()
    }
    return DeploySettings(
        run_id=run_id,
        workdir=workdir,
        target_cpus=config.cpu.target_cpus,
        health_timeout=config.run.health_timeout,
        workers=target_config.workers,
        overrides=overrides,
        restart_delay=config.run.restart_delay if config.run.restart == "on-failure" else None,
        limits=config.cpu.limits,
    )


__all__ = ["BACKENDS", "Backend", "LocalBackend", "choose_backend", "deploy_settings", "get_backend"]
