"""The targets image of the docker backend: its build context, its source hash, building it.

One image holds every target service (``python -m MODULE`` picks the service). It is
rebuilt only when its sources change: the image carries the label
``archbench.sources=<hash>``, a SHA-256 over the files of the build context, the
Dockerfile and the base image's id; a build is skipped when the existing image's
label matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BenchError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "docker/Dockerfile"
SOURCES_LABEL = "archbench.sources"
# What the services need: the package metadata, targets/ and the topology model the
# targets' topology modules import. Not the rest of the harness nor scenarios/ (the load
# generator runs on the host): editing those does not rebuild the image.
CONTEXT_FILES = (
    "pyproject.toml", "README.md", DOCKERFILE, "docker/target_requirements.py",
    "harness/__init__.py", "harness/py.typed", "harness/topology.py",
)  # fmt: skip
CONTEXT_DIRS = ("targets",)
SOURCE_DIR = "/src"  # where docker/Dockerfile puts the context: the project root in the image
# node_modules: the Express monolith's npm packages (~1,100 files) stay out of the context:
# docker/Dockerfile installs them with `npm ci` from package-lock.json in a layer of their
# own, so installing them on the host neither rebuilds the image nor ships host-built files.
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp")


def context_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """Relative paths of the files the build context holds, sorted."""
    found: list[Path] = []
    for name in CONTEXT_FILES:
        if (root / name).is_file():
            found.append(Path(name))
    for directory in CONTEXT_DIRS:
        for path in (root / directory).rglob("*"):
            relative = path.relative_to(root)
            if not path.is_file() or _SKIP_PARTS & set(relative.parts):
                continue
            if path.name.endswith(_SKIP_SUFFIXES):
                continue
            found.append(relative)
    return sorted(found)


def sources_hash(files: Iterable[Path], base_image_id: str, root: Path = PROJECT_ROOT) -> str:
    """Hex SHA-256 over each file's path and content plus the base image id."""
    digest = hashlib.sha256(base_image_id.encode())
    for relative in files:
        digest.update(b"\0" + str(relative).encode() + b"\0")
        digest.update((root / relative).read_bytes())
    return digest.hexdigest()


def context_tar(files: Iterable[Path], root: Path = PROJECT_ROOT) -> io.BytesIO:
    """An uncompressed tar of ``files`` (deterministic metadata), positioned at its start."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in files:
            data = (root / relative).read_bytes()
            info = tarfile.TarInfo(str(relative))
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@dataclass(frozen=True)
class ImageStatus:
    """Whether the targets image is current, and what building it needs."""

    tag: str
    wanted_hash: str  # "" when the base image is missing (cannot compute)
    current: bool  # the tag exists with the wanted hash
    base_present: bool


def image_status(client: Any, tag: str, base_image: str, root: Path = PROJECT_ROOT) -> ImageStatus:
    """Inspect the engine: is ``tag`` built from the current sources on ``base_image``?"""
    import docker.errors

    try:
        base_id = client.images.get(base_image).id
    except docker.errors.ImageNotFound:
        return ImageStatus(tag, "", current=False, base_present=False)
    wanted = sources_hash(context_files(root), base_id, root)
    try:
        labels = client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        labels = {}
    return ImageStatus(tag, wanted, current=labels.get(SOURCES_LABEL) == wanted, base_present=True)


def ensure_targets_image(
    client: Any,
    tag: str,
    base_image: str,
    timeout: float,
    progress: Callable[[str], None] | None = None,
    root: Path = PROJECT_ROOT,
) -> tuple[bool, float]:
    """Build ``tag`` unless it is current; returns (built, seconds spent building).

    The build runs with ``network_mode=host`` so pip inside reaches the package
    registry. A failure raises BenchError with the last lines of the build log.
    """
    import docker.errors

    status = image_status(client, tag, base_image, root)
    if status.current:
        return False, 0.0
    if not status.base_present:
        raise BenchError(
            f"docker: base image {base_image!r} is not present; `docker pull {base_image}` "
            "(or, without a registry, `bash .ci/docker-setup.sh` builds a stand-in), "
            "or set [docker] python_image in bench.toml"
        )
    if progress is not None:
        progress(f"docker: building {tag} from {base_image} (sources changed or image missing)")
    started = time.monotonic()
    try:
        previous = client.images.get(tag).id
    except docker.errors.ImageNotFound:
        previous = None
    image = _build(client, tag, base_image, status.wanted_hash, context_files(root), root, timeout)
    if previous is not None and previous != image.id:
        # the superseded image: its dependency layer is shared, its sources layer is not
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(previous)  # fails (and stays) while a container uses it
    return True, time.monotonic() - started


def _build(client: Any, tag: str, base_image: str, wanted_hash: str, files: list[Path], root: Path,
           timeout: float) -> Any:  # fmt: skip
    """``docker build`` of the targets image; BenchError with the build log's end on failure."""
    import docker.errors

    try:
        image, _ = client.images.build(
            fileobj=context_tar(files, root),
            custom_context=True,
            dockerfile=DOCKERFILE,
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            labels={SOURCES_LABEL: wanted_hash, "archbench.image": "targets"},
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            timeout=int(timeout),
        )
    except docker.errors.BuildError as error:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip()
                 for chunk in error.build_log]  # fmt: skip
        log = "\n".join(line for line in lines if line)[-3000:]
        raise BenchError(f"docker: building {tag} failed: {error.msg}\n{log}") from None
    except docker.errors.APIError as error:
        raise BenchError(f"docker: building {tag} failed: {error}") from None
    except OSError as error:  # e.g. requests' read timeout
        raise BenchError(
            f"docker: building {tag} did not finish: {error}; raise [docker] build_timeout"
        ) from None
    return image
