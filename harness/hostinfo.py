"""System facts for results.json: the one module that asks the machine about itself."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any

import psutil


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def docker_socket_reachable(timeout_s: float = 1.0) -> bool:
    """False when ``DOCKER_HOST`` (default ``unix:///var/run/docker.sock``) is a unix socket that refuses us.

    Ask this before the Docker SDK: its unix transport (``docker/transport/unixconn.py``)
    never closes the socket it made when ``connect`` fails, so on a machine without an
    engine every SDK call leaks one (a ResourceWarning; an error under pytest's
    warnings-as-errors). Our probe socket is always closed. Other hosts (tcp, ssh) are not
    judged here: True.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return True
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError:
            return False
    return True


def docker_version(timeout_s: float = 3.0) -> str | None:
    """The Docker engine's server version if an engine answers, else None."""
    if not docker_socket_reachable(timeout_s):
        return None
    try:
        import docker

        client = docker.from_env(timeout=int(timeout_s))  # type: ignore[attr-defined]
        try:
            return str(client.version().get("Version"))
        finally:
            client.close()
    except Exception:  # noqa: BLE001,S110 - no engine, no SDK, no socket: all mean "none"
        pass
    try:
        done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def collect_host() -> dict[str, Any]:
    """cpu_model, cores (logical), cores_physical, usable cpus, memory_bytes, os, python, docker."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {
        "cpu_model": cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "usable_cpus": affinity,
        "memory_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "docker": docker_version(),
    }
