"""The three targets' manifests run for real with ``podman kube play`` (host networking).

The manifests are the ones ``bench manifests`` writes, through the one podman overlay
(``harness.manifests.podman_overlay``: no Services, so host networking and a port per
Service name). Images: the docker stand-ins (``.ci/docker-setup.sh``), exported into
podman's store when it lacks them. Each target must come up, pass ``bench verify --url``,
and leave no pod, container or volume behind after ``podman kube down`` (podman 4 keeps
the claims' volumes, so they are removed by name). Skips only when podman is absent and
BENCH_REQUIRE_PODMAN is unset.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import BENCH

from harness.manifests import (
    ManifestOptions,
    dump_yaml,
    entry_service,
    generate_secrets,
    podman_containers_conf,
    podman_overlay,
    render_manifests,
)
from harness.registry import get_topology

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(900)]
OPTIONS = ManifestOptions()
IMAGES = {OPTIONS.image: f"localhost/{OPTIONS.image}", OPTIONS.postgres_image: f"localhost/{OPTIONS.postgres_image}",
          OPTIONS.nats_image: f"localhost/{OPTIONS.nats_image}"}


def _image_id(tool: str, image: str) -> str:
    found = subprocess.run([tool, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True)
    return found.stdout.strip().removeprefix("sha256:") if found.returncode == 0 else ""


def _sync_images() -> list[str]:
    """Bring podman's copies of the images up to date with docker's; the ones still missing.

    The targets image is first rebuilt in docker when the sources changed (as the docker
    backend does), so podman never runs stale code; podman keeps docker's image ids.
    """
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        import docker
        from harness.backends._docker_image import ensure_targets_image
        from harness.config import load_config

        config = load_config(check_cpus=False).docker
        client = docker.from_env()
        try:
            ensure_targets_image(client, OPTIONS.image, config.python_image, timeout=900)
        finally:
            client.close()  # its socket, else a ResourceWarning (an error under pytest here)
        stale = [name for name, local in IMAGES.items()
                 if _image_id("docker", name) and _image_id("docker", name) != _image_id("podman", local)]
        if stale:
            with subprocess.Popen(["docker", "save", *stale], stdout=subprocess.PIPE) as save:  # closes the pipe
                loaded = subprocess.run(["podman", "load"], stdin=save.stdout, capture_output=True, timeout=900)
                save.wait(timeout=60)
            assert save.returncode == 0 and loaded.returncode == 0, loaded.stderr[-2000:]
    return [image for image in IMAGES.values() if not _image_id("podman", image)]


def _require_podman() -> None:
    why = ""
    if not shutil.which("podman"):
        why = "podman is not installed (apt-get install podman catatonit)"
    else:
        missing = _sync_images()
        if missing:
            why = f"podman lacks the images {', '.join(missing)} and docker could not provide them"
    if why:
        if os.environ.get("BENCH_REQUIRE_PODMAN"):
            pytest.fail(f"BENCH_REQUIRE_PODMAN is set: {why}")
        pytest.skip(why)


def _free_block(size: int) -> int:
    """A port with ``size`` free ports from it on 127.0.0.1 (checked by binding each)."""
    for base in range(27000, 60000, 97):
        sockets = []
        try:
            for port in range(base, base + size):
                probe = socket.socket()
                sockets.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise AssertionError("no free block of ports")


def _podman(*args: str, conf: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CONTAINERS_CONF": str(conf)})
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def _healthy(url: str, deadline: float) -> bool:
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


@pytest.mark.parametrize("target", ["monolith", "microservices", "event-driven"])
def test_target_runs_under_podman_kube_play(target: str, tmp_path: Path) -> None:
    _require_podman()
    topology = get_topology(target)
    secrets = generate_secrets(topology)
    resources = render_manifests(topology, OPTIONS, secrets)
    names = [r["metadata"]["name"] for r in resources if r["kind"] == "Service"]
    base = _free_block(10 * len(names))
    ports = {name: base + 10 * index for index, name in enumerate(names)}
    podman = podman_overlay(resources, ports, images=IMAGES)
    manifest = tmp_path / "podman.yaml"
    manifest.write_text(dump_yaml(podman), encoding="utf-8")
    conf = tmp_path / "containers.conf"
    conf.write_text(podman_containers_conf(), encoding="utf-8")
    volumes = [r["metadata"]["name"] for r in podman if r["kind"] == "PersistentVolumeClaim"]
    pods = [f"{r['metadata']['name']}-pod-0" for r in podman if r["kind"] == "Deployment"]
    for volume in volumes:  # left by a run that died: kube play refuses an existing claim
        _podman("volume", "rm", "-f", volume, conf=conf, check=False)
    url = f"http://127.0.0.1:{ports[entry_service(topology)]}"
    started = time.time()
    try:
        _podman("kube", "play", str(manifest), conf=conf)
        assert _healthy(url, time.time() + 180), _podman("logs", "--tail", "30", f"{pods[-1]}-{pods[-1][:-6]}",
                                                         conf=conf, check=False).stderr
        up_s = time.time() - started
        verify = subprocess.run(
            [*BENCH, "verify", "--url", url, "--admin-password", secrets.admin_password,
             "--token-secret", secrets.token_secret], capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
        assert "checks passed (ok)" in verify.stdout
        print(json.dumps({"target": target, "podman_up_s": round(up_s, 2)}))
    finally:
        _podman("kube", "down", str(manifest), conf=conf, check=False)
        for volume in volumes:
            _podman("volume", "rm", "-f", volume, conf=conf, check=False)
    left = _podman("ps", "-a", "--format", "{{.Names}}", conf=conf).stdout.split()
    assert not [name for name in left if any(name.startswith(pod) for pod in pods)], left
    assert not set(volumes) & set(_podman("volume", "ls", "--format", "{{.Name}}", conf=conf).stdout.split())
    assert not set(pods) & set(_podman("pod", "ls", "--format", "{{.Name}}", conf=conf).stdout.split())
