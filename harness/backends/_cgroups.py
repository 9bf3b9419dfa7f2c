"""CPU quota and memory limit per local process tree, with Linux cgroups (v1 or v2, as root).

The docker backend has its limits enforced by the engine; the local backend asks the
kernel the same way: one cgroup per instance (``cpu.cfs_quota_us`` / ``cpu.max`` from its
vCPUs, ``memory.limit_in_bytes`` / ``memory.max`` from its MiB), created below the
harness's own cgroup (so limits above ours still hold), joined by the child between fork
and exec (``ProcessSpec.cgroup_procs``) so every process it forks is inside from the
start. Each group's name carries the harness's owner token; groups of dead harnesses
are removed by the next run. ``detect`` says what this host allows.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.ownership import owner_alive, owner_token

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
PREFIX = "archbench-"
_NAME = re.compile(rf"{PREFIX}(\d+)-(\d+)-")


@dataclass(frozen=True)
class CgroupSupport:
    """What this host lets the local backend enforce: a parent directory per controller."""

    version: int  # 1 or 2; 0 when nothing can be enforced
    cpu: Path | None  # where cpu groups are made (v2: the one parent for both)
    memory: Path | None
    reason: str  # why something cannot be enforced ("" when both can)

    @property
    def enforces_cpu(self) -> bool:
        return self.cpu is not None

    @property
    def enforces_memory(self) -> bool:
        return self.memory is not None

    def describe(self) -> str:
        """One line for ``bench doctor``."""
        if not self.version:
            return f"no limits: {self.reason}"
        what = [w for w, ok in (("CPU quota", self.enforces_cpu), ("memory limit", self.enforces_memory)) if ok]
        text = f"cgroup v{self.version}: " + (" and ".join(what) or "nothing")
        return text + (f" ({self.reason})" if self.reason else "")


def _own_paths(text: str) -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup (v2 under key "")."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _writable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK)


def detect(root: Path = CGROUP_ROOT, self_cgroup: str | None = None) -> CgroupSupport:
    """Which limits can be enforced here (pure but for reading ``root``)."""
    if os.geteuid() != 0:
        return CgroupSupport(0, None, None, "not root: run bench as root to enforce CPU and memory limits")
    text = self_cgroup if self_cgroup is not None else Path("/proc/self/cgroup").read_text(encoding="utf-8")
    own = _own_paths(text)
    unified = root / "cgroup.controllers"
    if unified.exists() and "cpu" not in own:  # pure v2
        controllers = unified.read_text(encoding="utf-8").split()
        parent = root if _writable(root) else None
        missing = [c for c in ("cpu", "memory") if c not in controllers]
        if parent is None or missing:
            why = f"cgroup v2 lacks {', '.join(missing)}" if missing else f"{root} is not writable"
            return CgroupSupport(0, None, None, why)
        return CgroupSupport(2, parent, parent, "")
    found: dict[str, Path | None] = {}
    reasons = []
    for controller in ("cpu", "memory"):
        mount = root / controller
        base = mount / own.get(controller, "/").lstrip("/")
        found[controller] = base if _writable(base) else None
        if found[controller] is None:
            reasons.append(f"{base} is not writable")
    version = 1 if any(found.values()) else 0
    return CgroupSupport(version, found["cpu"], found["memory"], "; ".join(reasons))


@dataclass
class InstanceCgroups:
    """The cgroups of one instance: made with its limits, joined by its process, removed after."""

    support: CgroupSupport
    name: str  # archbench-<pid>-<start>-<deployment>-<instance>
    directories: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, support: CgroupSupport, deployment: str, instance: str, cpus: float,
               memory_mb: int) -> InstanceCgroups:
        """Make the groups with the quota of ``cpus`` vCPUs and a ``memory_mb`` MiB limit."""
        owner = owner_token().split("@", 1)[0].replace(":", "-")
        safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"{deployment}-{instance}")
        groups = cls(support, f"{PREFIX}{owner}-{safe}")
        quota = max(1000, int(cpus * PERIOD_US))
        limit = memory_mb * 2**20
        if support.version == 2 and support.cpu is not None:
            directory = groups._make(support.cpu)
            _enable_controllers(support.cpu)
            (directory / "cpu.max").write_text(f"{quota} {PERIOD_US}", encoding="utf-8")
            (directory / "memory.max").write_text(str(limit), encoding="utf-8")
            return groups
        if support.cpu is not None:
            directory = groups._make(support.cpu)
            (directory / "cpu.cfs_period_us").write_text(str(PERIOD_US), encoding="utf-8")
            (directory / "cpu.cfs_quota_us").write_text(str(quota), encoding="utf-8")
        if support.memory is not None:
            directory = groups._make(support.memory)
            (directory / "memory.limit_in_bytes").write_text(str(limit), encoding="utf-8")
        return groups

    def _make(self, parent: Path) -> Path:
        directory = parent / self.name
        directory.mkdir(exist_ok=True)
        self.directories.append(directory)
        return directory

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a child writes its pid to (before it drops privileges)."""
        return tuple(str(directory / "cgroup.procs") for directory in self.directories)

    def remove(self) -> None:
        """Remove the groups (their processes are gone by now; a busy group is left to the reaper)."""
        for directory in self.directories:
            with contextlib.suppress(OSError):
                directory.rmdir()
        self.directories = []


def _enable_controllers(parent: Path) -> None:
    control = parent / "cgroup.subtree_control"
    enabled = control.read_text(encoding="utf-8").split()
    wanted = [f"+{c}" for c in ("cpu", "memory") if c not in enabled]
    if wanted:
        control.write_text(" ".join(wanted), encoding="utf-8")


def reap_stale_cgroups(support: CgroupSupport) -> list[Path]:
    """Remove empty ``archbench-*`` groups whose owning harness is dead; the paths removed."""
    removed = []
    for parent in {p for p in (support.cpu, support.memory) if p is not None}:
        with contextlib.suppress(OSError):
            for directory in parent.iterdir():
                match = _NAME.match(directory.name)
                if match is None or owner_alive(f"{match.group(1)}:{match.group(2)}@{socket.gethostname()}"):
                    continue
                with contextlib.suppress(OSError):
                    directory.rmdir()
                    removed.append(directory)
    return removed
